"""Drift between a reference and a current sample, field by field: `compare_sources` (what the CLI's
`monitor drift` and each monitor window run) on top of `summarise` (one pass over a source's needed columns,
in chunks, into a bounded `SideSummary`) and `compare` (the registered tests on two summaries).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.governance.roles import Actor, Permission, require
from core.monitoring import drift_tests, fields as fields_mod, summary, text_fields
from core.monitoring.fields import FieldSpec
from core.monitoring.sketches import SideSummary
from core.monitoring.sources import DatasetSource, EventSource, Source, dataset_columns, iter_source
from core.storage.db import Store

EMBED_SAMPLE = 1000  # rows per side embedded for embedding fields (MiniLM on a CPU: a few seconds)
HISTOGRAM_BINS = 20
TEXT_DETAIL_KEYS = ("examples", "words_grown", "words_towards_current", "new_categories_text")


@dataclass(frozen=True)
class FieldResult:
    field: str
    label: str
    kind: str
    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drift_detected: bool
    reference_size: int
    current_size: int
    sentence: str
    change: str  # plain language: "prompts are 70% longer (median 120 -> 204 characters)"
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The shape `monitor drift --json` prints per field."""
        return {k: getattr(self, k) for k in ("field", "kind", "test", "statistic", "p_value", "threshold",
                                                "drift_detected", "reference_size", "current_size")}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftReport:
    reference: str
    current: str
    fields: list[FieldResult]
    summary: str

    @property
    def share_drifted(self) -> float:
        return sum(f.drift_detected for f in self.fields) / len(self.fields) if self.fields else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"fields": [f.to_json() for f in self.fields], "share_drifted": self.share_drifted}


# --- which fields ---


def available_fields(store: Store, source: Source, *, actor: Actor) -> dict[str, FieldSpec]:
    if isinstance(source, DatasetSource):
        _, kinds, text = dataset_columns(store, source, actor=actor)
        found = {}
        for name, kind in kinds.items():
            if kind not in ("numeric", "categorical", "text") or name in text.values():
                continue
            built_in = fields_mod.BUILT_IN.get(name)  # a column named like an event column (latency_s) is that field
            found[name] = built_in if built_in and built_in.needs == name else fields_mod.spec(name, dataset_columns=kinds)
        for name, spec in fields_mod.BUILT_IN.items():
            if spec.needs in text and not name.endswith("_tokens"):
                found[name] = spec
        return found
    found = {name: spec for name, spec in fields_mod.BUILT_IN.items()}
    from core.events.query import filter_choices

    for key in filter_choices(store, actor=actor).get("metadata_keys", []):
        found[f"meta.{key}"] = fields_mod.spec(f"meta.{key}")
    return found


def resolve_fields(store: Store, reference: Source, current: Source, names: list[str] | None, *,
                   actor: Actor) -> list[FieldSpec]:
    """The named fields (checked against both sides), or by default every field both sides share."""
    ref_fields = available_fields(store, reference, actor=actor)
    cur_fields = available_fields(store, current, actor=actor)
    if names:
        chosen = []
        for name in names:
            for side, found in (("reference", ref_fields), ("current", cur_fields)):
                if name not in found:
                    # a built-in or meta.KEY the side does not list yet (e.g. no event carries the key) still works
                    try:
                        spec = fields_mod.spec(name)
                    except InvalidInput:
                        raise InvalidInput(f"The {side} ({(reference if side == 'reference' else current).label()}) "
                                           f"has no field '{name}'.") from None
                    if isinstance(reference if side == "reference" else current, DatasetSource) and spec.needs not in ("prompt", "output"):
                        raise InvalidInput(f"The {side} dataset has no field '{name}'.")
            chosen.append(ref_fields.get(name) or cur_fields.get(name) or fields_mod.spec(name))
        return chosen
    if isinstance(reference, EventSource) and isinstance(current, EventSource):
        defaults = list(fields_mod.DEFAULT_EVENT_FIELDS) + [n for n in ref_fields if n.startswith("meta.")]
        return [ref_fields[n] for n in defaults if n in ref_fields]
    shared = [n for n in ref_fields if n in cur_fields and not ref_fields[n].kind == "embedding"
              and ref_fields[n].name not in ("prompt_oov_share",)]
    return [ref_fields[n] for n in shared]


# --- one side ---


