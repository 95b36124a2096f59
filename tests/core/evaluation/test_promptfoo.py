"""promptfoo import on a real promptfooconfig.yaml covering each assert type, and export back."""
from pathlib import Path

import pytest
import yaml

from core.errors import InvalidInput
from core.evaluation import promptfoo, suites
from core.governance.roles import SYSTEM

FILE = Path(__file__).parent / "data" / "promptfooconfig.yaml"


def test_import_maps_each_assert_type_and_reports_the_rest(store):
    result = promptfoo.import_text(store, actor=SYSTEM, text=FILE.read_text(), name="support-bot")
    assert result.to_dict()["suite"] == "support-bot@1" and result.suite.case_count == 3
    assert result.unsupported == ["javascript", "python", "model-graded-closedqa"]
    assert result.skipped == {"javascript": 2, "python": 1, "model-graded-closedqa": 1}
    suite = suites.get_suite(store, actor=SYSTEM, ref="support-bot")
    assert suite.prompt == "support-bot@1" and suite.source == "promptfoo"
    # defaultTest: vars merged into every case, asserts run on every case
    assert suite.cases[0].variables == {"product": "Workbench", "question": "I was charged twice, can I get a refund?"}
    assert [(c["check"], c["params"]) for c in suite.checks] == [
        ("not_contains", {"value": "as an ai language model", "ignore_case": True}),
        ("latency", {"threshold": 30.0})]
    refund = {c["label"]: c for c in suite.cases[0].checks}
    assert refund["icontains"]["params"] == {"value": "refund", "ignore_case": True}
    assert refund["contains-any"]["params"] == {"value": ["refund", "credit"], "mode": "any"}
    assert refund["contains-all"]["params"] == {"value": ["refund"]}
    assert refund["equals"]["check"] == "equals"
    assert refund["similar"]["params"]["threshold"] == 0.6 and refund["similar"]["check"] == "similarity"
    assert refund["rouge-n"]["params"]["threshold"] == 0.75
    assert refund["bleu"]["params"]["threshold"] == pytest.approx(30.0)  # 0-1 -> sacrebleu's 0-100
    assert refund["levenshtein"]["params"]["threshold"] == 10
    assert refund["llm-rubric"]["check"] == "judge_rubric"
    assert suite.cases[0].reference == "We have refunded the duplicate charge."
    json_case = {c["label"]: c for c in suite.cases[1].checks}
    assert json_case["is-json"]["check"] == "is_json"
    assert json_case["contains-json"]["check"] == "json_schema" and json_case["contains-json"]["params"]["contains"]
    assert json_case["not-regex"]["params"] == {"value": "password", "negate": True}
    assert json_case["starts-with"]["check"] == "regex"
    assert json_case["cost"]["params"] == {"threshold": 0.002}
    assert suite.cases[2].checks == []


def test_export_round_trips_the_supported_asserts(store):
    promptfoo.import_text(store, actor=SYSTEM, text=FILE.read_text(), name="support-bot")
    suite = suites.get_suite(store, actor=SYSTEM, ref="support-bot@1")
    text, missing = promptfoo.export_suite(suite, prompt_body="Customer: {{question}}")
    assert missing == []
    config = yaml.safe_load(text)
    assert config["prompts"] == ["Customer: {{question}}"]
    assert [a["type"] for a in config["defaultTest"]["assert"]] == ["not-icontains", "latency"]
    assert [a["type"] for a in config["tests"][1]["assert"]] == [
        "is-json", "contains-json", "regex", "not-regex", "regex", "contains", "not-contains", "cost"]
    again = promptfoo.import_text(store, actor=SYSTEM, text=text, name="support-bot-again")
    assert again.unsupported == []
    assert [c["check"] for c in again.suite.cases[0].checks] == [c["check"] for c in suite.cases[0].checks]


def test_export_reports_checks_promptfoo_lacks(store):
    suite = suites.create_suite(store, actor=SYSTEM, name="pii", cases=[suites.CaseIn({"input": "hi"})],
                                checks=[{"check": "no_pii"}, {"check": "contains", "params": {"value": "x"}}])
    _, missing = promptfoo.export_suite(suite)
    assert missing == ["no_pii"]


def test_a_file_without_tests_is_refused(store):
    with pytest.raises(InvalidInput, match="no tests"):
        promptfoo.import_text(store, actor=SYSTEM, text="prompts: [hi]\n", name="x")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        promptfoo.import_text(store, actor=SYSTEM, text="tests: [\n", name="x")
