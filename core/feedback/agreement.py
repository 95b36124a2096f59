"""Inter-annotator agreement: Krippendorff's alpha (any number of annotators, missing answers, a level of
measurement) and Cohen's kappa (two annotators), as small numpy functions over plain lists.

alpha = 1 - D_o / D_e over the coincidence matrix of values paired within each item (Krippendorff 2011,
"Computing Krippendorff's alpha-reliability"); ordinal distances use the marginal counts between two ranks, the
same definitions as the `krippendorff` package, which the tests compare against.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _codes(values: Sequence[Hashable], level: str) -> tuple[np.ndarray, list]:
    domain = domain_order(values, level)
    index = {v: i for i, v in enumerate(domain)}
    return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values)), domain


def krippendorff_alpha(units: Sequence[Hashable], values: Sequence[Hashable], level: str = "nominal") -> float | None:
    """Alpha over (unit, value) pairs, one pair per annotator's answer; units with one answer do not count.

    None when fewer than two answers share a unit, or when every paired answer is the same value (no variation:
    alpha is undefined).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    if len(units) != len(values):
        raise ValueError("units and values differ in length")
    if not len(values):
        return None
    unit_codes, _ = _codes(units, "nominal")
    value_codes, domain = _codes(values, level)
    return alpha_of_codes(unit_codes, value_codes, domain, level)


def domain_order(domain: Sequence[Hashable], level: str) -> list:
    """The values of a question in the order alpha's distances read them (numbers ascending for ordered levels)."""
    if level != "nominal":
        return sorted(set(domain), key=lambda v: (not isinstance(v, (int, float)), v))
    return sorted(set(domain), key=str)


def alpha_of_codes(unit_codes: np.ndarray, value_codes: np.ndarray, domain: Sequence[Hashable],
                   level: str = "nominal") -> float | None:
    """Alpha from answers already coded: unit_codes in 0..U-1, value_codes index `domain` (in domain_order)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    if not len(value_codes):
        return None
    n_units, n_values = int(unit_codes.max()) + 1, len(domain)
    counts = np.zeros((n_units, n_values))
    np.add.at(counts, (unit_codes, value_codes), 1.0)
    paired = counts.sum(axis=1)
    keep = paired >= 2
    counts, paired = counts[keep], paired[keep]
    if not len(counts):
        return None
    weights = 1.0 / (paired - 1.0)
    coincidence = (counts * weights[:, None]).T @ counts - np.diag((counts * weights[:, None]).sum(axis=0))
    totals = coincidence.sum(axis=1)
    n = totals.sum()
    distance = _distances(domain, totals, level)
    expected = (np.outer(totals, totals) * distance).sum() / (n - 1.0)
    if expected <= 0:
        return None
    observed = (coincidence * distance).sum()
    return float(1.0 - observed / expected)


def _distances(domain: list, totals: np.ndarray, level: str) -> np.ndarray:
    size = len(domain)
    if level == "nominal":
        return 1.0 - np.eye(size)
    if level == "ordinal":
        cumulative = np.concatenate([[0.0], np.cumsum(totals)])
        i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        low, high = np.minimum(i, j), np.maximum(i, j)
        between = cumulative[high + 1] - cumulative[low]
        return (between - (totals[i] + totals[j]) / 2.0) ** 2
    numbers = np.asarray(domain, dtype=float)
    if level == "interval":
        return (numbers[:, None] - numbers[None, :]) ** 2
    sums = numbers[:, None] + numbers[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sums == 0, 0.0, ((numbers[:, None] - numbers[None, :]) / sums) ** 2)
    return ratio


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable], weights: str | None = None) -> float | None:
    """Cohen's kappa of two annotators' answers to the same items (optionally linear or quadratic weights for
    ordered answers), as scikit-learn's cohen_kappa_score; None when undefined (no items, or no variation)."""
    if len(a) != len(b):
        raise ValueError("the two annotators' answers differ in length")
    if not len(a):
        return None
    codes, domain = _codes(list(a) + list(b), "ordinal" if weights else "nominal")
    x, y = codes[:len(a)], codes[len(a):]
    size = len(domain)
    confusion = np.zeros((size, size))
    np.add.at(confusion, (x, y), 1.0)
    expected = np.outer(confusion.sum(axis=1), confusion.sum(axis=0)) / confusion.sum()
    if weights is None:
        w = 1.0 - np.eye(size)
    else:
        grid = np.abs(np.arange(size)[:, None] - np.arange(size)[None, :]).astype(float)
        w = grid if weights == "linear" else grid ** 2
    denominator = (w * expected).sum()
    if denominator == 0:
        return None
    return float(1.0 - (w * confusion).sum() / denominator)


def majority(values: Sequence[Hashable]) -> Any:
    """The strict most common value, or None on a tie for first place."""
    tally: dict[Any, int] = {}
    for v in values:
        tally[v] = tally.get(v, 0) + 1
    if not tally:
        return None
    ranked = sorted(tally.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]
