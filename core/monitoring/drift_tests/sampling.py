"""Bounded, seeded samples for the tests whose cost grows faster than linearly (kernels, classifiers)."""
from __future__ import annotations

import numpy as np


def sample_rows(values, limit: int, seed: int) -> tuple[object, np.ndarray]:
    """At most `limit` rows of an array (or list of texts) picked uniformly without replacement, and their indices."""
    n = len(values)
    if n <= limit:
        index = np.arange(n)
    else:
        index = np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))
    if isinstance(values, np.ndarray):
        return values[index], index
    return [values[i] for i in index], index


def unit_rows(matrix) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        from core.errors import InvalidInput

        raise InvalidInput("An embedding test needs a non-empty matrix of one row per prompt.")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)
