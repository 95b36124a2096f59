"""The fields a monitor can watch, what kind each is, and how its values come out of raw event or dataset columns.

Raw columns are read into a frame with canonical names: `prompt` and `output` (text), `time`, event columns
(`latency_s`, `status`, ...), `guard_flags`, and `meta.KEY` (an event's metadata key, or a dataset column KEY).
`values(field, frame)` turns that frame into the field's values. Text-derived fields that cost more than a
string length (language, personal data, out-of-vocabulary share, embeddings) are computed on each side's
bounded text sample, not on every row; the report says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import InvalidInput

KINDS = ("numeric", "categorical", "rate", "text", "embedding")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str
    label: str
    needs: str  # the canonical raw column it is made from
    sampled: bool = False  # computed on the bounded text sample

    @property
    def shows_text(self) -> bool:
        return self.kind in ("text", "embedding")


_EVENT_NUMBERS = {"latency_s": "Latency (s)", "ttft_s": "Time to first token (s)", "tokens_in": "Tokens in",
                  "tokens_out": "Tokens out", "cost": "Cost (USD)", "feedback_score": "Feedback score"}
_EVENT_CATEGORIES = {"model": "Model", "deployment": "Deployment", "deployment_version": "Deployment version",
                     "arm": "A/B arm", "application": "Application", "status": "Status",
                     "finish_reason": "Finish reason", "template_version": "Template version"}

BUILT_IN: dict[str, FieldSpec] = {
    spec.name: spec for spec in [
        FieldSpec("prompt_chars", "numeric", "Prompt length (characters)", "prompt"),
        FieldSpec("prompt_words", "numeric", "Prompt length (words)", "prompt"),
        FieldSpec("prompt_tokens", "numeric", "Prompt length (tokens)", "prompt"),
        FieldSpec("output_chars", "numeric", "Output length (characters)", "output"),
        FieldSpec("output_words", "numeric", "Output length (words)", "output"),
        FieldSpec("output_tokens", "numeric", "Output length (tokens)", "output"),
        FieldSpec("hour_of_day", "numeric", "Time of day (UTC hour)", "time"),
        *(FieldSpec(name, "numeric", label, name) for name, label in _EVENT_NUMBERS.items()),
        *(FieldSpec(name, "categorical", label, name) for name, label in _EVENT_CATEGORIES.items()),
        FieldSpec("thumbs_up", "rate", "Thumbs-up rate", "feedback_score"),
        FieldSpec("error", "rate", "Error rate", "status"),
        FieldSpec("guard_flagged", "rate", "Guardrail flag rate", "guard_flags"),
        FieldSpec("prompt_language", "categorical", "Prompt language", "prompt", sampled=True),
        FieldSpec("prompt_pii", "rate", "Prompts with personal data", "prompt", sampled=True),
        FieldSpec("prompt_oov_share", "numeric", "Prompt words unseen in the reference", "prompt", sampled=True),
        FieldSpec("prompt", "text", "Prompt text", "prompt", sampled=True),
        FieldSpec("output", "text", "Output text", "output", sampled=True),
        FieldSpec("prompt_embedding", "embedding", "Prompt meaning (MiniLM embedding)", "prompt", sampled=True),
        FieldSpec("output_embedding", "embedding", "Output meaning (MiniLM embedding)", "output", sampled=True),
    ]
}

# Shown when a monitor or a drift report is given no field list and both sides are events.
DEFAULT_EVENT_FIELDS = ("prompt_chars", "output_chars", "latency_s", "tokens_out", "thumbs_up", "error",
                        "guard_flagged", "prompt_language", "prompt")


def spec(name: str, *, dataset_columns: dict[str, str] | None = None) -> FieldSpec:
    """The field called `name`: a built-in, `meta.KEY`, or (for datasets) a column by its name."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    if name.startswith("meta."):
        key = name[5:]
        if not key:
            raise InvalidInput("Write a metadata field as meta.KEY, e.g. meta.topic.")
        kind = (dataset_columns or {}).get(key, "categorical")
        return FieldSpec(name, "numeric" if kind == "numeric" else "categorical", f"Metadata: {key}", name)
    if dataset_columns and dataset_columns.get(name) in ("numeric", "categorical", "text"):
        kind = dataset_columns[name]
        return FieldSpec(name, kind, name, f"meta.{name}", sampled=kind == "text")
    raise InvalidInput(f"'{name}' is not a field; use one of {', '.join(sorted(BUILT_IN))}, meta.KEY, "
                       "or a dataset column.")


