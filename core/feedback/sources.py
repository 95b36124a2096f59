"""Where the outputs to rate come from: a saved comparison run, a dataset version, a sample of logged events, or
two models answering the same prompts on the spot (a job, core/feedback/jobs.py, whose comparison run is read here).

Each source turns into item specs: the prompt as chat messages, one response (or two for pairwise, N for ranking)
with the model and prompt version that made it (kept for results, never shown to annotators), a group key shared
by items that answer the same input (so Likert scores of two outputs for one input can become a preference pair),
and where the item came from.
"""
from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import InvalidInput, NotFound
from core.governance.roles import Actor
from core.storage.db import Store

MAX_ITEMS = 100_000


@dataclass(frozen=True)
class ItemSpec:
    prompt: list[dict[str, Any]]
    responses: list[dict[str, Any]]  # {"text", "model", "prompt_version", "messages"?}
    group_key: str | None = None
    reference: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ComparisonSource:
    """Every cell of a run as its own item, or (pairs=True) pairs of cells of the same input row."""

    run_id: int
    pairs: bool = False
    columns: tuple[str, ...] = ()  # "prompt · model" columns to use (all when empty); pairs of these

    kind = "comparison"

    def describe(self) -> str:
        return f"comparison {self.run_id}" + (" (pairs)" if self.pairs else " (cells)")

    def params(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "pairs": self.pairs, "columns": list(self.columns)}


@dataclass(frozen=True)
class DatasetSource:
    """Rows of a dataset version: a prompt column and one or more response columns, or a chat `messages` column."""

    ref: str
    prompt_column: str | None = None
    response_columns: tuple[str, ...] = ()
    messages_column: str | None = None
    model_column: str | None = None
    rows: int | None = None  # a seeded sample of this many rows; all when None
    seed: int = 0

    kind = "dataset"

    def describe(self) -> str:
        return self.ref

    def params(self) -> dict[str, Any]:
        return {"ref": self.ref, "prompt_column": self.prompt_column, "response_columns": list(self.response_columns),
                "messages_column": self.messages_column, "model_column": self.model_column, "rows": self.rows,
                "seed": self.seed}


@dataclass(frozen=True)
class EventSource:
    """A sample of logged inference events with an output, filtered by time, deployment, model and metadata."""

    since: datetime | None = None
    until: datetime | None = None
    deployment: str | None = None
    model: str | None = None
    where: dict[str, str] = field(default_factory=dict)  # metadata key -> value
    limit: int = 100
    stratify: str | None = None  # a column (model, deployment, arm, template_version) or a metadata key
    seed: int = 0

    kind = "events"

    def describe(self) -> str:
        parts = ["events"]
        if self.deployment:
            parts.append(self.deployment)
        if self.model:
            parts.append(self.model)
        if self.since or self.until:
            parts.append(f"{self.since:%Y-%m-%d}.." if self.since else "..")
            if self.until:
                parts[-1] += f"{self.until:%Y-%m-%d}"
        parts += [f"{k}={v}" for k, v in self.where.items()]
        return " ".join(parts) + f" (sample of {self.limit}" + (f" by {self.stratify})" if self.stratify else ")")

    def params(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None, "deployment": self.deployment,
                "model": self.model, "where": dict(self.where), "limit": self.limit, "stratify": self.stratify,
                "seed": self.seed}


@dataclass(frozen=True)
class GeneratedSource:
    """Two models' answers to the same prompts, made on the spot by an `annotate` job (core/feedback/jobs.py) as a
    comparison run: one pairwise item per prompt. Each item's own response order is shuffled (seeded per row), so
    "A" is not always the first model; every annotator then sees the sides in their own shuffled order."""

    run_id: int
    job_id: int | None
    models: tuple[str, ...]
    dataset_version: str
    prompt: str  # the prompt version the run used (the prompt column's template, or the user's)
    prompt_column: str | None = None
    rows: int = 0
    seed: int = 0

    kind = "generated"

    def describe(self) -> str:
        return f"{' vs '.join(self.models)} on {self.dataset_version}" + \
            (f" ({self.prompt_column})" if self.prompt_column else f" ({self.prompt})") + \
            f" · job {self.job_id} · comparison {self.run_id}"

    def params(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "job_id": self.job_id, "models": list(self.models),
                "dataset_version": self.dataset_version, "prompt": self.prompt, "prompt_column": self.prompt_column,
                "rows": self.rows, "seed": self.seed}


Source = ComparisonSource | DatasetSource | EventSource | GeneratedSource


