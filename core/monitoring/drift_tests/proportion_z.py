"""Two-proportion z-test for rates (thumbs-up, errors, guardrail hits): pooled standard error, two-sided."""
from __future__ import annotations

import math

import numpy as np
from core.errors import InvalidInput
from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, counts, fmt


def successes(values, positive: str | None) -> tuple[int, int, str | None]:
    """(successes, total): 0/1 numbers directly; labels (or counts) as the share of `positive`."""
    try:
        array = np.asarray(values, dtype=float).ravel()
        array = array[np.isfinite(array)]
        if not np.isin(array, (0.0, 1.0)).all():
            raise InvalidInput("A rate test needs values of 0 and 1 (or two categories).")
        return int(array.sum()), int(array.size), positive
    except (TypeError, ValueError):
        found = counts(values)
        if positive is None:
            positive = max(found, key=found.get) if found else None
        return found.get(positive, 0), sum(found.values()), positive


@register("proportion_z", label="Two-proportion z-test", kinds=("rate", "categorical"), score="p_value",
          threshold=0.05, help="Whether a rate changed (two-sided, pooled); drift when p is below the threshold.")
def proportion_z(reference, current, *, threshold: float, positive: str | None = None) -> DriftResult:
    ref_hits, ref_n, positive = successes(reference, positive)
    cur_hits, cur_n, positive = successes(current, positive)
    if not ref_n or not cur_n:
        raise InvalidInput(f"The {'reference' if not ref_n else 'current'} sample has no values to test.")
    p_ref, p_cur = ref_hits / ref_n, cur_hits / cur_n
    pooled = (ref_hits + cur_hits) / (ref_n + cur_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / ref_n + 1 / cur_n))
    z = 0.0 if se == 0 else (p_cur - p_ref) / se
    p_value = float(math.erfc(abs(z) / math.sqrt(2)))  # two-sided normal tail, = 2 * norm.sf(|z|)
    drift = p_value < threshold
    return DriftResult(test="proportion_z", statistic=float(z), p_value=p_value, threshold=threshold,
                       drift_detected=drift, reference_size=ref_n, current_size=cur_n,
                       sentence=f"The rate{f' of {positive}' if positive else ''} went from {p_ref:.1%} to {p_cur:.1%} "
                                f"(z={fmt(z)}, p={fmt(p_value)}; {'significant' if drift else 'not significant'} "
                                f"at {threshold}).",
                       details={"reference_rate": p_ref, "current_rate": p_cur})
