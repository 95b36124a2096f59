"""Wasserstein (earth mover's) distance divided by the reference's standard deviation, as Evidently norms it."""
from __future__ import annotations

import numpy as np
from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, fmt, numbers


def wasserstein_1d(u: np.ndarray, v: np.ndarray) -> float:
    """scipy.stats.wasserstein_distance (the area between the two empirical CDFs) without importing scipy."""
    u, v = np.sort(u), np.sort(v)
    points = np.sort(np.concatenate([u, v]))
    deltas = np.diff(points)
    u_cdf = np.searchsorted(u, points[:-1], side="right") / u.size
    v_cdf = np.searchsorted(v, points[:-1], side="right") / v.size
    return float(np.sum(np.abs(u_cdf - v_cdf) * deltas))


@register("wasserstein", label="Wasserstein distance (normed)", kinds=("numeric",), score="distance", threshold=0.1,
          help="How far values moved, in reference standard deviations; drift at or above the threshold.")
def wasserstein(reference, current, *, threshold: float) -> DriftResult:
    ref, cur = numbers(reference, "reference"), numbers(current, "current")
    spread = max(float(np.std(ref)), 0.001)
    distance = wasserstein_1d(ref, cur) / spread
    drift = distance >= threshold
    return DriftResult(test="wasserstein", statistic=distance, p_value=None, threshold=threshold,
                       drift_detected=drift, reference_size=ref.size, current_size=cur.size,
                       sentence=f"Values moved {fmt(distance)} reference standard deviations "
                                f"({'at or above' if drift else 'below'} {threshold}).",
                       details={"reference_std": spread})
