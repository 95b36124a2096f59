"""The output equals `value` (or the reference) exactly, character for character after trimming the ends."""
from typing import Any

from core.evaluation.checks.base import Check, CheckInput, CheckResult, expected, no_reference, per_input


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    want = expected(item, params)
    if want is None:
        return no_reference()
    same = item.output.strip() == want.strip()
    return CheckResult(1.0 if same else 0.0, same, "Equal." if same else "Not equal to the expected text.")


CHECK = Check("equals", "Equals", "assertion", __doc__, per_input(one))
