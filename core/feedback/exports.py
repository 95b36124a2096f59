"""Ratings turned into training data: SFT conversations, preference pairs (TRL's conversational form) and a CSV.

- SFT (`messages`): an annotator's correction (text question) as the ideal answer; otherwise outputs whose
  consensus Likert score reaches `min_score`, or that most annotators gave a thumbs up, or that won a pairwise vote.
- Preferences (`prompt`, `chosen`, `rejected`): pairwise items with a winner (the reviewer's answer, else the
  majority; ties give nothing), and pairs of outputs for the same prompt whose consensus Likert scores differ by
  at least `margin`.
- CSV: one row per rating, cells a spreadsheet would run as formulas neutralised.

Each export is also saved as a dataset version (transformation `feedback`) whose parameters name the project, its
source and its annotators, with the source's dataset version as parent when there is one.
"""
from __future__ import annotations

import io
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import InvalidInput
from core.exports import neutralise_cell
from core.feedback import results
from core.feedback.schema import SIDES, TIE
from core.files import write_atomically
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store

FORMATS = ("sft", "dpo", "csv")
DEFAULT_MIN_SCORE = 4.0
DEFAULT_MARGIN = 1.0


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _likert_mean(consensus: dict, item_id: int, names: list[str]) -> float | None:
    values = [consensus[(item_id, n)] for n in names if isinstance(consensus.get((item_id, n)), (int, float))]
    return sum(values) / len(values) if values else None


def sft_records(data: results.Loaded, *, min_score: float = DEFAULT_MIN_SCORE) -> list[dict[str, Any]]:
    consensus = results.consensus(data)
    questions = data.project.questions
    likert = [q.name for q in questions if q.kind == "likert"]
    thumbs = [q.name for q in questions if q.kind == "thumbs"]
    pairwise = [q.name for q in questions if q.kind == "pairwise"]
    texts = {q.name for q in questions if q.kind == "text"}
    corrections: dict[int, str] = {}
    for r in data.ratings:  # oldest first: the latest correction of an item wins
        if r.question in texts and isinstance(r.value, str) and r.value.strip():
            corrections[r.item_id] = r.value
    records = []
    for item_id, item in sorted(data.items.items(), key=lambda kv: kv[1].position):
        prompt = list(item.prompt)
        if item_id in corrections:
            records.append({"messages": prompt + _assistant(corrections[item_id]), "item": item_id,
                            "origin": "correction", "score": None})
            continue
        if len(item.responses) == 1:
            score = _likert_mean(consensus, item_id, likert)
            up = [consensus.get((item_id, n)) for n in thumbs if consensus.get((item_id, n)) is not None]
            good = (score is not None and score >= min_score) or (score is None and up and min(up) > 0.5)
            if good:
                records.append({"messages": prompt + _assistant(str(item.responses[0].get("text") or "")),
                                "item": item_id, "origin": "rated", "score": score})
            continue
        for name in pairwise:
            winner = consensus.get((item_id, name))
            if winner in ("A", "B"):
                chosen = item.responses[SIDES.index(winner)]
                records.append({"messages": prompt + _assistant(str(chosen.get("text") or "")), "item": item_id,
                                "origin": "preferred", "score": None})
                break
    return records


def preference_records(data: results.Loaded, *, margin: float = DEFAULT_MARGIN) -> list[dict[str, Any]]:
    consensus = results.consensus(data)
    questions = data.project.questions
    likert = [q.name for q in questions if q.kind == "likert"]
    records = []
    ordered = sorted(data.items.items(), key=lambda kv: kv[1].position)
    for item_id, item in ordered:
        for q in questions:
            if q.kind == "pairwise":
                winner = consensus.get((item_id, q.name))
                if winner in ("A", "B"):
                    chosen = item.responses[SIDES.index(winner)]
                    rejected = item.responses[1 - SIDES.index(winner)]
                    records.append(_pair(item.prompt, chosen, rejected, item_id, "pairwise", None))
            elif q.kind == "ranking":
                ranked = consensus.get((item_id, q.name))
                if isinstance(ranked, (list, tuple)) and len(ranked) >= 2:
                    best, worst = item.responses[SIDES.index(ranked[0])], item.responses[SIDES.index(ranked[-1])]
                    records.append(_pair(item.prompt, best, worst, item_id, "ranking", None))
    if likert:
        groups: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
        for item_id, item in ordered:
            score = _likert_mean(consensus, item_id, likert)
            if item.group_key and len(item.responses) == 1 and score is not None:
                groups[(item.group_key, json.dumps(item.prompt, sort_keys=True))].append((item_id, score))
        for members in groups.values():
            for (a, sa), (b, sb) in itertools.combinations(members, 2):
                if abs(sa - sb) >= margin and abs(sa - sb) > 0:
                    (hi, shi), (lo, slo) = ((a, sa), (b, sb)) if sa > sb else ((b, sb), (a, sa))
                    records.append(_pair(data.items[hi].prompt, data.items[hi].responses[0],
                                         data.items[lo].responses[0], hi, "likert", shi - slo))
    return records


