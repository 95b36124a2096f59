"""Maximum mean discrepancy with an RBF kernel and a permutation test, on a bounded sample of embeddings."""
from __future__ import annotations

import numpy as np

from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, fmt
from core.monitoring.drift_tests.sampling import sample_rows

MAX_ROWS = 500  # per side: the kernel matrix is (2 * MAX_ROWS)^2
PERMUTATIONS = 200


def rbf_kernel(x: np.ndarray) -> tuple[np.ndarray, float]:
    """RBF kernel on the pooled rows with the median pairwise distance as bandwidth."""
    squared = np.sum(x * x, axis=1)
    dist2 = np.maximum(squared[:, None] + squared[None, :] - 2 * x @ x.T, 0)
    off_diagonal = dist2[np.triu_indices_from(dist2, k=1)]
    bandwidth2 = float(np.median(off_diagonal)) or 1.0
    return np.exp(-dist2 / bandwidth2), bandwidth2


def mmd2(kernel: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Biased MMD^2 for each weight column (+1/n on reference rows, -1/m on current rows)."""
    return np.einsum("ip,ip->p", weights, kernel @ weights)


@register("mmd", label="Maximum mean discrepancy", kinds=("embedding",), score="p_value", threshold=0.05,
          help=f"RBF-kernel MMD on at most {MAX_ROWS} rows per side, p-value from {PERMUTATIONS} permutations.")
def mmd(reference, current, *, threshold: float, max_rows: int = MAX_ROWS, permutations: int = PERMUTATIONS,
        seed: int = 0) -> DriftResult:
    ref, _ = sample_rows(np.asarray(reference, dtype=np.float64), max_rows, seed)
    cur, _ = sample_rows(np.asarray(current, dtype=np.float64), max_rows, seed + 1)
    n, m = len(ref), len(cur)
    kernel, bandwidth2 = rbf_kernel(np.vstack([ref, cur]))
    base = np.concatenate([np.full(n, 1 / n), np.full(m, -1 / m)])
    rng = np.random.default_rng(seed)
    weights = np.column_stack([base] + [rng.permutation(base) for _ in range(permutations)])
    values = mmd2(kernel, weights)
    observed = float(values[0])
    p_value = float((1 + np.sum(values[1:] >= observed)) / (1 + permutations))
    drift = p_value < threshold
    return DriftResult(test="mmd", statistic=observed, p_value=p_value, threshold=threshold, drift_detected=drift,
                       reference_size=len(reference), current_size=len(current),
                       sentence=f"MMD² {fmt(observed)} on {n} vs {m} sampled rows, permutation p={fmt(p_value)} "
                                f"({'below' if drift else 'not below'} {threshold}).",
                       details={"sampled": [n, m], "bandwidth2": bandwidth2, "permutations": permutations})
