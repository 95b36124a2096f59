"""Population stability index over fixed bins: the reference's deciles, so the bins never move with the current data."""
from __future__ import annotations

import numpy as np

from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, fmt, numbers, shares_with_floor

BINS = 10


def reference_edges(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (duplicates removed); the outer bins are open."""
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def psi_value(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    ref, cur = shares_with_floor(ref_counts), shares_with_floor(cur_counts)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


@register("psi", label="Population stability index", kinds=("numeric",), score="distance", threshold=0.1,
          help="Shift across the reference's decile bins; 0.1 is a moderate, 0.25 a large change.")
def psi(reference, current, *, threshold: float, bins: int = BINS) -> DriftResult:
    ref, cur = numbers(reference, "reference"), numbers(current, "current")
    edges = reference_edges(ref, bins)
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
    value = psi_value(ref_counts.astype(float), cur_counts.astype(float))
    drift = value >= threshold
    return DriftResult(test="psi", statistic=value, p_value=None, threshold=threshold, drift_detected=drift,
                       reference_size=ref.size, current_size=cur.size,
                       sentence=f"PSI {fmt(value)} over {edges.size + 1} reference bins "
                                f"({'at or above' if drift else 'below'} {threshold}).",
                       details={"edges": edges.tolist()})
