"""Plain-language sentences about what changed, for managers: "prompts are 70% longer", "'claims' tripled"."""
from __future__ import annotations

from collections import Counter

import numpy as np

_P95_FIELDS = {"latency_s", "ttft_s"}
_UNITS = {"prompt_chars": "characters", "output_chars": "characters", "prompt_words": "words",
          "output_words": "words", "prompt_tokens": "tokens", "output_tokens": "tokens", "latency_s": "s",
          "ttft_s": "s", "tokens_out": "tokens", "tokens_in": "tokens", "cost": "USD"}
_NOUNS = {"prompt_chars": "prompts", "prompt_words": "prompts", "prompt_tokens": "prompts",
          "output_chars": "answers", "output_words": "answers", "output_tokens": "answers", "tokens_out": "answers"}


def _num(value: float, unit: str) -> str:
    text = f"{value:.2g}" if abs(value) < 10 else f"{value:,.0f}"
    return f"{text} {unit}".strip() if unit != "s" else f"{value:.2g} s"


def numeric_change(field: str, label: str, reference: np.ndarray, current: np.ndarray) -> str:
    unit = _UNITS.get(field, "")
    if np.isin(reference, (0, 1)).all() and np.isin(current, (0, 1)).all():
        return rate_change(f"the share of {label} = 1", float(np.mean(reference)), float(np.mean(current)))
    if field in _P95_FIELDS:
        before, after = float(np.percentile(reference, 95)), float(np.percentile(current, 95))
        verb = "rose" if after > before else "fell"
        return f"{label.split(' (')[0].lower()} p95 {verb} from {_num(before, unit)} to {_num(after, unit)}"
    before, after = float(np.median(reference)), float(np.median(current))
    if field in _NOUNS and before > 0:
        change = after / before - 1
        how = "longer" if change > 0 else "shorter"
        return f"{_NOUNS[field]} are {abs(change):.0%} {how} (median {_num(before, unit)} → {_num(after, unit)})"
    verb = "rose" if after > before else "fell"
    return f"the median {label.lower()} {verb} from {_num(before, unit)} to {_num(after, unit)}"


def category_change(label: str, reference: Counter, current: Counter) -> str:
    label = label.split(": ")[-1]  # "Metadata: topic" -> "topic"
    ref_total, cur_total = sum(reference.values()) or 1, sum(current.values()) or 1
    best, best_ratio = None, 0.0
    for name, n in current.items():
        share = n / cur_total
        if share < 0.05:
            continue
        ratio = share / max(reference.get(name, 0) / ref_total, 1e-3)
        if ratio > best_ratio:
            best, best_ratio = name, ratio
    if best is None or best_ratio < 1.2:
        return f"the {label.lower()} mix changed"
    before = reference.get(best, 0) / ref_total
    if before == 0:
        return f"'{best}' is new in {label.lower()} ({current[best] / cur_total:.0%} of current)"
    near = round(best_ratio)
    multiple = {2: "doubled", 3: "tripled", 4: "quadrupled"}.get(near) if abs(best_ratio - near) < 0.25 else None
    growth = multiple or f"grew {best_ratio:.1f}x"
    return f"'{best}' {growth} in {label.lower()} ({before:.0%} → {current[best] / cur_total:.0%})"


def rate_change(label: str, before: float, after: float) -> str:
    verb = "rose" if after > before else "fell"
    return f"{label.lower()} {verb} from {before:.0%} to {after:.0%}"


def summary_sentence(since: str | None, phrases: list[str], *, fields_tested: int) -> str:
    if not phrases:
        return f"No drift in the {fields_tested} fields watched" + (f" since {since}." if since else ".")
    shown = phrases[:4]
    text = "; ".join(shown) + (f"; and {len(phrases) - 4} more field(s) drifted" if len(phrases) > 4 else "")
    text = text[0].upper() + text[1:]
    return (f"Since {since}, {text[0].lower() + text[1:]}." if since else f"{text}.")
