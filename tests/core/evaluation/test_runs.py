"""Evaluation runs with the bundled chat model: outputs, check results and the summary that `eval show` prints."""
import pytest

from core.errors import InvalidInput, PermissionDenied
from core.evaluation import runs, suites
from core.evaluation.checks import CheckInput, run_check
from core.governance.roles import SYSTEM, Actor, Role
from core.inference.generate import GenerationSettings

MODEL = "smollm2-135m-instruct"
SHORT = GenerationSettings(max_new_tokens=16)

pytestmark = pytest.mark.slow


def make_suite(store, name="faq"):
    cases = [suites.CaseIn({"input": "What is the capital of France?"}, reference="Paris"),
             suites.CaseIn({"input": "Say hello."}, reference="Hello!",
                           checks=[{"check": "contains", "params": {"value": "zzz-never"}}]),
             suites.CaseIn({"input": "Name a colour."}, reference="Blue")]
    return suites.create_suite(store, actor=SYSTEM, name=name, cases=cases,
                               checks=[{"check": "length", "params": {"min": 1, "max": 2000}},
                                       {"check": "refusal"}, {"check": "chrf", "params": {"threshold": 0}}])


def test_a_run_stores_every_output_and_check_result(models_store):
    make_suite(models_store)
    run = runs.run_evaluation(models_store, actor=SYSTEM, suite="faq", models=[MODEL], settings=SHORT)
    assert run.status == "succeeded" and run.done == run.total == 3
    results = run.by_model()[MODEL]
    assert [r.position for r in results] == [0, 1, 2] and all(r.output for r in results)
    # the stored verdicts are the checks' verdicts on the stored outputs
    for result in results:
        by_label = {c["label"]: c for c in result.checks}
        again = run_check("refusal", [CheckInput(result.output)], {})[0]
        assert by_label["refusal"]["passed"] == again.passed
        assert by_label["length"]["passed"] is True
    assert "contains" in {c["label"] for c in results[1].checks}
    assert "contains" not in {c["label"] for c in results[0].checks}
    assert results[1].passed is False  # the case's own check can never pass

    shown = runs.report(models_store, actor=SYSTEM, run_id=run.id)
    model = shown["models"][0]
    assert model["model"] == MODEL
    table = {c["check"]: c for c in model["checks"]}
    assert table["length"]["passed"] == 3 and table["length"]["pass_rate"] == 1.0
    assert table["contains"] == {**table["contains"], "passed": 0, "failed": 1, "pass_rate": 0.0}
    assert table["chrf"]["mean_ci"][0] <= table["chrf"]["mean"] <= table["chrf"]["mean_ci"][1]
    assert len(shown["cases"]) == 3 and shown["cases"][0]["outputs"][0]["model"] == MODEL

    # A viewer (manager) gets the same figures but neither the cases' prompts and references nor the answers.
    viewer = Actor(name="vic", role=Role.VIEWER)
    seen = runs.report(models_store, actor=viewer, run_id=run.id)
    assert seen["models"] == shown["models"]
    assert all(not c["variables"] and c["reference"] is None for c in seen["cases"])
    assert all(o["output"] is None for c in seen["cases"] for o in c["outputs"])
    assert "Paris" not in str(seen) and "capital of France" not in str(seen)


def test_two_models_give_flipped_cases_regressions_first(models_store):
    from core.serving import deployments

    make_suite(models_store)
    deployments.create_version(models_store, actor=SYSTEM, name="bot", model=MODEL, defaults={"max_tokens": 1})
    run = runs.run_evaluation(models_store, actor=SYSTEM, suite="faq", models=[MODEL, "deployment:bot@1"],
                              settings=SHORT)
    assert run.models == [MODEL, "deployment:bot@1"] and run.baseline == MODEL
    short = run.by_model()["deployment:bot@1"]
    assert all(r.tokens_out <= 1 for r in short)  # the deployment's generation defaults apply
    flips = runs.flipped_cases(run, MODEL, "deployment:bot@1")
    kinds = [f["kind"] for f in flips]
    assert kinds == sorted(kinds, key=lambda k: k != "regression")


def test_requests_are_checked_before_anything_runs(models_store):
    make_suite(models_store)
    with pytest.raises(InvalidInput):
        runs.start_run(models_store, actor=SYSTEM, suite="faq", models=[])
    with pytest.raises(PermissionDenied):
        runs.start_run(models_store, actor=Actor("vic", Role.VIEWER), suite="faq", models=[MODEL])
    rubric = suites.create_suite(models_store, actor=SYSTEM, name="judged", cases=[suites.CaseIn({"input": "hi"})],
                                 checks=[{"check": "judge_rubric", "params": {"rubric": "Polite."}}])
    with pytest.raises(InvalidInput, match="judge"):
        runs.start_run(models_store, actor=SYSTEM, suite=rubric.ref, models=[MODEL])
    assert runs.list_runs(models_store, actor=SYSTEM) == []


def test_cancel_before_start(models_store):
    make_suite(models_store)
    run = runs.start_run(models_store, actor=SYSTEM, suite="faq", models=[MODEL])
    assert runs.cancel_run(models_store, actor=SYSTEM, run_id=run.id).status == "cancelled"
