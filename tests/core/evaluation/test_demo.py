"""The demo evaluation seeds a judged run over demo tickets, a safety suite and a guarded deployment, once."""
import pytest

from core import demo
from core.evaluation import runs, suites
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
    assert seed_evaluation(store, actor=SYSTEM) is None  # idempotent
