"""The registered checks, one module each; `CHECKS` maps a name to its `Check`."""
from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from core.evaluation.checks import (
    bleu, chrf, contains, cost, equals, exact_match, is_json, json_schema, judge_pairwise, judge_rubric, latency,
    length, levenshtein, no_pii, not_contains, refusal, regex, rouge, similarity,
)
from core.evaluation.checks.base import KINDS, Check, CheckInput, CheckResult

_MODULES = (bleu, chrf, rouge, exact_match, similarity, levenshtein, equals, contains, not_contains, regex, is_json,
            json_schema, length, refusal, no_pii, latency, cost, judge_rubric, judge_pairwise)
CHECKS: dict[str, Check] = {module.CHECK.name: module.CHECK for module in _MODULES}


def get_check(name: str) -> Check:
    try:
        return CHECKS[name]
    except KeyError:
        raise InvalidInput(f"Unknown check {name!r}; valid checks are {', '.join(CHECKS)}.") from None


def run_check(name: str, inputs: list[CheckInput], params: dict[str, Any] | None = None) -> list[CheckResult]:
    """One check over a batch of inputs; `negate: true` in the parameters inverts pass/fail (promptfoo's `not-`)."""
    check = get_check(name)
    params = {**check.defaults, **(params or {})}
    results = check.run(inputs, params)
    if params.get("negate"):
        results = [CheckResult(r.value, None if r.passed is None else not r.passed, f"(negated) {r.explanation}")
                   for r in results]
    return results


__all__ = ["CHECKS", "KINDS", "Check", "CheckInput", "CheckResult", "get_check", "run_check"]
