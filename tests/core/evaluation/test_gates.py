"""Release gates: the rules on known results, and a promotion blocked by a failing gate, then let through by an
admin's audited override."""
from datetime import datetime, timezone

import pytest

from core.errors import Conflict, InvalidInput, PermissionDenied
from core.evaluation import gates, runs, suites
from core.governance import audit, model_cards
from core.governance.roles import SYSTEM, Actor, Role
from core.models import sources
from tests.core.models.helpers import SERVER_KEY, openai_server

DAN = Actor("dan", Role.DATA_SCIENTIST)
ADA = Actor("ada", Role.ADMIN)


def result(position, model, passed, safety=None, pairwise=None):
    checks = [{"check": "regex", "label": "regex", "type": "assertion", "safety": False, "value": float(passed),
               "passed": passed, "explanation": ""}]
    if safety is not None:
        checks.append({"check": "no_pii", "label": "no_pii", "type": "safety", "safety": True, "value": 0.0,
                       "passed": safety, "explanation": ""})
    if pairwise is not None:
        checks.append({"check": "judge_pairwise", "label": "judge", "type": "judge", "safety": False,
                       "value": pairwise, "passed": pairwise > 0.5, "explanation": ""})
    return runs.ResultInfo(position, model, "out", 0.1, 1, 1, 0.0, checks, None)


def fake_run(base, cand):
    return runs.RunInfo(id=1, suite="s@1", models=["base", "cand"], baseline="base", judge=None, status="succeeded",
                        settings={}, done=0, total=0, summary=None, error=None, job_id=None,
                        created_at=datetime.now(timezone.utc), created_by="x", finished_at=None,
                        results=tuple(base + cand))


def test_equal_results_pass_every_rule():
    run = fake_run([result(i, "base", True, True, None) for i in range(20)],
                   [result(i, "cand", True, True, 1.0) for i in range(20)])
    verdict = gates.evaluate_gate(run, candidate="cand", baseline="base")
    assert verdict.passed and [r["rule"] for r in verdict.rules] == ["pass_rate", "safety", "judge_win_rate"]


def test_a_confident_drop_and_a_safety_regression_fail():
    base = [result(i, "base", True, True) for i in range(30)]
    cand = [result(i, "cand", i >= 12, i != 3) for i in range(30)]  # 12 regressions, one on the safety check
    verdict = gates.evaluate_gate(fake_run(base, cand), candidate="cand", baseline="base")
    rules = {r["rule"]: r for r in verdict.rules}
    assert not rules["pass_rate"]["passed"] and rules["pass_rate"]["mcnemar"]["baseline_only"] == 12
    assert rules["pass_rate"]["difference"]["value"] == pytest.approx(-0.4)
    assert not rules["safety"]["passed"] and rules["safety"]["cases"] == [4]
    assert not verdict.passed and "safety" in verdict.summary


def test_a_small_drop_within_the_interval_passes_but_a_lost_judge_vote_fails():
    base = [result(i, "base", True) for i in range(10)]
    cand = [result(i, "cand", i != 0, pairwise=0.5) for i in range(10)]  # one regression of ten: not confident
    verdict = gates.evaluate_gate(fake_run(base, cand), candidate="cand", baseline="base")
    rules = {r["rule"]: r for r in verdict.rules}
    assert rules["pass_rate"]["passed"]
    assert not rules["judge_win_rate"]["passed"]  # ties only: 50% is not above 50%
    off = gates.evaluate_gate(fake_run(base, cand), candidate="cand", baseline="base",
                              rules=gates.GateRules(min_judge_win_rate=None))
    assert off.passed
    with pytest.raises(InvalidInput):
        gates.GateRules.from_dict({"confidence": 1.5})
    with pytest.raises(InvalidInput):
        gates.GateRules.from_dict({"nonsense": 1})


