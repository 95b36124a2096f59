"""The output contains `value` (a string, or a list with `mode` any/all); `ignore_case` for case-insensitive."""
from typing import Any

from core.errors import InvalidInput
from core.evaluation.checks.base import Check, CheckInput, CheckResult, per_input


def needles(params: dict[str, Any]) -> list[str]:
    value = params.get("value")
    if value is None or value == "" or value == []:
        raise InvalidInput("A contains check needs a value: the text (or list of texts) to look for.")
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def found(item: CheckInput, params: dict[str, Any]) -> list[bool]:
    fold = bool(params.get("ignore_case"))
    haystack = item.output.casefold() if fold else item.output
    return [(n.casefold() if fold else n) in haystack for n in needles(params)]


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    hits = found(item, params)
    mode = params.get("mode", "all")
    passed = any(hits) if mode == "any" else all(hits)
    missing = [n for n, hit in zip(needles(params), hits) if not hit]
    return CheckResult(sum(hits) / len(hits), passed,
                       "Contains the expected text." if not missing else f"Missing: {', '.join(map(repr, missing))}.")


CHECK = Check("contains", "Contains", "assertion", __doc__, per_input(one), defaults={"mode": "all"})