def collect(store: Store, *, actor: Actor, source: Source) -> list[ItemSpec]:
    if isinstance(source, ComparisonSource):
        items = _from_comparison(store, actor, source)
    elif isinstance(source, DatasetSource):
        items = _from_dataset(store, actor, source)
    elif isinstance(source, EventSource):
        items = _from_events(store, actor, source)
    elif isinstance(source, GeneratedSource):
        items = _from_generated(store, actor, source)
    else:
        raise InvalidInput("Unknown annotation source.")
    if not items:
        raise InvalidInput(f"{source.describe()} holds no outputs to rate.")
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"{source.describe()} makes {len(items):,} items; a project holds at most {MAX_ITEMS:,}.")
    return items


# --- comparison runs --------------------------------------------------------------------------------------

def _from_comparison(store: Store, actor: Actor, source: ComparisonSource) -> list[ItemSpec]:
    from core.compare import runs

    run = runs.get_run(store, actor=actor, run_id=source.run_id)
    columns = [runs.column_label(p, m) for p, m in run.columns]
    wanted = list(source.columns) or columns
    unknown = [c for c in wanted if c not in columns]
    if unknown:
        raise InvalidInput(f"Run {run.id} has no column {unknown[0]!r}; its columns are: {'; '.join(columns)}.")
    by_row: dict[int, dict[str, Any]] = {}
    for cell in run.cells:
        if cell.output is not None and cell.column in wanted:
            by_row.setdefault(cell.row_index, {})[cell.column] = cell

    def response(cell) -> dict[str, Any]:
        return {"text": cell.output, "model": cell.model, "prompt_version": cell.prompt, "messages": cell.messages,
                "cell": cell.id}

    items = []
    for row_index in sorted(by_row):
        cells = by_row[row_index]
        group = f"run{run.id}:row{row_index}"
        if not source.pairs:
            for column in wanted:
                if column in cells:
                    cell = cells[column]
                    items.append(ItemSpec(prompt=list(cell.messages), responses=[response(cell)], group_key=group,
                                          reference=cell.reference, meta={"run": run.id, "row": row_index}))
            continue
        for a, b in itertools.combinations([c for c in wanted if c in cells], 2):
            pair = [cells[a], cells[b]]
            same = pair[0].messages == pair[1].messages
            prompt = list(pair[0].messages) if same else [
                {"role": "user", "content": runs.input_text(pair[0].variables, limit=4000)}]
            items.append(ItemSpec(prompt=prompt, responses=[response(c) for c in pair], group_key=group,
                                  reference=pair[0].reference, meta={"run": run.id, "row": row_index}))
    if source.pairs and not items:
        raise InvalidInput(f"Run {run.id} has fewer than two columns with outputs; pairs need two.")
    return items


def _from_generated(store: Store, actor: Actor, source: GeneratedSource) -> list[ItemSpec]:
    """The run's pairs (the comparison source's own code), each item's responses in a seeded order of its own."""
    from core.compare import runs

    run = runs.get_run(store, actor=actor, run_id=source.run_id)
    columns = tuple(runs.column_label(run.prompts[0], m) for m in source.models)
    items = _from_comparison(store, actor, ComparisonSource(run_id=source.run_id, pairs=True, columns=columns))
    out = []
    for item in items:
        responses = list(item.responses)
        random.Random(f"{source.seed}:{item.meta.get('row')}").shuffle(responses)
        meta = {**item.meta, "job": source.job_id, "dataset_row": _source_row(run, item.meta.get("row"))}
        out.append(ItemSpec(prompt=item.prompt, responses=responses, group_key=item.group_key,
                            reference=item.reference, meta=meta))
    return out


def _source_row(run, row_index: int | None) -> int | None:
    rows = run.settings.get("source_rows") or []
    return rows[row_index] if row_index is not None and 0 <= row_index < len(rows) else None


# --- dataset versions -------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    from core.compare.runs import _plain

    value = _plain(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _from_dataset(store: Store, actor: Actor, source: DatasetSource) -> list[ItemSpec]:
    from core.compare.runs import _plain
    from core.data import versions

    version = versions.get_version(store, actor=actor, ref=source.ref)
    frame = versions.load_frame(store, actor=actor, version=version)
    names = [str(c) for c in frame.columns]
    for column in [source.prompt_column, source.messages_column, source.model_column, *source.response_columns]:
        if column and column not in names:
            raise InvalidInput(f"{version.ref} has no column '{column}'; its columns are {', '.join(names)}.")
    if source.messages_column and (source.prompt_column or source.response_columns):
        raise InvalidInput("Give either a messages column, or a prompt column with response columns, not both.")
    if not source.messages_column and not (source.prompt_column and source.response_columns):
        if "messages" in names:
            source = DatasetSource(**{**source.params(), "messages_column": "messages", "prompt_column": None,
                                      "response_columns": ()})
        else:
            raise InvalidInput(f"Name the prompt and response columns of {version.ref} (--prompt-column, "
                               "--response-column), or its chat messages column.")
    positions = list(range(len(frame)))
    if source.rows is not None and source.rows < len(positions):
        if source.rows < 1:
            raise InvalidInput("The number of rows to sample must be at least 1.")
        positions = sorted(random.Random(source.seed).sample(positions, source.rows))
    items = []
    for position in positions:
        row = frame.iloc[position]
        meta = {"dataset_version": version.ref, "row": position}
        model = _text(row[source.model_column]) if source.model_column else None
        if source.messages_column:
            messages = _plain(row[source.messages_column], missing=None)
            if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict) \
                    or messages[-1].get("role") != "assistant":
                continue  # a conversation that does not end on an answer has nothing to rate
            prompt = [{"role": str(m.get("role")), "content": _text(m.get("content", ""))} for m in messages[:-1]]
            responses = [{"text": _text(messages[-1].get("content", "")), "model": model or version.dataset,
                          "prompt_version": None}]
        else:
            prompt = [{"role": "user", "content": _text(row[source.prompt_column])}]
            responses = [{"text": _text(row[c]), "model": model or c if len(source.response_columns) > 1 else
                          (model or version.dataset), "prompt_version": None, "column": c}
                         for c in source.response_columns]
        items.append(ItemSpec(prompt=prompt, responses=responses, group_key=f"{version.ref}:row{position}",
                              meta=meta))
    return items


