"""`workbench pipelines ...` as a user runs it: save from JSON, list, show, run, runs, export, delete."""
import csv
import io
import json

import pandas as pd
import pytest

from core import pipelines
from core.data import versions
from core.governance.roles import SYSTEM
from core.home import init_workbench
from core.prompts import templates
from tests.cli.test_cli import run

CHAT = "smollm2-135m-instruct"
METRIC_STEPS = [{"name": "words", "kind": "metric", "metric": "length_words", "output": "column:text"},
                {"name": "ease", "kind": "metric", "metric": "readability", "output": "column:text"}]


def _dataset(store):
    frame = pd.DataFrame({"text": ["=SUM(A1:A9) is what the sheet shows.", "The cat sat on the mat. It was warm.",
                                   "Please reset my password."]})
    versions.save_version(store, actor=SYSTEM, name="notes", frame=frame, transformation="import", source="test")


@pytest.fixture
def ready_home(home, store):
    init_workbench(home, with_models=False)
    _dataset(store)
    return home


def _write(tmp_path, data, name="steps.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_save_list_show_run_export_and_delete(ready_home, tmp_path):
    file = _write(tmp_path, {"description": "two metrics", "steps": METRIC_STEPS})
    saved = run("pipelines", "save", "lengths", "--file", file, home=ready_home)
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.strip() == "Saved pipeline lengths: words -> ease"
    again = run("pipelines", "save", "lengths", "--file", file, "--json", home=ready_home)
    assert json.loads(again.stdout)["changed"] is False
    listed = json.loads(run("pipelines", "list", "--json", home=ready_home).stdout)
    assert [(p["name"], p["description"], len(p["steps"])) for p in listed] == [("lengths", "two metrics", 2)]
    shown = run("pipelines", "show", "lengths", home=ready_home).stdout
    assert "1. words [metric] length_words of column:text" in shown

    ran = run("pipelines", "run", "lengths", "--dataset", "notes@1", "--rows", "2", "--wait", "--json", home=ready_home)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "succeeded" and result["rows"] == 2 and result["dataset_version"] == "notes@1"
    assert [o["value"] for o in result["outputs"] if o["step"] == "words"] == [6.0, 9.0]
    assert result["summary"]["steps"]["words"]["mean_value"] == 7.5
    text = run("pipelines", "run", "lengths", "--dataset", "notes", "--rows", "3", "--wait", home=ready_home)
    assert text.returncode == 0 and "succeeded" in text.stdout and "mean Length (words)" in text.stdout

    runs = json.loads(run("pipelines", "runs", "lengths", "--json", home=ready_home).stdout)
    assert [r["rows"] for r in runs] == [3, 2]
    out = tmp_path / "cells.csv"
    exported = run("pipelines", "export", str(result["id"]), "--format", "csv", "--out", str(out), home=ready_home)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows[0]["text"] == "'=SUM(A1:A9) is what the sheet shows." and rows[0]["words"] == "6.0"
    jsonl = tmp_path / "cells.jsonl"
    run("pipelines", "export", str(result["id"]), "--format", "jsonl", "--out", str(jsonl), home=ready_home)
    assert json.loads(jsonl.read_text().splitlines()[1])["steps"]["ease"]["value"] > 50

    deleted = run("pipelines", "delete", "lengths", home=ready_home)
    assert deleted.returncode == 0 and deleted.stdout.strip() == "Deleted pipeline lengths and its 2 run(s)."
    assert json.loads(run("pipelines", "list", "--json", home=ready_home).stdout) == []


@pytest.mark.parametrize("content,message", [
    ("not json", "is not valid JSON (line 1"),
    (json.dumps({"name": "x"}), "holds an object without 'steps'"),
    (json.dumps([{"name": "a", "kind": "metric", "metric": "length_words", "output": "step:b"}]),
     "Step 'a' reads step 'b', which is not in this pipeline"),
    (json.dumps([{"name": "a", "kind": "generate", "template": "nope@1", "model": CHAT, "inputs": {}}]),
     "Step 'a' uses template 'nope@1': There is no prompt template named 'nope'."),
])
def test_bad_definitions_are_one_line_exit_2_and_store_nothing(ready_home, tmp_path, content, message):
    path = tmp_path / "steps.json"
    path.write_text(content)
    result = run("pipelines", "save", "p", "--file", str(path), home=ready_home)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert json.loads(run("pipelines", "list", "--json", home=ready_home).stdout) == []


def test_user_errors_and_roles(ready_home, tmp_path, store):
    from core.governance import users

    users.create_user(store, actor=SYSTEM, name="vic", role="viewer", password="long-password-1")
    file = _write(tmp_path, METRIC_STEPS)
    denied = run("--user", "vic", "pipelines", "save", "p", "--file", file, home=ready_home)
    assert denied.returncode == 2 and "not authorised to save prompt templates and pipelines" in denied.stderr
    run("pipelines", "save", "p", "--file", file, home=ready_home)
    for args, message in (
        (("pipelines", "run", "p", "--dataset", "notes", "--rows", "0"), "Rows must be a whole number from 1 to 500"),
        (("pipelines", "run", "p", "--dataset", "nothing"), "There is no dataset named 'nothing'"),
        (("pipelines", "show", "q"), "There is no pipeline named 'q'"),
        (("pipelines", "export", "99", "--format", "csv", "--out", str(tmp_path / "x.csv")), "no pipeline run 99"),
        (("pipelines", "export", "1", "--format", "xlsx", "--out", "x"), "invalid choice: 'xlsx'"),
        (("--user", "vic", "pipelines", "runs"), "not authorised to run models"),
    ):
        result = run(*args, home=ready_home)
        assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.slow
def test_a_generate_step_runs_the_bundled_model(models_store, home, tmp_path):
    _dataset(models_store)
    templates.save_version(models_store, actor=SYSTEM, name="shorten", body="Shorten: {{ text }}")
    file = _write(tmp_path, [{"name": "short", "kind": "generate", "template": "shorten@1", "model": CHAT,
                              "inputs": {"text": "column:text"}},
                             {"name": "words", "kind": "metric", "metric": "length_words", "output": "step:short"}])
    assert run("pipelines", "save", "shorten", "--file", file, home=home).returncode == 0
    result = run("pipelines", "run", "shorten", "--dataset", "notes@1", "--rows", "2", "--wait", "--max-new-tokens", "8",
                 "--json", home=home)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    answers = [o for o in payload["outputs"] if o["step"] == "short"]
    assert len(answers) == 2 and all(o["output"] and 0 < o["tokens_out"] <= 8 for o in answers)
    words = [o["value"] for o in payload["outputs"] if o["step"] == "words"]
    assert words == [float(len(o["output"].split())) for o in answers]
    assert payload["summary"]["steps"]["short"]["answered"] == 2
    assert pipelines.get_run(models_store, actor=SYSTEM, run_id=payload["id"]).status == "succeeded"