def summarise(store: Store, source: Source, specs: list[FieldSpec], *, actor: Actor, seed: int = 0,
              chunk_rows: int | None = None) -> SideSummary:
    """One pass over the source's needed columns, chunk by chunk, into a bounded summary."""
    events = isinstance(source, EventSource)
    # events read derived text fields from their per-event cache instead of the text (core/monitoring/text_fields.py)
    needs = {s.name if events and s.name in text_fields.DERIVED else s.needs for s in specs}
    side = SideSummary(label=source.label(), events=events)
    rng = np.random.default_rng(seed)
    models_dir = store.settings.models_dir
    kwargs = {"chunk_rows": chunk_rows} if chunk_rows else {}
    for frame in iter_source(store, source, needs, actor=actor, **kwargs):
        side.rows += len(frame)
        ids = frame["id"].to_numpy()
        for spec in specs:
            if spec.sampled:
                continue
            values = fields_mod.values(spec, frame, models_dir=models_dir)
            if spec.kind == "numeric":
                side.add_numbers(spec.name, values, ids, rng)
            else:
                side.add_counts(spec.name, values)
        for text_column in {s.needs for s in specs if s.sampled}:
            side.add_texts(text_column, frame[text_column], ids, rng)
    if events:  # the samples picked events by id; now read just their texts
        for part, sample in side.texts.items():
            texts = text_fields.texts_of(store, part, sample.ids)
            sample.values = np.array([texts.get(int(i)) for i in sample.ids], dtype=object)
    return side


# --- the comparison ---


def compare(store: Store, reference: SideSummary, current: SideSummary, specs: list[FieldSpec], *,
            tests: dict[str, str] | None = None, thresholds: dict[str, float] | None = None,
            encoder=None) -> list[FieldResult]:
    results = []
    for spec in specs:
        results.append(compare_field(store, reference, current, spec, test=(tests or {}).get(spec.name),
                                     threshold=(thresholds or {}).get(spec.name), encoder=encoder))
    return [r for r in results if r is not None]


def _check_test(name: str, kind: str) -> drift_tests.DriftTest:
    test = drift_tests.get(name)
    if kind not in test.kinds:
        raise InvalidInput(f"The {test.label} test does not apply to {kind} fields; it takes "
                           f"{', '.join(test.kinds)} fields.")
    return test


