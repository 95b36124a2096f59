"""Novelty: the share of current prompts far from every reference prompt (cosine similarity of embeddings).

A current row is novel when its nearest reference row is less similar than `similarity`. The reference's own
rate (its second half against its first) is subtracted, so the statistic is the excess of novel prompts.
"""
from __future__ import annotations

import numpy as np

from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult
from core.monitoring.drift_tests.sampling import sample_rows, unit_rows

MAX_ROWS = 5000
SIMILARITY = 0.5


def nearest_similarity(queries: np.ndarray, pool: np.ndarray, chunk: int = 2048) -> np.ndarray:
    return np.concatenate([np.max(queries[i:i + chunk] @ pool.T, axis=1) for i in range(0, len(queries), chunk)])


@register("novelty", label="Novel-prompt share", kinds=("embedding",), score="distance", threshold=0.1,
          help=f"Share of current prompts with no reference prompt within cosine {SIMILARITY}, minus the reference's "
               "own share; drift at or above the threshold.")
def novelty(reference, current, *, threshold: float, similarity: float = SIMILARITY, max_rows: int = MAX_ROWS,
            seed: int = 0) -> DriftResult:
    ref, _ = sample_rows(unit_rows(reference), max_rows, seed)
    cur, cur_index = sample_rows(unit_rows(current), max_rows, seed + 1)
    half = len(ref) // 2
    shuffled = ref[np.random.default_rng(seed + 2).permutation(len(ref))]
    baseline = float(np.mean(nearest_similarity(shuffled[half:], shuffled[:half]) < similarity)) if half else 0.0
    nearest = nearest_similarity(cur, ref)
    share = float(np.mean(nearest < similarity))
    excess = share - baseline
    drift = excess >= threshold
    most_novel = np.argsort(nearest)[:10]
    return DriftResult(test="novelty", statistic=excess, p_value=None, threshold=threshold, drift_detected=drift,
                       reference_size=len(reference), current_size=len(current),
                       sentence=f"{share:.1%} of current prompts are unlike any reference prompt "
                                f"(the reference itself: {baseline:.1%}).",
                       details={"novel_share": share, "reference_novel_share": baseline,
                                "most_novel": [int(cur_index[i]) for i in most_novel],
                                "most_novel_similarity": [float(nearest[i]) for i in most_novel]})