def word_lists(texts: pd.Series) -> list[list[str]]:
    return [str(t).lower().split() for t in texts]


def values(field: FieldSpec, frame: pd.DataFrame, *, models_dir=None) -> pd.Series:
    """The field's values for each row of `frame` (missing where the row has none), for row-wise fields."""
    name = field.name
    if name in frame.columns and name != field.needs:  # derived once per event (core/monitoring/text_fields.py)
        return pd.to_numeric(frame[name], errors="coerce").astype("float64")
    raw = frame[field.needs]
    if name in ("prompt_chars", "output_chars"):
        return raw.str.len().astype("float64")
    if name in ("prompt_words", "output_words"):
        return raw.map(lambda t: float(len(t.split())) if isinstance(t, str) else np.nan)
    if name in ("prompt_tokens", "output_tokens"):
        return _token_counts(raw, models_dir)
    if name == "hour_of_day":
        times = pd.to_datetime(raw, utc=True)
        return (times.dt.hour + times.dt.minute / 60).astype("float64")
    if name == "thumbs_up":
        score = pd.to_numeric(raw, errors="coerce")
        return (score >= 0.5).astype("float64").where(score.notna())
    if name == "error":
        return (raw != "ok").astype("float64").where(raw.notna())
    if name == "guard_flagged":
        if pd.api.types.is_numeric_dtype(raw):  # events: 0/1 from SQL (core.monitoring.sources.iter_events)
            return (raw > 0).astype("float64")
        return raw.map(lambda flags: 1.0 if isinstance(flags, list) and flags else 0.0)
    if field.kind == "numeric":
        return pd.to_numeric(raw, errors="coerce").astype("float64")
    if field.kind == "categorical":
        return raw.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    raise InvalidInput(f"The field {name} is computed on the text sample, not row by row.")


def _token_counts(texts: pd.Series, models_dir) -> pd.Series:
    from core.data.textstats import token_lengths
    from core.models import bundled

    if models_dir is None or not bundled.is_installed(models_dir, bundled.CHAT_MODEL):
        raise InvalidInput("Token counts need the bundled chat model's tokenizer; run `workbench init`.")
    present = texts.notna()
    out = pd.Series(np.nan, index=texts.index)
    if present.any():
        folder = str(bundled.store_path(models_dir, bundled.CHAT_MODEL))
        out[present] = token_lengths(texts[present].astype(str).tolist(), folder).astype("float64")
    return out


def sampled_values(field: FieldSpec, texts: list[str], *, reference_vocabulary: set[str] | None = None):
    """Values of a sampled field from a side's text sample (language labels, 0/1 PII flags, OOV shares)."""
    if field.name == "prompt_language":
        from core.data.textstats import language_identifier

        identifier = language_identifier()
        return [identifier.classify(t)[0] if len(t.strip()) >= 12 else "short" for t in texts]
    if field.name == "prompt_pii":
        from core.data.pii import redact_text

        return np.array([1.0 if redact_text(t)[1] else 0.0 for t in texts])
    if field.name == "prompt_oov_share":
        vocabulary = reference_vocabulary or set()
        shares = [np.mean([w not in vocabulary for w in words]) if words else np.nan for words in word_lists(pd.Series(texts))]
        return np.asarray(shares, dtype=float)
    return texts
