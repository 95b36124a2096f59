"""The output contains none of `value` (a string or a list); `ignore_case` for case-insensitive."""
from typing import Any

from core.evaluation.checks.base import Check, CheckInput, CheckResult, per_input
from core.evaluation.checks.contains import found, needles


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    hits = [n for n, hit in zip(needles(params), found(item, params)) if hit]
    return CheckResult(0.0 if hits else 1.0, not hits,
                       f"Contains {', '.join(map(repr, hits))}." if hits else "None of the forbidden text.")


CHECK = Check("not_contains", "Does not contain", "assertion", __doc__, per_input(one))