# --- logged events ----------------------------------------------------------------------------------------

def _from_events(store: Store, actor: Actor, source: EventSource) -> list[ItemSpec]:
    from sqlmodel import col, select

    try:
        from core.storage.tables import InferenceEvent
    except ImportError:
        raise NotFound("This workbench has no event log yet.") from None
    if not 1 <= source.limit <= MAX_ITEMS:
        raise InvalidInput(f"The event sample must hold 1 to {MAX_ITEMS:,} events.")
    query = select(InferenceEvent).where(InferenceEvent.status == "ok", col(InferenceEvent.output).is_not(None))
    if source.since:
        query = query.where(InferenceEvent.time >= source.since)
    if source.until:
        query = query.where(InferenceEvent.time < source.until)
    if source.deployment:
        query = query.where(InferenceEvent.deployment == source.deployment)
    if source.model:
        query = query.where(InferenceEvent.model == source.model)
    for key, value in source.where.items():
        query = query.where(InferenceEvent.meta[key].as_string() == str(value))
    columns = ("model", "deployment", "arm", "template_version", "application", "adapter")
    with store.read() as session:
        # Ids first (small), then only the sampled rows' texts.
        if source.stratify in columns:
            strat = getattr(InferenceEvent, source.stratify)
        elif source.stratify:
            strat = InferenceEvent.meta[source.stratify].as_string()
        else:
            strat = None
        id_query = query.with_only_columns(InferenceEvent.id, strat) if strat is not None else \
            query.with_only_columns(InferenceEvent.id)
        rows = [tuple(r) for r in session.execute(id_query.order_by(InferenceEvent.id)).all()]
        chosen = _sample(rows, source.limit, source.seed, stratified=strat is not None)
        events = []
        for chunk in range(0, len(chosen), 1000):
            events += session.exec(select(InferenceEvent).where(
                col(InferenceEvent.id).in_(chosen[chunk:chunk + 1000]))).all()
    items = []
    for event in sorted(events, key=lambda e: e.id):
        data = event.input
        if isinstance(data, list):
            prompt = [{"role": str(m.get("role", "user")), "content": _text(m.get("content", ""))}
                      for m in data if isinstance(m, dict)]
        elif isinstance(data, dict) and "prompt" in data:
            prompt = [{"role": "user", "content": _text(data["prompt"])}]
        else:
            prompt = [{"role": "user", "content": _text(data)}]
        items.append(ItemSpec(
            prompt=prompt, responses=[{"text": event.output, "model": event.model,
                                       "prompt_version": event.template_version, "event": event.event_id}],
            group_key=None, meta={"event": event.event_id, "deployment": event.deployment,
                                  "deployment_version": event.deployment_version, "arm": event.arm,
                                  "time": event.time.isoformat(timespec="seconds")}))
    return items


def _sample(rows, limit: int, seed: int, *, stratified: bool) -> list[int]:
    """A seeded sample of ids; stratified: as even a share of each stratum as the strata allow."""
    rng = random.Random(seed)
    if not stratified:
        ids = [r[0] for r in rows]
        return sorted(rng.sample(ids, limit)) if len(ids) > limit else ids
    strata: dict[Any, list[int]] = {}
    for event_id, stratum in rows:
        strata.setdefault(stratum, []).append(event_id)
    for members in strata.values():
        rng.shuffle(members)
    chosen: list[int] = []
    pools = [strata[k] for k in sorted(strata, key=str)]
    while len(chosen) < limit and any(pools):
        for pool in pools:
            if pool and len(chosen) < limit:
                chosen.append(pool.pop())
    return sorted(chosen)
