"""k-sample Anderson-Darling test: like Kolmogorov-Smirnov but more sensitive in the tails."""
from __future__ import annotations

import warnings

from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, fmt, numbers


@register("anderson", label="Anderson-Darling (k-sample)", kinds=("numeric",), score="p_value", threshold=0.05,
          help="Drift when the p-value is below the threshold; scipy caps p-values to 0.001-0.25.")
def anderson(reference, current, *, threshold: float) -> DriftResult:
    from scipy import stats

    ref, cur = numbers(reference, "reference"), numbers(current, "current")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns when it caps the p-value at 0.001 or 0.25
        result = stats.anderson_ksamp([ref, cur])
    p_value = float(result.pvalue)
    drift = p_value < threshold
    return DriftResult(test="anderson", statistic=float(result.statistic), p_value=p_value, threshold=threshold,
                       drift_detected=drift, reference_size=ref.size, current_size=cur.size,
                       sentence=f"Anderson-Darling A={fmt(result.statistic)}, p≈{fmt(p_value)} "
                                f"({'below' if drift else 'not below'} {threshold}).")
