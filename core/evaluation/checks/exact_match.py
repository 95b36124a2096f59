"""Exact match with the reference after trimming, collapsing whitespace and ignoring case (core.metrics)."""
from typing import Any

from core.evaluation.checks.base import Check, CheckInput, CheckResult, expected, no_reference, per_input
from core.metrics.text import exact_match


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    reference = expected(item, params)
    if reference is None:
        return no_reference()
    value = exact_match(item.output, reference)
    return CheckResult(value, value == 1.0, "Matches the reference." if value else "Differs from the reference.")


CHECK = Check("exact_match", "Exact match", "reference", __doc__, per_input(one), needs_reference=True)
