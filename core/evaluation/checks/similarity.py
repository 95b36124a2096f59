"""Cosine similarity of the output's and the reference's sentence embeddings (bundled all-MiniLM-L6-v2, -1..1);
passes at or above `threshold` (default 0.75)."""
from typing import Any

from core.errors import Unavailable
from core.evaluation.checks.base import Check, CheckInput, CheckResult, expected, no_reference, number
from core.evaluation.embedding import cosine_pairs


def run(inputs: list[CheckInput], params: dict[str, Any]) -> list[CheckResult]:
    threshold = number(params, "threshold", 0.75)
    pairs = [(i, item.output, expected(item, params)) for i, item in enumerate(inputs)]
    scorable = [(i, out, ref) for i, out, ref in pairs if ref is not None]
    results: list[CheckResult] = [no_reference()] * len(inputs)
    if not scorable:
        return results
    encode = inputs[0].encode
    if encode is None:
        raise Unavailable("The similarity check needs the bundled embedding model, which this run did not load.")
    values = cosine_pairs(encode, [out for _, out, _ in scorable], [ref for _, _, ref in scorable])
    for (i, _, _), value in zip(scorable, values):
        passed = value >= threshold
        results[i] = CheckResult(value, passed, f"Cosine similarity {value:.3f} {'≥' if passed else '<'} {threshold:g}.")
    return results


CHECK = Check("similarity", "Embedding similarity", "reference", __doc__, run, needs_reference=True,
              defaults={"threshold": 0.75})
