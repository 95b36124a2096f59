"""Profiles a dataset version: every column, text statistics, fine-tuning readiness and ranked alerts.

Cheap statistics (counts, missing, distinct, lengths, exact duplicates, numeric moments) cover every row.
Costly ones (model tokens, near-duplicates, language, PII examples) run on a seeded random sample of
`sample_rows` rows when the table is larger, and the report says so; shares are then estimates.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.data import formats, pii, textstats, versions
from core.data.counting import ValueCounts, count_values
from core.configs import check_fields
from core.errors import InvalidInput
from core.files import write_atomically
from core.governance.roles import Actor, Permission, require
from core.models import registry
from core.models.bundled import DEFAULT_CHAT_MODEL
from core.storage.db import Store

NEAR_DUPLICATE_ROWS = 2000  # LSH candidates are confirmed in Python: a 2,000-row sample estimates the share within a few points
PROFILE_FORMAT = 1  # bump when the report's shape changes, so stale cached profiles are recomputed
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ProfileOptions:
    """How a version is profiled. The bounds in the metadata are checked here (core.configs) and drive the Data
    page's inputs and `workbench data profile`'s options."""
    tokenizer_model: str = field(default=DEFAULT_CHAT_MODEL, metadata={
        "help": "Registered model whose tokenizer counts tokens.", "label": "Tokenizer of", "flag": "--tokenizer"})
    max_length: int = field(default=512, metadata={
        "help": "Training max length in tokens; longer texts get truncated.", "label": "Max length (tokens)",
        "min": 8, "max": 131_072, "unit": "tokens"})
    sample_rows: int = field(default=20_000, metadata={
        "help": "Rows sampled for tokens, near-duplicates and PII.", "label": "Sample rows for costly statistics",
        "min": 100, "max": 1_000_000, "step": 1000, "unit": "rows"})
    near_duplicate_threshold: float = field(default=0.8, metadata={
        "help": "Word 3-gram Jaccard similarity above which two texts are near-duplicates.", "min": 0.3, "max": 0.99,
        "step": 0.05})

    def __post_init__(self):
        check_fields(self)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Alert:
    severity: str  # high, medium, low
    column: str | None
    code: str
    message: str


SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def _histogram(values: np.ndarray, bins: int = 30) -> dict[str, list]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"edges": [], "counts": []}
    counts, edges = np.histogram(values, bins=bins)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _quantiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {}
    qs = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    return {k: float(v) for k, v in zip(("p05", "p25", "p50", "p75", "p95", "p99"), qs)}


def _numeric_stats(values: np.ndarray) -> dict[str, Any]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {}
    return {
        "min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "zeros": int((values == 0).sum()), "negatives": int((values < 0).sum()), **_quantiles(values),
    }


def _looks_nested(column: pd.Series) -> bool:
    sample = column.dropna().head(50)
    return len(sample) > 0 and sample.map(lambda v: isinstance(v, (list, dict, np.ndarray))).any()


def infer_type(column: pd.Series, counts: ValueCounts | Callable[[], ValueCounts] | None = None) -> str:
    """The column's kind. `counts` (its count_values, or a function giving them) saves a second pass over the
    column; they are needed only for short strings: values averaging 40 characters or more are text."""
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    if column.dtype == object and _looks_nested(column):
        return "nested"
    present = int(column.count())
    if not present:
        return "empty"
    # The first 200 values present, without copying the whole column as dropna() would.
    head = column.head(5000).dropna().head(200)
    if head.empty:
        head = column.dropna().head(200)
    head = head.astype(str)
    if head.str.match(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$").mean() > 0.95:
        return "datetime"
    mean_length = head.str.len().mean()
    if mean_length >= 40:
        return "text"
    if callable(counts):
        counts = counts()
    distinct = counts.distinct if counts is not None else column.nunique()
    if distinct == present and mean_length < 40 and not head.str.contains(r"\s").any():
        return "identifier"
    if distinct <= max(50, 0.05 * present) and mean_length < 40:
        return "categorical"
    return "text"


class _Steps:
    """Reports progress as a share of the steps planned."""

    def __init__(self, total: int, progress: Progress | None):
        self.total, self.done, self.progress = max(total, 1), 0, progress

    def __call__(self, message: str) -> None:
        if self.progress:
            self.progress(min(self.done / self.total, 0.99), message)
        self.done += 1


def _arrow_strings(strings: pd.Series):
    """The column as a pyarrow array, so lengths and word counts run in Arrow's C++ kernels, not per row in Python."""
    import pyarrow as pa

    values = strings.array
    arrow = getattr(values, "_pa_array", None)
    if arrow is None:
        arrow = pa.chunked_array([pa.array(strings.astype(object).tolist(), type=pa.string(), from_pandas=True)])
    return arrow


