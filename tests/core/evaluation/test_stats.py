"""The gate's statistics against scipy's."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from core.evaluation import stats


@pytest.mark.parametrize("k,n", [(0, 0), (0, 5), (1, 9), (3, 10), (5, 10), (7, 23), (12, 40)])
def test_binomial_p_matches_scipy_binomtest(k, n):
    expected = 1.0 if n == 0 else scipy_stats.binomtest(k, n, 0.5).pvalue
    assert stats.binomial_two_sided_p(k, n) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_counts_discordant_pairs_and_matches_scipy():
    candidate = [1, 1, 0, 0, 1, 0, 1, 1, 0, 0, None, 1]
    baseline = [1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1]
    result = stats.mcnemar_exact(candidate, baseline)
    assert (result.baseline_only, result.candidate_only) == (4, 2)
    assert result.p_value == pytest.approx(scipy_stats.binomtest(2, 6, 0.5).pvalue)


def test_bootstrap_interval_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(3)
    values = (rng.random(200) < 0.7).astype(float)
    ours = stats.bootstrap_mean(values, resamples=5000)
    theirs = scipy_stats.bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=5000,
                                   method="percentile", random_state=1).confidence_interval
    assert ours.value == pytest.approx(values.mean())
    assert ours.low == pytest.approx(theirs.low, abs=0.015) and ours.high == pytest.approx(theirs.high, abs=0.015)
    assert ours.low < ours.value < ours.high


def test_paired_difference_keeps_pairs_together():
    candidate = [1, 1, 1, 1, 0, None]
    baseline = [0, 1, 1, 1, 0, 1]
    diff = stats.paired_bootstrap_difference(candidate, baseline)
    assert diff.n == 5 and diff.value == pytest.approx(0.2)
    assert diff.low >= 0  # no pair is worse for the candidate: no resample can be negative
    same = stats.paired_bootstrap_difference([1, 0, 1], [1, 0, 1])
    assert (same.low, same.high) == (0.0, 0.0)


def test_empty_and_single_values():
    assert stats.bootstrap_mean([]).value is None
    one = stats.bootstrap_mean([0.5])
    assert (one.value, one.low, one.high, one.n) == (0.5, 0.5, 0.5, 1)
