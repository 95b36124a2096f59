"""The drift test registry: each test's value agrees with scipy on the same data, and its verdict with an obvious shift."""
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from core.errors import InvalidInput
from core.monitoring import drift_tests

RNG = np.random.default_rng(11)  # seeded: the "same distribution" pairs are not among the 5% false alarms
SAME_A, SAME_B = RNG.normal(10, 2, 800), RNG.normal(10, 2, 800)
SHIFTED = RNG.normal(12, 2, 800)
CATS_REF = RNG.choice(["billing", "claims", "login"], 900, p=[0.5, 0.2, 0.3])
CATS_SAME = RNG.choice(["billing", "claims", "login"], 900, p=[0.5, 0.2, 0.3])
CATS_SHIFT = RNG.choice(["billing", "claims", "login", "travel"], 900, p=[0.3, 0.45, 0.15, 0.1])


def run(name, ref, cur, **kw):
    return drift_tests.get(name)(ref, cur, **kw)


def test_every_registered_test_has_a_test_here():
    source = Path(__file__).read_text()
    names = set(drift_tests.load_all())
    tested = set(re.findall(r"^def test_(\w+?)__", source, flags=re.M))
    assert names == tested, f"untested: {sorted(names - tested)}; unknown: {sorted(tested - names)}"


def test_ks__equals_scipy_and_flags_a_shift():
    result = run("ks", SAME_A, SHIFTED)
    expected = stats.ks_2samp(SAME_A, SHIFTED)
    assert result.statistic == pytest.approx(expected.statistic) and result.p_value == pytest.approx(expected.pvalue)
    assert result.drift_detected and not run("ks", SAME_A, SAME_B).drift_detected
    assert (result.reference_size, result.current_size) == (800, 800)


def test_wasserstein__is_scipys_distance_over_the_reference_std():
    result = run("wasserstein", SAME_A, SHIFTED)
    assert result.statistic == pytest.approx(stats.wasserstein_distance(SAME_A, SHIFTED) / np.std(SAME_A))
    assert result.p_value is None and result.drift_detected and result.statistic == pytest.approx(1.0, abs=0.15)
    assert not run("wasserstein", SAME_A, SAME_B).drift_detected


def test_psi__uses_the_reference_deciles_and_matches_the_formula():
    result = run("psi", SAME_A, SHIFTED)
    edges = np.quantile(SAME_A, np.linspace(0, 1, 11)[1:-1])
    ref = np.histogram(SAME_A, bins=[-np.inf, *edges, np.inf])[0] / 800
    cur = np.histogram(SHIFTED, bins=[-np.inf, *edges, np.inf])[0] / 800
    ref, cur = np.where(ref == 0, 1e-4, ref), np.where(cur == 0, 1e-4, cur)
    assert result.statistic == pytest.approx(np.sum((cur - ref) * np.log(cur / ref)), rel=1e-6)
    assert result.drift_detected and not run("psi", SAME_A, SAME_B).drift_detected


def test_anderson__equals_scipys_k_sample_test():
    result = run("anderson", SAME_A, SHIFTED)
    expected = stats.anderson_ksamp([SAME_A, SHIFTED])
    assert result.statistic == pytest.approx(expected.statistic) and result.p_value == pytest.approx(expected.pvalue)
    assert result.drift_detected and not run("anderson", SAME_A, SAME_B).drift_detected


def test_chisquare__equals_scipys_contingency_test_and_takes_counts():
    result = run("chisquare", CATS_REF, CATS_SHIFT)
    ref = [np.sum(CATS_REF == c) for c in ("billing", "claims", "login", "travel")]
    cur = [np.sum(CATS_SHIFT == c) for c in ("billing", "claims", "login", "travel")]
    expected = stats.chi2_contingency([ref, cur], correction=False)
    assert result.statistic == pytest.approx(expected.statistic) and result.p_value == pytest.approx(expected.pvalue)
    assert result.drift_detected and not run("chisquare", CATS_REF, CATS_SAME).drift_detected
    as_counts = run("chisquare", dict(zip(("billing", "claims", "login", "travel"), ref)),
                    dict(zip(("billing", "claims", "login", "travel"), cur)))
    assert as_counts.statistic == pytest.approx(result.statistic)