def _profile_text(column: pd.Series, sample_index: np.ndarray, options: ProfileOptions,
                  tokenizer_path: str | None, counts: ValueCounts | None = None) -> tuple[dict[str, Any], ValueCounts]:
    """The text statistics of a column, and its value counts (counted here, beside the rest, when not given)."""
    import pyarrow.compute as pc

    strings = column.astype("string")
    arrow = _arrow_strings(strings)
    if arrow.null_count:
        arrow = pc.drop_null(arrow)
    n = len(arrow)
    sample = strings.iloc[sample_index].dropna()
    sample = sample[sample.str.strip().ne("").to_numpy(dtype=bool)]  # a plain mask: no index alignment
    # Arrow kernels, numpy and the Rust tokenizer run without the GIL: they go to other threads while this
    # one does the Python work on the sample (near-duplicates, languages, PII).
    pool = ThreadPoolExecutor(max_workers=2)
    token_job = pool.submit(textstats.token_lengths, sample.tolist(), tokenizer_path) \
        if tokenizer_path and len(sample) else None
    words_job = pool.submit(textstats.word_counts, arrow)
    counts_job = pool.submit(count_values, strings) if counts is None else None
    pool.shutdown(wait=False)
    near_rows, pairs = textstats.near_duplicate_pairs(sample.head(NEAR_DUPLICATE_ROWS), options.near_duplicate_threshold)
    languages = textstats.language_mix(sample.head(2000).tolist())
    findings = pii.scan_series(sample)
    chars = pc.utf8_length(arrow).to_numpy().astype(np.float64)
    blank = int(pc.sum(pc.equal(pc.utf8_trim_whitespace(arrow), "")).as_py() or 0)
    words = words_job.result().astype(np.float64)
    counts = counts if counts is not None else counts_job.result()
    dup_rows = n - counts.distinct
    stats: dict[str, Any] = {
        "chars": {**_numeric_stats(chars), "histogram": _histogram(chars)},
        "words": {**_numeric_stats(words), "histogram": _histogram(words)},
        "empty_or_whitespace": blank,
        "exact_duplicates": dup_rows,
        "exact_duplicate_share": dup_rows / n if n else 0.0,
        "duplicate_examples": [{"value": str(v)[:300], "copies": int(c)} for v, c in counts.repeated],
    }
    stats["sample_rows"] = int(len(sample))
    if token_job is not None:
        lengths = token_job.result().astype(np.float64)
        truncated = float((lengths > options.max_length).mean())
        ratio = lengths.sum() / max(sample.str.len().sum(), 1)
        used = np.minimum(lengths, options.max_length)
        stats["tokens"] = {
            **_numeric_stats(lengths), "histogram": _histogram(lengths),
            "truncated_share": truncated, "max_length": options.max_length,
            "estimated_total": int(round(ratio * chars.sum())),
            # Padding every example to the longest one kept (or to max_length) wastes this share of the batch.
            "padding_waste_share": float(1 - used.mean() / used.max()) if used.max() > 0 else 0.0,
        }
    checked = min(len(sample), NEAR_DUPLICATE_ROWS)
    stats["near_duplicates"] = {
        "checked_rows": checked, "rows": near_rows, "share": near_rows / checked if checked else 0.0,
        "threshold": options.near_duplicate_threshold,
        "examples": [{"row_a": int(a), "row_b": int(b), "similarity": s,
                      "text_a": str(column.loc[a])[:300], "text_b": str(column.loc[b])[:300]} for a, b, s in pairs[:10]],
    }
    stats["languages"] = languages
    stats["pii"] = [
        {"type": f.type, "label": pii.PII_TYPES[f.type].label, "rows_in_sample": f.rows, "matches": f.matches,
         "share": f.rows / len(sample) if len(sample) else 0.0,
         "examples": [{"row": int(sample.index[r]), "text": str(sample.iloc[r])[:300]} for r in f.example_rows[:5]]}
        for f in findings
    ]
    return stats, counts


