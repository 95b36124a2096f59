"""The common interface of drift tests: a registry entry and the result every test returns."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.errors import InvalidInput

EPS = 1e-4  # the share given to an empty bin or category in PSI and Jensen-Shannon, as Evidently does


@dataclass(frozen=True)
class DriftResult:
    test: str
    statistic: float
    p_value: float | None  # None for distances: the statistic itself is compared with the threshold
    threshold: float
    drift_detected: bool
    reference_size: int
    current_size: int
    sentence: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftTest:
    name: str
    label: str
    kinds: tuple[str, ...]  # numeric, categorical, rate, text, embedding
    score: str  # "p_value" (drift below the threshold) or "distance" (drift at or above it)
    threshold: float
    func: Callable[..., DriftResult]
    help: str

    def __call__(self, reference, current, *, threshold: float | None = None, **options) -> DriftResult:
        return self.func(reference, current, threshold=self.threshold if threshold is None else threshold, **options)


def numbers(values, what: str) -> np.ndarray:
    """A float array without missing values; at least one value is required."""
    array = np.asarray(values, dtype=float).ravel()
    array = array[np.isfinite(array)]
    if array.size == 0:
        raise InvalidInput(f"The {what} sample has no numeric values to test.")
    return array


def counts(values) -> dict[str, int]:
    """Category counts from an array of labels or from a mapping label -> count (missing values dropped)."""
    if isinstance(values, Mapping):
        return {str(k): int(v) for k, v in values.items() if v}
    import pandas as pd

    series = pd.Series(np.asarray(values, dtype=object).ravel()).dropna()
    return {str(k): int(v) for k, v in series.astype(str).value_counts(sort=False).items()}


def aligned_counts(reference, current, what: str = "") -> tuple[list[str], np.ndarray, np.ndarray]:
    ref, cur = counts(reference), counts(current)
    if not ref or not cur:
        raise InvalidInput(f"The {'reference' if not ref else 'current'} sample has no values to test{what}.")
    labels = sorted(set(ref) | set(cur))
    return labels, np.array([ref.get(k, 0) for k in labels], float), np.array([cur.get(k, 0) for k in labels], float)


def shares_with_floor(values: np.ndarray) -> np.ndarray:
    shares = values / values.sum()
    return np.where(shares == 0, EPS, shares)


def verdict(score: str, statistic: float, p_value: float | None, threshold: float) -> bool:
    if score == "p_value":
        return bool(p_value is not None and p_value < threshold)
    return bool(statistic >= threshold)


def fmt(x: float) -> str:
    if x == 0 or 0.001 <= abs(x) < 10_000:
        return f"{x:.3g}"
    return f"{x:.2e}"
