"""ROUGE F-measure against the reference (rouge-score, stemmed, 0-1): `variant` rouge1 (default), rouge2 or rougeL;
passes at or above `threshold`."""
from typing import Any

from core.errors import InvalidInput
from core.evaluation.checks._metric import metric_runner
from core.evaluation.checks.base import Check, CheckInput, CheckResult

VARIANTS = ("rouge1", "rouge2", "rougeL")


def run(inputs: list[CheckInput], params: dict[str, Any]) -> list[CheckResult]:
    variant = str(params.get("variant") or "rouge1")
    if variant not in VARIANTS:
        raise InvalidInput(f"The ROUGE variant must be one of {', '.join(VARIANTS)}, not {variant!r}.")
    return metric_runner(variant, 0.3, "0-1")(inputs, {**params, "variant": variant})


CHECK = Check("rouge", "ROUGE", "reference", __doc__, run, needs_reference=True,
              defaults={"variant": "rouge1", "threshold": 0.3})
