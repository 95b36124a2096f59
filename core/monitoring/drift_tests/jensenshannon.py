"""Jensen-Shannon distance between the category shares (natural log, empty shares floored as Evidently does)."""
from __future__ import annotations

from scipy.spatial import distance

from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, aligned_counts, fmt, shares_with_floor


@register("jensenshannon", label="Jensen-Shannon distance", kinds=("categorical", "rate"), score="distance",
          threshold=0.1, help="0 for the same mix, up to ~0.83 for disjoint ones; drift at or above the threshold.")
def jensenshannon(reference, current, *, threshold: float) -> DriftResult:
    labels, ref, cur = aligned_counts(reference, current)
    value = float(distance.jensenshannon(shares_with_floor(ref), shares_with_floor(cur)))
    drift = value >= threshold
    return DriftResult(test="jensenshannon", statistic=value, p_value=None, threshold=threshold, drift_detected=drift,
                       reference_size=int(ref.sum()), current_size=int(cur.sum()),
                       sentence=f"Jensen-Shannon distance {fmt(value)} over {len(labels)} categories "
                                f"({'at or above' if drift else 'below'} {threshold}).")