def test_jensenshannon__equals_scipy_on_the_shares():
    result = run("jensenshannon", {"a": 50, "b": 50}, {"a": 80, "b": 20})
    assert result.statistic == pytest.approx(distance.jensenshannon([0.5, 0.5], [0.8, 0.2]))
    assert result.drift_detected
    assert not run("jensenshannon", CATS_REF, CATS_SAME).drift_detected


def test_category_psi__matches_the_formula_with_floored_shares():
    result = run("category_psi", {"a": 50, "b": 50}, {"a": 80, "b": 20})
    assert result.statistic == pytest.approx((0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5))
    unseen = run("category_psi", {"a": 100}, {"a": 90, "z": 10})
    assert unseen.statistic == pytest.approx((0.9 - 1) * math.log(0.9) + (0.1 - 1e-4) * math.log(0.1 / 1e-4))


def test_new_categories__is_the_share_of_unseen_values():
    result = run("new_categories", CATS_REF, CATS_SHIFT)
    assert result.statistic == pytest.approx(np.mean(CATS_SHIFT == "travel"))
    assert result.drift_detected and list(result.details["new_categories"]) == ["travel"]
    assert run("new_categories", CATS_REF, CATS_SAME).statistic == 0


def test_proportion_z__matches_the_pooled_formula_for_rates():
    ref = np.r_[np.ones(72), np.zeros(28)]
    cur = np.r_[np.ones(55), np.zeros(45)]
    result = run("proportion_z", ref, cur)
    pooled = (72 + 55) / 200
    z = (0.55 - 0.72) / math.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert result.statistic == pytest.approx(z) and result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert result.drift_detected and result.details["current_rate"] == pytest.approx(0.55)
    with pytest.raises(InvalidInput, match="values of 0 and 1"):
        run("proportion_z", [0, 1, 2], [1, 0])


def test_mmd__flags_shifted_embeddings_not_same_ones():
    a, b = RNG.normal(size=(300, 8)), RNG.normal(size=(300, 8))
    assert not run("mmd", a, b).drift_detected
    shifted = run("mmd", a, RNG.normal(size=(300, 8)) + 0.5)
    assert shifted.drift_detected and shifted.p_value == pytest.approx(1 / 201)
    bounded = run("mmd", RNG.normal(size=(2000, 8)), RNG.normal(size=(1500, 8)), max_rows=100)
    assert bounded.details["sampled"] == [100, 100] and bounded.reference_size == 2000


def test_domain_classifier__separates_changed_texts_and_names_the_words_that_grew():
    ref = [f"how do I reset my password for account {i}" for i in range(200)]
    cur = [f"my insurance claim number {i} was refused" for i in range(100)] + ref[:100]
    result = run("domain_classifier", ref, cur)
    assert result.drift_detected and result.statistic > 0.7
    assert {"claim", "insurance"} <= set(result.details["words_towards_current"])
    same = run("domain_classifier", RNG.normal(size=(400, 8)), RNG.normal(size=(400, 8)))
    assert not same.drift_detected


def test_novelty__counts_prompts_far_from_every_reference_prompt():
    centres = np.eye(8)[:4]
    ref = np.repeat(centres, 50, axis=0) + RNG.normal(scale=0.05, size=(200, 8))
    new_topic = np.eye(8)[6] + RNG.normal(scale=0.05, size=(40, 8))
    cur = np.vstack([np.repeat(centres, 40, axis=0), new_topic])
    result = run("novelty", ref, cur)
    assert result.details["novel_share"] == pytest.approx(40 / 200)
    assert result.drift_detected and all(i >= 160 for i in result.details["most_novel"][:10])


def test_defaults_follow_evidentlys_small_and_large_sample_logic():
    pick = drift_tests.default_test
    assert pick("numeric", reference_size=1000, n_unique=50) == "ks"
    assert pick("numeric", reference_size=1001, n_unique=50) == "wasserstein"
    assert pick("numeric", reference_size=500, n_unique=4) == "chisquare"
    assert pick("categorical", reference_size=500, n_unique=2) == "proportion_z"
    assert pick("categorical", reference_size=5000, n_unique=9) == "jensenshannon"
    assert pick("rate", reference_size=200) == "proportion_z"
    assert pick("text", reference_size=200) == "domain_classifier"
    assert pick("embedding", reference_size=200) == "mmd"
    with pytest.raises(InvalidInput, match="not a drift test"):
        drift_tests.get("t_test")