def _pair(prompt, chosen, rejected, item_id, origin, margin) -> dict[str, Any]:
    return {"prompt": list(prompt), "chosen": _assistant(str(chosen.get("text") or "")),
            "rejected": _assistant(str(rejected.get("text") or "")), "item": item_id, "origin": origin,
            "margin": margin}


def csv_frame(data: results.Loaded) -> pd.DataFrame:
    """One row per rating with the item's texts and who made each response, formulas neutralised."""
    rows = []
    for r in data.ratings:
        item = data.items[r.item_id]
        value = r.value if not isinstance(r.value, (list, dict)) else json.dumps(r.value, ensure_ascii=False)
        row = {"project": data.project.name, "item": r.item_id, "position": item.position, "annotator": r.annotator,
               "question": r.question, "value": value if value != TIE else "tie",
               "prompt": "\n\n".join(f"{m.get('role')}: {m.get('content')}" for m in item.prompt),
               "updated_at": r.updated_at.isoformat(timespec="seconds")}
        for n, response in enumerate(item.responses):
            side = SIDES[n]
            row[f"response_{side}"] = response.get("text")
            row[f"model_{side}"] = results.response_label(response)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.map(neutralise_cell) if len(frame) else frame


@dataclass(frozen=True)
class ExportResult:
    format: str
    rows: int
    path: str | None
    dataset_version: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "rows": self.rows, "path": self.path, "dataset_version": self.dataset_version}


def export_frame(data: results.Loaded, fmt: str, *, min_score: float = DEFAULT_MIN_SCORE,
                 margin: float = DEFAULT_MARGIN) -> pd.DataFrame:
    if fmt == "sft":
        return pd.DataFrame(sft_records(data, min_score=min_score), columns=["messages", "item", "origin", "score"])
    if fmt == "dpo":
        return pd.DataFrame(preference_records(data, margin=margin),
                            columns=["prompt", "chosen", "rejected", "item", "origin", "margin"])
    if fmt == "csv":
        return csv_frame(data)
    raise InvalidInput(f"'{fmt}' is not an export format; choose one of {', '.join(FORMATS)}.")


def to_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return frame.to_csv(index=False).encode("utf-8")
    out = io.StringIO()
    for record in frame.to_dict(orient="records"):
        out.write(json.dumps({k: _plain(v) for k, v in record.items()}, ensure_ascii=False) + "\n")
    return out.getvalue().encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    return value


def export(store: Store, *, actor: Actor, project: str | int, fmt: str, out: str | Path | None = None,
           dataset: str | None = None, min_score: float = DEFAULT_MIN_SCORE,
           margin: float = DEFAULT_MARGIN) -> ExportResult:
    """Builds the export, saves it as a dataset version (lineage back to the project) and writes `out` if given."""
    require(actor, Permission.MANAGE_FEEDBACK)
    require(actor, Permission.MANAGE_DATA)
    if fmt not in FORMATS:
        raise InvalidInput(f"'{fmt}' is not an export format; choose one of {', '.join(FORMATS)}.")
    data = results.load(store, actor=actor, project=project)
    frame = export_frame(data, fmt, min_score=min_score, margin=margin)
    if not len(frame):
        raise InvalidInput(f"Project '{data.project.name}' has no ratings that make a {fmt} export yet"
                           + (" (lower --min-score or --margin, or rate more items)." if fmt != "csv" else "."))
    ref = None
    from core.data import versions

    parents = []
    parent_ref = _source_dataset(store, actor, data.project)
    if parent_ref:
        try:
            parents = [versions.get_version(store, actor=actor, ref=parent_ref)]
        except Exception:  # the source dataset was deleted: the params still name it
            parents = []
    annotators = sorted({r.annotator for r in data.ratings})
    version, _ = versions.save_version(
        store, actor=actor, name=dataset or f"{data.project.name}-{fmt}", frame=frame, transformation="feedback",
        source=f"annotation project {data.project.name} ({data.project.source})", parents=parents,
        params={"project": data.project.name, "project_id": data.project.id, "format": fmt,
                "source": data.project.source, "source_kind": data.project.source_kind, "annotators": annotators,
                "source_params": data.project.source_params,
                "min_score": min_score if fmt == "sft" else None, "margin": margin if fmt == "dpo" else None},
        stats={"rows": len(frame), "ratings": len(data.ratings)},
        description=f"Exported from annotation project {data.project.name}.")
    ref = version.ref
    path = None
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, to_bytes(frame, fmt))
    return ExportResult(format=fmt, rows=len(frame), path=str(path) if path else None, dataset_version=ref)


def _source_dataset(store: Store, actor: Actor, project) -> str | None:
    params = project.source_params
    if project.source_kind == "dataset":
        return params.get("ref")
    if project.source_kind == "generated":
        return params.get("dataset_version")
    if project.source_kind == "comparison":
        from core.compare import runs

        try:
            return runs.get_run(store, actor=actor, run_id=params["run_id"]).dataset_version
        except Exception:
            return None
    return None
