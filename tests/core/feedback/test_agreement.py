"""Agreement figures equal the `krippendorff` package and scikit-learn on the same answers."""
import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from core.feedback.agreement import cohen_kappa, krippendorff_alpha, majority


def _answers(seed: int, annotators: int = 5, items: int = 40, missing: float = 0.3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, items)
    data = np.clip(truth + rng.integers(-1, 2, (annotators, items)), 1, 5).astype(float)
    data[rng.random(data.shape) < missing] = np.nan
    units, values = [], []
    for a in range(annotators):
        for u in range(items):
            if not np.isnan(data[a, u]):
                units.append(u)
                values.append(int(data[a, u]))
    return data, units, values


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_krippendorff_alpha_equals_the_krippendorff_package(level, seed):
    data, units, values = _answers(seed)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(units, values, level) == pytest.approx(expected, abs=1e-12)


def test_alpha_of_nominal_labels_that_are_strings():
    units = [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
    values = ["A", "A", "B", "B", "B", "tie", "A", "A", "B", "A"]
    codes = {"A": 0, "B": 1, "tie": 2}
    data = np.full((3, 4), np.nan)
    seen: dict[int, int] = {}
    for u, v in zip(units, values):
        data[seen.get(u, 0), u] = codes[v]
        seen[u] = seen.get(u, 0) + 1
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha(units, values, "nominal") == pytest.approx(expected)


def test_alpha_is_undefined_without_pairs_or_without_variation():
    assert krippendorff_alpha([0, 1, 2], [1, 2, 3]) is None  # no item has two answers
    assert krippendorff_alpha([0, 0, 1, 1], [3, 3, 3, 3], "ordinal") is None
    assert krippendorff_alpha([0, 0, 1, 1], [1, 1, 2, 2], "nominal") == pytest.approx(1.0)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_equals_scikit_learn(weights):
    rng = np.random.default_rng(7)
    a = rng.integers(1, 6, 80)
    b = np.where(rng.random(80) < 0.6, a, rng.integers(1, 6, 80))
    assert cohen_kappa(list(a), list(b), weights) == pytest.approx(cohen_kappa_score(a, b, weights=weights))


def test_cohen_kappa_on_labels():
    a = ["A", "B", "tie", "A", "A", "B"]
    b = ["A", "B", "A", "A", "B", "B"]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def test_majority_needs_a_strict_winner():
    assert majority(["A", "A", "B"]) == "A"
    assert majority(["A", "B"]) is None
    assert majority([]) is None
