"""The output's length is within bounds: `min`/`max` in `unit` characters (default) or words."""
from typing import Any

from core.errors import InvalidInput
from core.evaluation.checks.base import Check, CheckInput, CheckResult, number, per_input


def one(item: CheckInput, params: dict[str, Any]) -> CheckResult:
    unit = params.get("unit", "chars")
    if unit not in ("chars", "words"):
        raise InvalidInput(f"The length unit must be chars or words, not {unit!r}.")
    low, high = number(params, "min", None), number(params, "max", None)
    if low is None and high is None:
        raise InvalidInput("A length check needs min, max or both.")
    size = len(item.output) if unit == "chars" else len(item.output.split())
    passed = (low is None or size >= low) and (high is None or size <= high)
    bounds = f"{'' if low is None else f'{low:g} ≤ '}n{'' if high is None else f' ≤ {high:g}'}"
    return CheckResult(float(size), passed, f"{size} {unit}; {'within' if passed else 'outside'} {bounds}.")


CHECK = Check("length", "Length bounds", "assertion", __doc__, per_input(one), defaults={"unit": "chars"})
