"""The output matches the regular expression `value` (Python `re.search`; `ignore_case` optional)."""
import re
from typing import Any

from core.errors import InvalidInput
from core.evaluation.checks.base import Check, CheckInput, CheckResult, per_input

MAX_PATTERN = 1000


def compiled(params: dict[str, Any]) -> re.Pattern:
    pattern = params.get("value")
    if not pattern or not isinstance(pattern, str) or len(pattern) > MAX_PATTERN:
        raise InvalidInput(f"A regex check needs a pattern of 1 to {MAX_PATTERN} characters in value.")
    try:
        return re.compile(pattern, re.IGNORECASE if params.get("ignore_case") else 0)
    except re.error as exc:
        raise InvalidInput(f"The regex {pattern!r} is not valid: {exc}.") from None


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    match = compiled(params).search(item.output)
    return CheckResult(1.0 if match else 0.0, bool(match),
                       f"Matches at {match.start()}-{match.end()}." if match else "No match.")


CHECK = Check("regex", "Regex", "assertion", __doc__, per_input(one))
