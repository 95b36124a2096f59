"""Chi-square test of homogeneity on the reference and current category counts."""
from __future__ import annotations

import numpy as np
from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, aligned_counts, fmt


@register("chisquare", label="Chi-square", kinds=("categorical",), score="p_value", threshold=0.05,
          help="Drift when the category mix differs with p below the threshold; suited to ~1,000 values or fewer.")
def chisquare(reference, current, *, threshold: float) -> DriftResult:
    from scipy import stats

    labels, ref, cur = aligned_counts(reference, current)
    if len(labels) < 2:
        statistic, p_value = 0.0, 1.0
    else:
        result = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    drift = p_value < threshold
    return DriftResult(test="chisquare", statistic=statistic, p_value=p_value, threshold=threshold,
                       drift_detected=drift, reference_size=int(ref.sum()), current_size=int(cur.sum()),
                       sentence=f"Chi-square {fmt(statistic)} over {len(labels)} categories, p={fmt(p_value)} "
                                f"({'below' if drift else 'not below'} {threshold}).")
