"""Scoring model outputs against references: per row (`score_pairs`) and for the whole set (`score_corpus`).

Outputs and references are untrusted text handled as plain strings: nothing here evaluates or renders
them. A missing cell (None, NaN, pandas NA) is not an empty string: a missing output gives None for
every metric of its row; a missing reference, or `references=None`, gives None for the metrics that
need one. Corpus values only use the rows that have a value.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Any

from core.errors import InvalidInput
from core.metrics import backends
from core.metrics.registry import METRICS, ROUGE_USE_STEMMER, Metric

Scores = dict[str, list[float | None]]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return False
    if isinstance(value, float):
        return math.isnan(value)
    pandas = sys.modules.get("pandas")  # pd.NA and NaT, without importing pandas here
    if pandas is not None:
        try:
            return bool(pandas.isna(value))
        except (TypeError, ValueError):
            return False
    return False


def _cells(values: Any, what: str) -> list[str | None]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidInput(f"The {what} must be a list of strings, not {type(values).__name__}.")
    return [None if _is_missing(value) else str(value) for value in values]


def _resolve(metrics: Iterable[str] | str | None) -> list[Metric]:
    if metrics is None:
        return list(METRICS.values())
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise InvalidInput(
            f"Unknown metric {', '.join(map(repr, unknown))}; valid metrics are {', '.join(METRICS)}."
        )
    return [METRICS[name] for name in dict.fromkeys(names)]


def _prepare(outputs: Any, references: Any) -> tuple[list[str | None], list[str | None] | None]:
    outs = _cells(outputs, "outputs")
    refs = None if references is None else _cells(references, "references")
    if refs is not None and len(refs) != len(outs):
        raise InvalidInput(
            f"There are {len(outs)} outputs but {len(refs)} references; each output needs one reference cell."
        )
    return outs, refs


def _scorable(metric: Metric, outs: list[str | None], refs: list[str | None] | None) -> list[int]:
    """Indexes of the rows this metric can score."""
    if not metric.needs_reference:
        return [i for i, out in enumerate(outs) if out is not None]
    if refs is None:
        return []
    return [i for i, (out, ref) in enumerate(zip(outs, refs)) if out is not None and ref is not None]


def _module_kwargs(backend: str, group: list[Metric], sentence_level: bool) -> dict[str, Any]:
    if backend == "rouge_f":
        return {"rouge_types": [metric.key for metric in group], "use_stemmer": ROUGE_USE_STEMMER}
    return {"sentence_level": sentence_level}


def _run(outs: list[str | None], refs: list[str | None] | None, chosen: list[Metric],
         sentence_level: bool) -> tuple[Scores, dict[str, float | None]]:
    """Per-row values (when `sentence_level`) and corpus values of the chosen metrics."""
    rows: Scores = {}
    corpus: dict[str, float | None] = {}
    groups: dict[str, list[Metric]] = {}
    for metric in chosen:
        groups.setdefault(metric.backend, []).append(metric)

    for backend, group in groups.items():
        if backend == "local":
            for metric in group:
                values: list[float | None] = [None] * len(outs)
                for i in _scorable(metric, outs, refs):
                    values[i] = metric.row(outs[i], None if refs is None else refs[i])
                present = [v for v in values if v is not None]
                rows[metric.name] = values
                corpus[metric.name] = sum(present) / len(present) if present else None
            continue
        # Every metric of one module needs a reference, so they share the scorable rows.
        index = _scorable(group[0], outs, refs)
        for metric in group:
            rows[metric.name] = [None] * len(outs)
            corpus[metric.name] = None
        if not index:
            continue
        result = backends.compute(backend, [outs[i] for i in index], [refs[i] for i in index],
                                  **_module_kwargs(backend, group, sentence_level))
        for metric in group:
            corpus[metric.name] = float(result[metric.key])
            if sentence_level:
                key = "sentence_scores" if backend != "rouge_f" else f"{metric.key}_sentences"
                for i, value in zip(index, result[key]):
                    rows[metric.name][i] = float(value)
    return rows, corpus


def score_pairs(outputs: list[str], references: list[str] | None,
                metrics: list[str] | None = None) -> dict[str, list[float | None]]:
    """Sentence-level scores: for each metric (all registered ones by default) one value per output row."""
    chosen = _resolve(metrics)
    outs, refs = _prepare(outputs, references)
    rows, _ = _run(outs, refs, chosen, sentence_level=True)
    return {metric.name: rows[metric.name] for metric in chosen}


def score_corpus(outputs: list[str], references: list[str] | None,
                 metrics: list[str] | None = None) -> dict[str, float | None]:
    """Corpus-level scores: BLEU and chrF as sacrebleu's corpus scores, ROUGE as the mean sentence F-measure,
    exact match as the share of matches, length and readability as means; None where no row has a value."""
    chosen = _resolve(metrics)
    outs, refs = _prepare(outputs, references)
    _, corpus = _run(outs, refs, chosen, sentence_level=False)
    return {metric.name: corpus[metric.name] for metric in chosen}