def _profile_column(name: str, column: pd.Series, sample_index: np.ndarray, options: ProfileOptions,
                    tokenizer_path: str | None) -> dict[str, Any]:
    nested = column.dtype == object and _looks_nested(column)
    counted: list[ValueCounts] = []

    def counts() -> ValueCounts:
        if not counted:
            counted.append(count_values(column))
        return counted[0]

    # A text column is known from its first values; its value_counts then run beside the text statistics.
    kind = "nested" if nested else infer_type(column, counts)
    rows = len(column)
    missing = int(column.isna().sum())
    result: dict[str, Any] = {"name": name, "type": kind, "dtype": str(column.dtype), "count": rows - missing,
                              "missing": missing, "missing_share": missing / rows if rows else 0.0}
    if kind == "nested":
        as_text = column.map(lambda v: json.dumps(v, default=str, sort_keys=True) if v is not None else None,
                             na_action="ignore")
        result["distinct"] = int(as_text.nunique())
        result["lengths"] = _numeric_stats(column.dropna().map(len).to_numpy(dtype=np.float64))
        return result
    text = None
    if kind == "text":
        text, values = _profile_text(column, sample_index, options, tokenizer_path, counted[0] if counted else None)
    else:
        values = counts()
    result["distinct"] = values.distinct
    result["distinct_share"] = result["distinct"] / (rows - missing) if rows > missing else 0.0
    result["top"] = [{"value": str(v)[:200], "count": int(c)} for v, c in values.top]
    if kind == "numeric":
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        result["numeric"] = {**_numeric_stats(values), "histogram": _histogram(values)}
    elif kind == "datetime":
        parsed = pd.to_datetime(column, errors="coerce", utc=True, format="ISO8601")
        valid = parsed.dropna()
        if len(valid):
            result["datetime"] = {"min": valid.min().isoformat(), "max": valid.max().isoformat(),
                                  "unparsed": int(parsed.isna().sum() - missing)}
            days = valid.dt.floor("D").value_counts().sort_index()
            result["datetime"]["per_day"] = {d.date().isoformat(): int(c) for d, c in days.tail(400).items()}
    elif kind == "text":
        result["text"] = text
    return result


def _alerts(profile: dict[str, Any]) -> list[Alert]:
    alerts: list[Alert] = []
    rows = profile["rows"]
    for c in profile["columns"]:
        name = c["name"]
        if c["missing_share"] >= 0.5:
            alerts.append(Alert("high", name, "missing", f"{c['missing_share']:.0%} of '{name}' is missing."))
        elif c["missing_share"] >= 0.1:
            alerts.append(Alert("medium", name, "missing", f"{c['missing_share']:.0%} of '{name}' is missing."))
        if rows > 1 and c.get("distinct") == 1:
            alerts.append(Alert("low", name, "constant", f"'{name}' holds a single value; it tells nothing apart."))
        text = c.get("text")
        if not text:
            continue
        if text["exact_duplicate_share"] >= 0.1:
            severity = "high" if text["exact_duplicate_share"] >= 0.3 else "medium"
            alerts.append(Alert(severity, name, "duplicates", f"{text['exact_duplicates']:,} rows of '{name}' "
                                f"({text['exact_duplicate_share']:.0%}) repeat an earlier row exactly."))
        near = text["near_duplicates"]
        if near["share"] >= 0.05:
            alerts.append(Alert("medium", name, "near_duplicates", f"About {near['share']:.0%} of '{name}' has a "
                                f"near-duplicate (similarity >= {near['threshold']})."))
        if text["empty_or_whitespace"]:
            alerts.append(Alert("medium", name, "empty_text", f"{text['empty_or_whitespace']:,} values of '{name}' "
                                "are empty or only white space."))
        for finding in text["pii"]:
            alerts.append(Alert("high", name, f"pii_{finding['type']}", f"'{name}' contains personal data: "
                                f"{finding['label'].lower()} in about {finding['share']:.1%} of rows; redact before "
                                "training or sharing."))
        tokens = text.get("tokens")
        if tokens:
            if tokens["truncated_share"] >= 0.5:
                alerts.append(Alert("high", name, "truncated", f"Most of '{name}' ({tokens['truncated_share']:.0%}) is "
                                    f"longer than {tokens['max_length']} tokens and would be truncated."))
            elif tokens["truncated_share"] >= 0.02:
                alerts.append(Alert("medium", name, "truncated", f"{tokens['truncated_share']:.1%} of '{name}' is "
                                    f"longer than {tokens['max_length']} tokens and would be truncated."))
            if tokens.get("p50") and tokens.get("p99", 0) >= 4 * tokens["p50"]:
                alerts.append(Alert("medium", name, "long_tail", f"'{name}' has a long tail of lengths (p99 "
                                    f"{tokens['p99']:.0f} vs median {tokens['p50']:.0f} tokens): padded batches waste "
                                    f"about {tokens['padding_waste_share']:.0%} of compute; use packing or padding-free batches."))
    fmt = profile["format"]
    if fmt["format"] != "unknown" and fmt["issue_count"]:
        alerts.append(Alert("high", None, "format", f"{fmt['issue_count']:,} row problem(s) break the "
                            f"{fmt['label'].lower()} format; see Fine-tuning readiness."))
    return sorted(alerts, key=lambda a: SEVERITY_ORDER[a.severity])


