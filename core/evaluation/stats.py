"""Statistics for evaluation results: bootstrap confidence intervals, paired differences and McNemar's exact test.

Pure numpy; scipy is used in the tests to check these against its own implementations. Bootstraps are seeded, so
the same results always give the same interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
SEED = 0


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None
    n: int

    def to_dict(self) -> dict:
        r = lambda x: None if x is None else round(float(x), 4)  # noqa: E731
        return {"value": r(self.value), "low": r(self.low), "high": r(self.high), "n": self.n}


def bootstrap_mean(values, *, level: float = 0.95, resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """The mean and its percentile bootstrap interval; a pass rate is the mean of 1/0 values."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return Interval(None, None, None, 0)
    mean = float(data.mean())
    if data.size == 1:
        return Interval(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(mean, float(low), float(high), int(data.size))


def paired_bootstrap_difference(candidate, baseline, *, level: float = 0.95, resamples: int = RESAMPLES,
                                seed: int = SEED) -> Interval:
    """Mean of candidate - baseline over the same cases (pairs with a missing side left out), with a bootstrap
    interval that resamples cases, keeping each case's pair together."""
    pairs = [(c, b) for c, b in zip(candidate, baseline) if c is not None and b is not None]
    return bootstrap_mean([float(c) - float(b) for c, b in pairs], level=level, resamples=resamples, seed=seed)


@dataclass(frozen=True)
class McNemar:
    baseline_only: int  # cases passing for the baseline only (b)
    candidate_only: int  # cases passing for the candidate only (c)
    p_value: float  # exact two-sided binomial test of b vs c under p = 0.5

    def to_dict(self) -> dict:
        return {"baseline_only": self.baseline_only, "candidate_only": self.candidate_only,
                "p_value": round(self.p_value, 6)}


def binomial_two_sided_p(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n trials under p = 0.5 (what scipy.stats.binomtest computes)."""
    if n == 0:
        return 1.0
    probabilities = [math.comb(n, i) / 2 ** n for i in range(n + 1)]
    observed = probabilities[k]
    # outcomes as or less likely than the observed one (with binomtest's relative tolerance)
    return min(1.0, sum(p for p in probabilities if p <= observed * (1 + 1e-7)))


def mcnemar_exact(candidate_passed, baseline_passed) -> McNemar:
    """McNemar's exact test on paired pass/fail outcomes (None on either side leaves the case out)."""
    b = c = 0
    for cand, base in zip(candidate_passed, baseline_passed):
        if cand is None or base is None:
            continue
        if base and not cand:
            b += 1
        elif cand and not base:
            c += 1
    return McNemar(b, c, binomial_two_sided_p(min(b, c), b + c))
