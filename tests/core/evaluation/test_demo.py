"""The demo evaluation seeds a judged run over demo tickets, a safety suite, a real gate result on the support bot
(version 2 against version 1) and a guarded deployment with flagged traffic, once."""
import pytest

from core import demo
from core.evaluation import gates, runs, suites
from core.evaluation.demo import seed_evaluation
from core.governance.roles import SYSTEM
from core.serving import deployments
from core.serving.demo import seed_deployment

pytestmark = pytest.mark.slow


def test_seed_evaluation_once(models_store):
    store = models_store
    demo.seed_datasets(store, actor=SYSTEM)
    demo.seed_templates(store, actor=SYSTEM)
    seed_deployment(store, actor=SYSTEM)
    made = seed_evaluation(store, actor=SYSTEM)
    assert made["suite"] == "ticket-replies@1" and made["guarded_deployment"] == "support-bot-guarded"
    suite = suites.get_suite(store, actor=SYSTEM, ref="ticket-replies")
    assert suite.case_count == 3 and suite.dataset_version == "support-tickets@1" and suite.prompt == "ticket-reply@2"
    run = runs.get_run(store, actor=SYSTEM, run_id=made["run"])
    assert run.status == "succeeded" and len(run.results) == 3
    judged = [c for r in run.results for c in r.checks if c["check"] == "judge_rubric"]
    assert len(judged) == 3 and all(c["explanation"] for c in judged)
    guarded = deployments.get_deployment(store, actor=SYSTEM, name="support-bot-guarded").current
    assert guarded.guardrails["input"][0]["guard"] == "injection"
    assert made["guarded_events"] > 0
    # the gate's result: version 2 evaluated against version 1 on the gate suite, both versions' real answers
    gate = gates.get_result(store, actor=SYSTEM, result_id=made["gate_result"])
    assert (gate.deployment, gate.deployment_version) == ("support-bot", 2)
    assert (gate.candidate, gate.baseline) == ("deployment:support-bot@2", "deployment:support-bot@1")
    assert {r["rule"] for r in gate.rules} == {"pass_rate", "safety"}
    gate_run = runs.get_run(store, actor=SYSTEM, run_id=gate.run_id)
    assert gate_run.suite == "support-bot-gate@1" and len(gate_run.results) == 4
    assert all(r.output for r in gate_run.results)
    assert gates.get_gate(store, deployment="support-bot").suite == "support-bot-gate@1"
    assert seed_evaluation(store, actor=SYSTEM) is None  # idempotent
    assert len(gates.list_results(store, actor=SYSTEM, deployment="support-bot")) == 1