def compare_field(store: Store, ref: SideSummary, cur: SideSummary, spec: FieldSpec, *, test: str | None = None,
                  threshold: float | None = None, encoder=None) -> FieldResult | None:
    kind = spec.kind
    details: dict[str, Any] = {}
    if spec.sampled and kind in ("categorical", "rate", "numeric"):
        ref_texts, cur_texts = ref.text_values(spec.needs), cur.text_values(spec.needs)
        if not ref_texts or not cur_texts:
            return None
        vocabulary = None
        if spec.name == "prompt_oov_share":
            half = len(ref_texts) // 2
            vocabulary = {w for words in fields_mod.word_lists(pd.Series(ref_texts[:half])) for w in words}
            ref_texts = ref_texts[half:]
        ref_values = _sampled_values(store, spec, ref, ref_texts, vocabulary)
        cur_values = _sampled_values(store, spec, cur, cur_texts, vocabulary)
        details["sampled"] = True
        if kind == "numeric":
            ref_values, cur_values = np.asarray(ref_values, float), np.asarray(cur_values, float)
            ref_values, cur_values = ref_values[np.isfinite(ref_values)], cur_values[np.isfinite(cur_values)]
            ref_sample, cur_sample = ref_values, cur_values
        else:
            ref_counts = Counter(str(v) for v in ref_values)
            cur_counts = Counter(str(v) for v in cur_values)
    elif kind == "numeric":
        ref_sample, cur_sample = ref.number_values(spec.name), cur.number_values(spec.name)
    elif kind in ("categorical", "rate"):
        ref_counts, cur_counts = ref.counts.get(spec.name, Counter()), cur.counts.get(spec.name, Counter())
    if kind == "numeric":
        if ref_sample.size == 0 or cur_sample.size == 0:
            return None
        n_unique = len(np.unique(ref_sample[:100_000]))
        name = test or drift_tests.default_test("numeric", reference_size=ref_sample.size, n_unique=n_unique)
        chosen = drift_tests.get(name)
        if "numeric" in chosen.kinds:
            result = chosen(ref_sample, cur_sample, threshold=threshold)
        else:  # few distinct values: compared as categories
            ref_counts = Counter(map(str, ref_sample.tolist()))
            cur_counts = Counter(map(str, cur_sample.tolist()))
            result = chosen(ref_counts, cur_counts, threshold=threshold)
        change = summary.numeric_change(spec.name, spec.label, ref_sample, cur_sample)
        details.update(histograms(ref_sample, cur_sample))
        ref_n = ref.number_count(spec.name) if not spec.sampled else ref_sample.size
        cur_n = cur.number_count(spec.name) if not spec.sampled else cur_sample.size
        if ref_n != ref_sample.size or cur_n != cur_sample.size:
            details["sampled"] = True
    elif kind in ("categorical", "rate"):
        if not ref_counts or not cur_counts:
            return None
        ref_n, cur_n = sum(ref_counts.values()), sum(cur_counts.values())
        n_unique = len(ref_counts)
        name = test or drift_tests.default_test(kind, reference_size=ref_n, n_unique=n_unique)
        chosen = _check_test(name, kind)
        options = {}
        if chosen.name == "proportion_z":
            options["positive"] = "1.0" if kind == "rate" else max(ref_counts, key=ref_counts.get)
        result = chosen(dict(ref_counts), dict(cur_counts), threshold=threshold, **options)
        if kind == "rate":
            before = ref_counts.get("1.0", 0) / ref_n
            after = cur_counts.get("1.0", 0) / cur_n
            change = summary.rate_change(spec.label, before, after)
            details["rates"] = {"reference": before, "current": after}
        else:
            change = summary.category_change(spec.label, ref_counts, cur_counts)
        details["top_categories"] = top_categories(ref_counts, cur_counts)
    elif kind == "text":
        ref_texts, cur_texts = ref.text_values(spec.needs), cur.text_values(spec.needs)
        if not ref_texts or not cur_texts:
            return None
        chosen = _check_test(test or drift_tests.default_test("text", reference_size=len(ref_texts)), "text")
        result = chosen(ref_texts, cur_texts, threshold=threshold)
        ref_n, cur_n = ref.texts[spec.needs].seen, cur.texts[spec.needs].seen
        change = f"{spec.label.lower()} changed wording (classifier ROC AUC {result.statistic:.2f})" \
            if chosen.name == "domain_classifier" else f"{spec.label.lower()} changed"
        details["sampled"] = [len(ref_texts), len(cur_texts)]
        details["words_grown"] = words_grown(ref_texts, cur_texts)
    elif kind == "embedding":
        ref_sample_texts = ref.texts.get(spec.needs)
        cur_sample_texts = cur.texts.get(spec.needs)
        if ref_sample_texts is None or cur_sample_texts is None or not ref_sample_texts.seen or not cur_sample_texts.seen:
            return None
        part = "prompt" if spec.needs == "prompt" else "output"
        ref_vectors, _, _ = _embedded(store, ref_sample_texts, part, ref.events, encoder)
        cur_vectors, cur_ids, cur_texts = _embedded(store, cur_sample_texts, part, cur.events, encoder)
        name = test or drift_tests.default_test("embedding", reference_size=len(ref_vectors))
        chosen = _check_test(name, "embedding")
        result = chosen(ref_vectors, cur_vectors, threshold=threshold)
        novelty = result if chosen.name == "novelty" else drift_tests.get("novelty")(ref_vectors, cur_vectors)
        ref_n, cur_n = ref_sample_texts.seen, cur_sample_texts.seen
        change = f"{novelty.details['novel_share']:.0%} of {part}s are unlike any reference {part} " \
                 f"(reference itself {novelty.details['reference_novel_share']:.0%})"
        details["sampled"] = [len(ref_vectors), len(cur_vectors)]
        details["novel_share"] = novelty.details["novel_share"]
        details["examples"] = [{"event_id": int(cur_ids[i]) if cur.events else None, "text": cur_texts[i][:2000],
                                "similarity": round(s, 3)}
                               for i, s in zip(novelty.details["most_novel"], novelty.details["most_novel_similarity"])]
    else:
        raise InvalidInput(f"'{kind}' is not a field kind.")
    details.update({k: v for k, v in result.details.items() if k not in ("most_novel", "most_novel_similarity")})
    statistic = None if result.statistic is None or not np.isfinite(result.statistic) else float(result.statistic)
    return FieldResult(field=spec.name, label=spec.label, kind=kind, test=result.test, statistic=statistic,
                       p_value=result.p_value, threshold=result.threshold, drift_detected=result.drift_detected,
                       reference_size=int(ref_n), current_size=int(cur_n), sentence=result.sentence, change=change,
                       details=_json_safe(details))


def _sampled_values(store: Store, spec: FieldSpec, side: SideSummary, texts: list[str], vocabulary):
    """A sampled field's values for a side's text sample; language and personal-data flags of events are kept
    per event once computed (core/monitoring/text_fields.py), so the next run over the same sample reads them."""
    if not side.events or spec.name not in text_fields.SAMPLED_CACHE:
        return fields_mod.sampled_values(spec, texts, reference_vocabulary=vocabulary)
    ids = [int(i) for i in side.texts[spec.needs].ids[-len(texts):]] if texts else []
    known = text_fields.cached_sampled(store, spec.name, ids)
    todo = [n for n, i in enumerate(ids) if i not in known]
    if todo:
        found = fields_mod.sampled_values(spec, [texts[n] for n in todo])
        fresh = {ids[n]: (bool(v) if spec.name == "prompt_pii" else str(v)) for n, v in zip(todo, found)}
        text_fields.store_sampled(store, spec.name, fresh)
        known.update(fresh)
    if spec.name == "prompt_pii":
        return np.array([1.0 if known[i] else 0.0 for i in ids])
    return [known[i] for i in ids]


