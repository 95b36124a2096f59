"""Viewers (managers) read evaluation figures but never case text: not the prompts, references or answers, and
not the explanations, judge reasons, flipped cases, case-check parameters or counterfactual pairs that quote
them. Every path is asserted against the same run a data scientist reads in full."""
import pytest

from core.evaluation import bias, runs, suites
from core.governance.roles import SYSTEM, Actor, Role
from core.jobs import actions
from core.models import sources
from tests.core.models.helpers import EchoAndPolite, SERVER_KEY, openai_server

VIEWER = Actor(name="vic", role=Role.VIEWER)
SCIENTIST = Actor(name="dan", role=Role.DATA_SCIENTIST)
PROMPT = "Please refund my husband's order ZEBRA-4711"  # the remote model echoes it back
REFERENCE = "We refunded order ZEBRA-4711 today"
SECRETS = ("ZEBRA", "4711", "husband")


@pytest.fixture
def remote(store, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    with openai_server(EchoAndPolite) as url:
        for name, model in (("remote", "tiny-chat"), ("polite", "polite")):
            sources.add_endpoint(store, actor=SYSTEM, name=name, base_url=url, model=model,
                                 api_key_env="TEST_ENDPOINT_KEY")
        yield "remote"


def _suite(store):
    return suites.create_suite(store, actor=SYSTEM, name="faq", cases=[
        suites.CaseIn({"input": PROMPT}, reference=REFERENCE),
        suites.CaseIn({"input": "Hello there"}, reference="Hi",
                      checks=[{"check": "equals", "params": {"value": "ZEBRA-4711 refunded"}}])],
        checks=[{"check": "not_contains", "params": {"value": "4711"}, "label": "no order number"},
                {"check": "refusal"},
                {"check": "judge_rubric", "params": {"rubric": "Polite?", "threshold": 3}}])


def _leaks(value) -> list[str]:
    text = str(value)
    return [s for s in SECRETS if s in text]


def test_explanations_and_judge_reasons_are_withheld_from_viewers(store, remote):
    _suite(store)
    run = runs.run_evaluation(store, actor=SYSTEM, suite="faq", models=["remote"], judge="remote")
    full = runs.get_run(store, actor=SCIENTIST, run_id=run.id)
    why = {c["check"]: c["explanation"] for c in full.by_model()["remote"][0].checks}
    assert "4711" in why["not_contains"]  # explanations quote what they found in the answer
    assert why["judge_rubric"].startswith("The judge gave no score: ")  # and part of the judge's reply
    seen = runs.get_run(store, actor=VIEWER, run_id=run.id)
    for result in seen.results:
        assert result.output is None and result.error is None
        assert {c["explanation"] for c in result.checks} == {runs.WITHHELD}
    # the figures are the same for both
    assert [[(c["check"], c["passed"], c["value"]) for c in r.checks] for r in seen.results] == \
        [[(c["check"], c["passed"], c["value"]) for c in r.checks] for r in full.results]
    assert not _leaks(seen)
    assert not _leaks(runs.report(store, actor=VIEWER, run_id=run.id))
    assert _leaks(runs.report(store, actor=SCIENTIST, run_id=run.id))


def test_case_checks_parameters_are_withheld_from_viewers(store):
    _suite(store)
    assert _leaks(suites.get_suite(store, actor=SCIENTIST, ref="faq").cases)
    cases = suites.get_suite(store, actor=VIEWER, ref="faq").cases
    assert cases[1].checks[0]["check"] == "equals" and cases[1].checks[0]["params"] == {}
    assert not _leaks(cases)


def test_flipped_cases_carry_no_answers_for_viewers(store, remote):
    _suite(store)
    run = runs.run_evaluation(store, actor=SYSTEM, suite="faq", models=["remote", "polite"], judge="remote")
    full = runs.report(store, actor=SCIENTIST, run_id=run.id)
    seen = runs.report(store, actor=VIEWER, run_id=run.id)
    assert [(f["position"], f["kind"]) for f in full["flipped"]["polite"]] == [(0, "improvement")]
    assert full["flipped"]["polite"][0]["baseline_output"] == f"echo: {PROMPT}"
    assert [(f["position"], f["kind"], f["checks"]) for f in seen["flipped"]["polite"]] == \
        [(f["position"], f["kind"], f["checks"]) for f in full["flipped"]["polite"]]
    assert all(f["baseline_output"] is None and f["candidate_output"] is None
               for found in seen["flipped"].values() for f in found)
    assert not _leaks(seen)


def test_counterfactual_pairs_keep_figures_but_no_text_for_viewers(store, remote):
    suites.create_suite(store, actor=SYSTEM, name="cf", checks=["refusal"], cases=[
        suites.CaseIn({"input": PROMPT}), suites.CaseIn({"input": "He is a young customer."})])
    report = bias.run_counterfactual(store, actor=SCIENTIST, suite="cf", model="remote")
    assert report.pairs == 2 and _leaks(report.worst)
    from core.governance import audit

    probes = audit.list_events(store, actor=SYSTEM, filters=audit.AuditFilter(action="eval.counterfactual"))
    assert [(e.actor, e.target_id) for e in probes] == [("dan", "cf@1")]
    seen = bias.withhold_probe_text(report, VIEWER)
    assert (seen.pairs, seen.mean_length_change) == (report.pairs, report.mean_length_change)
    assert [r["position"] for r in seen.worst] == [r["position"] for r in report.worst]
    assert all(r["variables"] == ["input"] for r in seen.worst)
    assert not _leaks(seen)


def test_a_probe_job_saves_its_report_and_viewers_read_it_without_text(store, people, remote):
    suites.create_suite(store, actor=SYSTEM, name="cf", checks=["refusal"], cases=[
        suites.CaseIn({"input": PROMPT}), suites.CaseIn({"input": "No demographic terms."})])
    job = bias.submit_counterfactual(store, actor=SCIENTIST, suite="cf", model="remote")
    done = actions.wait(store, actor=SYSTEM, job_id=job.id, timeout_s=300, poll_s=0.3)
    assert done.status == "succeeded", done.error
    full = bias.probe_of_job(store, actor=SCIENTIST, job_id=job.id)
    assert full.pairs == 1 and full.worst[0]["swapped_output"] == "echo: Please refund my wife's order ZEBRA-4711"
    seen = bias.probe_of_job(store, actor=VIEWER, job_id=job.id)
    assert seen.pairs == 1 and not _leaks(seen)
    assert [p.job_id for p in bias.list_probes(store, actor=VIEWER)] == [job.id]


def test_a_probe_that_nothing_changes_is_refused_before_it_queues(store, remote):
    from core.errors import InvalidInput

    suites.create_suite(store, actor=SYSTEM, name="plain", checks=["refusal"],
                        cases=[suites.CaseIn({"input": "The export is empty."})])
    with pytest.raises(InvalidInput, match="contains a term of the swap list"):
        bias.submit_counterfactual(store, actor=SCIENTIST, suite="plain", model="remote")
    assert not bias.list_probes(store, actor=SYSTEM)
    with pytest.raises(InvalidInput, match="Line 2"):
        bias.parse_swaps("he = she\nnonsense")
    assert bias.parse_swaps("# comment\nJohn = Aisha\n") == [("John", "Aisha")]
