"""Jensen-Shannon distance between the category shares (natural log, empty shares floored as Evidently does)."""
from __future__ import annotations

import numpy as np

from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, aligned_counts, fmt, shares_with_floor


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """scipy.spatial.distance.jensenshannon (natural log) without importing scipy: sqrt of the mean KL to the mixture."""
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    kl = lambda a: float(np.sum(np.where(a > 0, a * np.log(np.where(a > 0, a, 1) / m), 0.0)))  # noqa: E731
    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


@register("jensenshannon", label="Jensen-Shannon distance", kinds=("categorical", "rate"), score="distance",
          threshold=0.1, help="0 for the same mix, up to ~0.83 for disjoint ones; drift at or above the threshold.")
def jensenshannon(reference, current, *, threshold: float) -> DriftResult:
    labels, ref, cur = aligned_counts(reference, current)
    value = js_distance(shares_with_floor(ref), shares_with_floor(cur))
    drift = value >= threshold
    return DriftResult(test="jensenshannon", statistic=value, p_value=None, threshold=threshold, drift_detected=drift,
                       reference_size=int(ref.sum()), current_size=int(cur.sum()),
                       sentence=f"Jensen-Shannon distance {fmt(value)} over {len(labels)} categories "
                                f"({'at or above' if drift else 'below'} {threshold}).")
