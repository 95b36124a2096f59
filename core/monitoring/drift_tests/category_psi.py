"""Population stability index over categories (each category its own bin)."""
from __future__ import annotations

from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, aligned_counts, fmt
from core.monitoring.drift_tests.psi import psi_value


@register("category_psi", label="Population stability index (categories)", kinds=("categorical",),
          score="distance", threshold=0.1, help="PSI with one bin per category; 0.1 moderate, 0.25 large.")
def category_psi(reference, current, *, threshold: float) -> DriftResult:
    labels, ref, cur = aligned_counts(reference, current)
    value = psi_value(ref, cur)
    drift = value >= threshold
    return DriftResult(test="category_psi", statistic=value, p_value=None, threshold=threshold, drift_detected=drift,
                       reference_size=int(ref.sum()), current_size=int(cur.sum()),
                       sentence=f"Category PSI {fmt(value)} over {len(labels)} categories "
                                f"({'at or above' if drift else 'below'} {threshold}).")
