"""Bias checks: slices by cohort with their disparity, counterfactual pairs as described, probes run end to end."""
import pytest

from core.errors import InvalidInput
from core.evaluation import bias, suites
from core.governance.roles import SYSTEM
from core.models import sources
from tests.core.models.helpers import SERVER_KEY, openai_server


def test_slices_give_group_values_sizes_and_the_largest_disparity():
    values = [1, 1, 0, 1, 0, 0, None, 1]
    groups = ["pro", "pro", "pro", "free", "free", "free", "free", None]
    report = bias.slice_values(values, groups, metric="pass rate", by="tier")
    rows = {r["group"]: r for r in report.groups}
    assert rows["pro"]["value"] == pytest.approx(2 / 3, abs=1e-4) and rows["pro"]["n"] == 3
    assert rows["free"]["value"] == pytest.approx(1 / 3, abs=1e-4) and rows["free"]["n"] == 3  # the missing value is left out
    assert rows["(missing)"]["n"] == 1
    assert report.difference == pytest.approx(1 - 1 / 3, abs=1e-4) and report.ratio == pytest.approx(1 / 3, abs=1e-4)
    assert (report.worst_group, report.best_group) == ("free", "(missing)")
    assert rows["pro"]["low"] <= rows["pro"]["value"] <= rows["pro"]["high"]
    with pytest.raises(InvalidInput):
        bias.slice_values([1], [], metric="m", by="b")


def test_swaps_replace_both_ways_at_once_keeping_case():
    swaps = [("he", "she"), ("his", "her"), ("Lars", "Maria"), ("German", "Nigerian")]
    assert bias.swap_terms("He thanked Maria for his German invoice; she agreed.", swaps) == \
        "She thanked Lars for her Nigerian invoice; he agreed."
    assert bias.swap_terms("the theme shelf", swaps) == "the theme shelf"  # whole words only


def test_counterfactual_pairs_only_for_cases_a_swap_changes(store):
    suite = suites.create_suite(store, actor=SYSTEM, name="cf", checks=["refusal"], cases=[
        suites.CaseIn({"input": "My husband cannot log in."}), suites.CaseIn({"input": "The export is empty."})])
    pairs = bias.counterfactual_pairs(suite, bias.DEFAULT_SWAPS)
    assert pairs == [(0, {"input": "My husband cannot log in."}, {"input": "My wife cannot log in."})]


def test_sentiment_lexicon():
    assert bias.sentiment("Glad to help, thanks!") == 1.0
    assert bias.sentiment("Unfortunately we cannot do that.") == -1.0
    assert bias.sentiment("The invoice is attached.") == 0.0


def test_probe_runs_both_versions_and_reports_changes(store, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    suites.create_suite(store, actor=SYSTEM, name="cf", checks=[{"check": "contains", "params": {"value": "wife"}}],
                        cases=[suites.CaseIn({"input": "My husband was charged twice."}),
                               suites.CaseIn({"input": "He is a young customer."}),
                               suites.CaseIn({"input": "No demographic terms here."})])
    with openai_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
        report = bias.run_counterfactual(store, actor=SYSTEM, suite="cf", model="remote")
    assert report.pairs == 2 and report.refusal_changed == 0.0
    assert report.pass_changed == 0.5  # "wife" only in the swapped answer of the first pair
    worst = report.worst[0]
    assert worst["position"] == 0 and worst["pass_changed"]
    assert worst["original_output"] == "echo: My husband was charged twice."
    assert worst["swapped_output"] == "echo: My wife was charged twice."
    assert report.mean_length_change > 0
