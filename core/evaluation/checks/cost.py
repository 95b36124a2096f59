"""The answer cost at most `threshold` US dollars (from the model's price table)."""
from typing import Any

from core.evaluation.checks.base import Check, CheckInput, CheckResult, number, per_input


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    limit = number(params, "threshold", 0.01)
    if item.cost_usd is None:
        return CheckResult(None, None, "No cost recorded.")
    passed = item.cost_usd <= limit
    return CheckResult(item.cost_usd, passed, f"${item.cost_usd:.6f} {'≤' if passed else '>'} ${limit:g}.")


CHECK = Check("cost", "Cost", "performance", __doc__, per_input(one), defaults={"threshold": 0.01})