def cache_path(store: Store, version: versions.VersionInfo, options: ProfileOptions) -> Path:
    return store.settings.home / "profiles" / f"{version.sha256}-{options.key()}-v{PROFILE_FORMAT}.json"


def profile_frame(frame: pd.DataFrame, *, options: ProfileOptions = ProfileOptions(), tokenizer_path: str | None = None,
                  progress: Progress | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    steps = _Steps(len(frame.columns) + 2, progress)
    rng = np.random.default_rng(0)
    rows = len(frame)
    sample_index = np.sort(rng.choice(rows, size=options.sample_rows, replace=False)) if rows > options.sample_rows \
        else np.arange(rows)
    # Two columns at a time: most of the work is in Arrow, numpy and pandas kernels that free the GIL, and the
    # widest (text) columns start first so the others fill the second core. Progress is reported from this
    # thread only (Streamlit elements cannot be updated from worker threads).
    names = sorted(frame.columns, key=lambda c: -int(frame[c].memory_usage(deep=False)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {name: pool.submit(_profile_column, str(name), frame[name], sample_index, options, tokenizer_path)
                for name in names}
        for name in names:
            steps(f"Profiling column '{name}'")
            jobs[name].result()
    columns = [jobs[name].result() for name in frame.columns]
    steps("Checking fine-tuning readiness")
    readiness = formats.detect_format(frame)
    report: dict[str, Any] = {
        "rows": rows, "columns": columns, "format": readiness.to_dict(), "options": asdict(options),
        "sampled": rows > options.sample_rows, "sample_rows": int(len(sample_index)),
        "memory_bytes": int(frame.memory_usage(deep=False).sum()),
    }
    if readiness.format != "unknown":
        steps("Measuring training examples")
        texts = formats.training_texts(frame, readiness)
        if len(texts):
            report["training_text"], _ = _profile_text(texts, sample_index, options, tokenizer_path)
    report["alerts"] = [asdict(a) for a in _alerts(report)]
    report["elapsed_s"] = round(time.perf_counter() - started, 3)
    if progress:
        progress(1.0, "Done")
    return report


def profile_version(store: Store, *, actor: Actor, ref: str, options: ProfileOptions = ProfileOptions(),
                    progress: Progress | None = None, refresh: bool = False) -> dict[str, Any]:
    """The profile of NAME[@N], computed once per version and options, then read from the cache."""
    require(actor, Permission.VIEW_DATA_ROWS)
    version = versions.get_version(store, actor=actor, ref=ref)
    path = cache_path(store, version, options)
    if path.exists() and not refresh:
        report = json.loads(path.read_text())
        report["cached"] = True
        return report
    tokenizer = registry.get_model(store, actor=actor, name=options.tokenizer_model) if options.tokenizer_model else None
    if tokenizer is not None and not tokenizer.path:
        raise InvalidInput(f"The model '{tokenizer.name}' has no local tokenizer; choose a local model.")
    # The language model and tokenizer load while the Parquet file is read and the first columns profiled.
    textstats.warm_up(tokenizer.path if tokenizer else None)
    frame = versions.load_frame(store, actor=actor, version=version)
    report = profile_frame(frame, options=options, tokenizer_path=tokenizer.path if tokenizer else None, progress=progress)
    report.update({"dataset": version.dataset, "version": version.version, "ref": version.ref, "sha256": version.sha256})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(report, default=_json_default))
    report["cached"] = False
    return json.loads(json.dumps(report, default=_json_default))


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if math.isnan(value) else float(value)
    return str(value)