def _embedded(store, sample, part, event_ids, encoder):
    n = min(len(sample.values), EMBED_SAMPLE)
    texts = [str(t) for t in sample.values[:n]]  # the sample is already uniform; its first n rows are too
    ids = sample.ids[:n]
    vectors = embed_texts_for(store, texts, ids if event_ids else None, part, encoder)
    return vectors, ids, texts


def embed_texts_for(store, texts, ids, part, encoder):
    from core.monitoring.embeddings import embed_texts

    return embed_texts(store, texts, event_ids=None if ids is None else [int(i) for i in ids], part=part,
                       encoder=encoder)


def histograms(reference: np.ndarray, current: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    both = np.concatenate([reference, current])
    low, high = np.percentile(both, [0.5, 99.5])
    if high <= low:
        low, high = float(both.min()), float(both.max()) + 1e-9
    edges = np.linspace(low, high, bins + 1)
    ref_counts = np.histogram(np.clip(reference, low, high), edges)[0]
    cur_counts = np.histogram(np.clip(current, low, high), edges)[0]
    return {"histogram": {"edges": edges.tolist(), "reference": (ref_counts / max(reference.size, 1)).tolist(),
                          "current": (cur_counts / max(current.size, 1)).tolist()},
            "quantiles": {side: {q: float(np.percentile(values, int(q[1:]))) for q in ("p50", "p95")}
                          for side, values in (("reference", reference), ("current", current))}}


def top_categories(reference: Counter, current: Counter, n: int = 10) -> list[dict[str, Any]]:
    ref_total, cur_total = sum(reference.values()) or 1, sum(current.values()) or 1
    names = sorted(set(reference) | set(current),
                   key=lambda k: -max(reference.get(k, 0) / ref_total, current.get(k, 0) / cur_total))[:n]
    return [{"category": k, "reference": reference.get(k, 0) / ref_total, "current": current.get(k, 0) / cur_total}
            for k in names]


def words_grown(reference: list[str], current: list[str], n: int = 10) -> list[dict[str, Any]]:
    """Words whose share of texts grew the most (appearing in at least 2% of current texts)."""
    def document_counts(texts):
        counter = Counter()
        for words in fields_mod.word_lists(pd.Series(texts)):
            counter.update({w.strip(".,;:!?()\"'") for w in words})
        counter.pop("", None)
        return counter

    ref_df, cur_df = document_counts(reference), document_counts(current)
    rows = []
    for word, count in cur_df.items():
        share = count / len(current)
        if share < 0.02:
            continue
        before = ref_df.get(word, 0) / len(reference)
        rows.append({"word": word, "reference": before, "current": share,
                     "growth": share / max(before, 1 / len(reference))})
    return sorted(rows, key=lambda r: -r["growth"])[:n]


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def without_text(details: dict[str, Any]) -> dict[str, Any]:
    """Details safe for viewers: no prompt or output text, nor words taken from it."""
    return {k: v for k, v in details.items() if k not in TEXT_DETAIL_KEYS}


# --- the front door ---


def compare_sources(store: Store, *, actor: Actor, reference: Source, current: Source,
                    fields: list[str] | None = None, tests: dict[str, str] | None = None,
                    thresholds: dict[str, float] | None = None, since_label: str | None = None,
                    progress: Callable[[str], None] | None = None, encoder=None) -> DriftReport:
    """Drift of `current` against `reference` for the named fields (all shared fields by default)."""
    require(actor, Permission.MANAGE_MONITORS)
    specs = resolve_fields(store, reference, current, fields, actor=actor)
    if not specs:
        raise InvalidInput(f"{reference.label()} and {current.label()} share no field to compare.")
    if progress:
        progress(f"reading {reference.label()}")
    ref = summarise(store, reference, specs, actor=actor, seed=0)
    if progress:
        progress(f"reading {current.label()}")
    cur = summarise(store, current, specs, actor=actor, seed=1)
    if ref.rows == 0 or cur.rows == 0:
        raise InvalidInput(f"The {'reference' if ref.rows == 0 else 'current'} sample "
                           f"({(reference if ref.rows == 0 else current).label()}) has no rows.")
    results = compare(store, ref, cur, specs, tests=tests, thresholds=thresholds, encoder=encoder)
    phrases = [r.change for r in results if r.drift_detected]
    return DriftReport(reference=reference.label(), current=current.label(), fields=results,
                       summary=summary.summary_sentence(since_label, phrases, fields_tested=len(results)))
