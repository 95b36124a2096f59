"""Levenshtein (edit) distance to `value` or the reference; passes at or below `threshold` edits (default 5)."""
from typing import Any

from core.evaluation.checks.base import Check, CheckInput, CheckResult, expected, no_reference, number, per_input


def distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    want = expected(item, params)
    if want is None:
        return no_reference()
    threshold = number(params, "threshold", 5)
    edits = distance(item.output, want)
    return CheckResult(float(edits), edits <= threshold, f"{edits} edits (at most {threshold:g} pass).")


CHECK = Check("levenshtein", "Levenshtein distance", "reference", __doc__, per_input(one), needs_reference=True,
              defaults={"threshold": 5})
