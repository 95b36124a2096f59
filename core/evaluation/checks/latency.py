"""The answer took at most `threshold` seconds (the generation's latency)."""
from typing import Any

from core.evaluation.checks.base import Check, CheckInput, CheckResult, number, per_input


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    limit = number(params, "threshold", 5.0)
    if item.latency_s is None:
        return CheckResult(None, None, "No latency recorded.")
    passed = item.latency_s <= limit
    return CheckResult(item.latency_s, passed, f"{item.latency_s:.3f} s {'≤' if passed else '>'} {limit:g} s.")


CHECK = Check("latency", "Latency", "performance", __doc__, per_input(one), defaults={"threshold": 5.0})