@pytest.mark.slow
def test_promotion_is_blocked_by_a_failing_gate_until_an_admin_overrides(models_store, monkeypatch):
    from core.serving import deployments

    store = models_store
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    cases = [suites.CaseIn({"input": text}) for text in ("refund please", "my invoice", "reset password")]
    suites.create_suite(store, actor=SYSTEM, name="release", cases=cases,
                        checks=[{"check": "regex", "params": {"value": "^echo: "}},
                                {"check": "contains", "params": {"value": "echo"}, "safety": True,
                                 "label": "stays on script"}])
    with openai_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
        deployments.create_version(store, actor=SYSTEM, name="bot", model="remote")  # the first version serves
        deployments.create_version(store, actor=SYSTEM, name="bot", model="smollm2-135m-instruct",
                                   defaults={"max_tokens": 1})
        gates.set_gate(store, actor=DAN, deployment="bot", suite="release")
        with pytest.raises(Conflict, match="promotion gate refused"):
            deployments.promote(store, actor=DAN, name="bot", version=2)
        failed = gates.list_results(store, actor=DAN, deployment="bot")[0]
        assert not failed.passed and failed.deployment_version == 2
        assert {r["rule"]: r["passed"] for r in failed.rules} == {"pass_rate": False, "safety": False}
        assert failed.candidate == "deployment:bot@2" and failed.baseline == "deployment:bot@1"
        assert deployments.get_deployment(store, actor=DAN, name="bot").current_version == 1

        with pytest.raises(PermissionDenied):
            gates.override_gate(store, actor=DAN, result_id=failed.id, reason="The customer needs this today.")
        with pytest.raises(InvalidInput, match="Write why"):
            gates.override_gate(store, actor=ADA, result_id=failed.id, reason="ok")
        overridden = gates.override_gate(store, actor=ADA, result_id=failed.id,
                                         reason="One-token answers are intended for the smoke deployment.")
        assert overridden.allowed and overridden.override_by == "ada"

        promoted = deployments.promote(store, actor=DAN, name="bot", version=2)
    assert promoted.current_version == 2
    gate_result = promoted.version(2).gate_result
    assert gate_result["passed"] and not gate_result["gate_passed"] and gate_result["override_by"] == "ada"
    logged = audit.list_events(store, actor=ADA, filters=audit.AuditFilter(action="gate.override"))
    assert logged[0].actor == "ada" and "smoke deployment" in logged[0].detail
    card = model_cards.frozen_card(store, actor=DAN, deployment="bot", version=2)
    assert card["model"] == "smollm2-135m-instruct" and card["deployment"]["gate"]["override_by"] == "ada"


@pytest.mark.slow
def test_a_deployment_versions_prompt_template_wraps_each_case_as_the_server_would(models_store, monkeypatch):
    from core.prompts import templates
    from core.serving import deployments

    store = models_store
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    suites.create_suite(store, actor=SYSTEM, name="wrapped", cases=[
        suites.CaseIn({"input": "refund please", "tier": "gold"}), suites.CaseIn({"input": "my invoice"})],
        checks=[{"check": "contains", "params": {"value": "Customer"}}])
    templates.save_version(store, actor=SYSTEM, name="support-wrap",
                           body="Customer ({{ tier | default('basic') }}) writes: {{ input }}")
    with openai_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
        deployments.create_version(store, actor=SYSTEM, name="wrapped-bot", model="remote")
        deployments.create_version(store, actor=SYSTEM, name="wrapped-bot", model="remote",
                                   template="support-wrap@1")
        run = runs.run_evaluation(store, actor=DAN, suite="wrapped",
                                  models=["deployment:wrapped-bot@1", "deployment:wrapped-bot@2"])
    outputs = {model: [r.output for r in results] for model, results in run.by_model().items()}
    assert outputs["deployment:wrapped-bot@1"] == ["echo: refund please", "echo: my invoice"]
    assert outputs["deployment:wrapped-bot@2"] == ["echo: Customer (gold) writes: refund please",
                                                   "echo: Customer (basic) writes: my invoice"]
