"""`workbench eval ...` as a user or a script runs it: promptfoo import, suites, a run as a job, show, errors."""
import json
from pathlib import Path

from core.governance.roles import SYSTEM
from core.models import sources
from tests.cli.test_cli import run
from tests.core.models.helpers import SERVER_KEY, openai_server

PROMPTFOO = Path(__file__).parents[1] / "core" / "evaluation" / "data" / "promptfooconfig.yaml"


def test_import_promptfoo_prints_suite_cases_and_unsupported(store, home):
    result = run("eval", "import-promptfoo", str(PROMPTFOO), "--name", "support-bot", "--json", home=home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"suite": "support-bot@1", "cases": 3,
                                         "unsupported": ["javascript", "python", "model-graded-closedqa"],
                                         "skipped": {"javascript": 2, "python": 1, "model-graded-closedqa": 1}}
    listed = json.loads(run("eval", "suites", "list", "--json", home=home).stdout)
    assert [(s["ref"], s["cases"], s["source"]) for s in listed] == [("support-bot@1", 3, "promptfoo")]
    exported = run("eval", "export-promptfoo", "support-bot", home=home)
    assert exported.returncode == 0 and "tests:" in exported.stdout and "icontains" in exported.stdout


def test_create_run_as_a_job_and_show(store, home, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"input": "refund please", "reference": "echo: refund please"}\n'
                     '{"input": "hello", "checks": [{"check": "contains", "params": {"value": "bye"}}]}\n')
    created = run("eval", "suites", "create", "echo", "--cases", str(cases), "--check", "exact_match",
                  "--check", 'regex:{"value": "^echo: "}', "--json", home=home)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["ref"] == "echo@1"
    with openai_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
        result = run("eval", "run", "echo", "--model", "remote", "--wait", "--json", home=home, timeout=300)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["status"] == "succeeded" and shown["job_id"]
    checks = {c["check"]: c for c in shown["models"][0]["checks"]}
    assert shown["models"][0]["model"] == "remote"
    assert {k: (v["type"], v["passed"], v["failed"], v["pass_rate"]) for k, v in checks.items()} == {
        "exact_match": ("exact_match", 1, 0, 1.0),  # the second case has no reference: undecided
        "regex": ("regex", 2, 0, 1.0), "contains": ("contains", 0, 1, 0.0)}
    assert [c["outputs"][0]["output"] for c in shown["cases"]] == ["echo: refund please", "echo: hello"]
    again = json.loads(run("eval", "show", str(shown["id"]), "--json", home=home).stdout)
    assert again["models"] == shown["models"]
    text = run("eval", "show", str(shown["id"]), home=home)
    assert "regex" in text.stdout and "100%" in text.stdout


def test_errors_are_one_line(store, home):
    result = run("eval", "run", "missing", "--model", "x", home=home)
    assert result.returncode == 2 and result.stderr.startswith("error: There is no evaluation suite 'missing'")
    bad = run("eval", "suites", "create", "s", "--cases", "nope.jsonl", home=home)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_model_card_export_and_gate_listing(store, home, tmp_path):
    from core.models import registry

    registry.register_model(store, actor=SYSTEM, name="helper", kind="openai", task="chat", source="http://x")
    out = tmp_path / "card.html"
    result = run("eval", "card", "helper", "--intended-use", "Support replies.", "--format", "html", "--out",
                 str(out), home=home)
    assert result.returncode == 0, result.stderr
    assert "<h1>Model card: helper</h1>" in out.read_text() and "Support replies." in out.read_text()
    assert json.loads(run("eval", "gate", "list", "--json", home=home).stdout) == []
    denied = run("--user", "nobody", "eval", "gate", "override", "1", "--reason", "because I say so", home=home)
    assert denied.returncode == 2
