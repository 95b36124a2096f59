"""`workbench compare ...` as a user or a script runs it: JSON shapes, saved runs, exports, one-line errors."""
import csv
import json

import pandas as pd
import pytest

from core.compare import runs
from core.data import versions
from core.governance.roles import SYSTEM
from core.models import bundled, sources
from core.prompts import templates
from tests.cli.test_cli import run
from tests.core.models.helpers import SERVER_KEY, openai_server


@pytest.fixture
def prompts(store):
    templates.save_version(store, actor=SYSTEM, name="ask", body="Q: {{ question }}")
    templates.save_version(store, actor=SYSTEM, name="ask", body="Answer briefly: {{ question }}")
    templates.save_version(store, actor=SYSTEM, name="reply", body="Reply to {{ name }} about {{ question }}")
    return store


def test_run_list_show_and_export_through_an_endpoint(prompts, home, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    with openai_server() as url:
        sources.add_endpoint(prompts, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY", price_per_1k_input=1.0, price_per_1k_output=2.0)
        result = run("compare", "run", "--prompt", "ask@1", "--prompt", "ask@2", "--model", "remote",
                     "--input", "2+2?", "--input", "Sky colour?", "--max-new-tokens", "8", "--seed", "5",
                     "--stop", "END", "--wait", "--json", home=home)
        assert result.returncode == 0, result.stderr
        payload = json.loads(result.stdout)
        text = run("compare", "run", "--prompt", "reply", "--model", "remote", "--var", "name=Ada",
                   "--input", "refunds", "--var", "expected=echo: Reply to Ada about refunds", "--reference", "expected",
                   "--name", "with a reference", "--wait", home=home)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Run 2: with a reference") and "BLEU" in text.stdout and "WINS" in text.stdout
    assert "echo: Reply to Ada about refunds" in text.stdout

    run_info, cells = payload["run"], payload["cells"]
    assert (run_info["status"], run_info["prompts"], run_info["models"], run_info["rows"]) == \
        ("succeeded", ["ask@1", "ask@2"], ["remote"], 2)
    assert run_info["settings"]["generation"] == {"max_new_tokens": 8, "temperature": 0.0, "top_p": 1.0, "seed": 5,
                                                  "stop": ["END"], "batch_size": 64}
    assert [c["output"] for c in cells] == ["echo: Q: 2+2?", "echo: Answer briefly: 2+2?", "echo: Q: Sky colour?",
                                            "echo: Answer briefly: Sky colour?"]
    assert cells[0]["cost_usd"] == pytest.approx(0.011) and cells[0]["scores"]["length_words"] == 3.0
    assert [c["column"] for c in payload["summary"]["columns"]] == ["ask@1 · remote", "ask@2 · remote"]

    listed = json.loads(run("compare", "list", "--json", home=home).stdout)
    assert [(r["id"], r["name"], r["cells"]) for r in listed] == [(2, "with a reference", 1),
                                                                   (1, "ask@1, ask@2 × remote on typed input", 4)]
    shown = json.loads(run("compare", "show", "1", "--json", home=home).stdout)
    assert shown["cells"] == cells
    assert "echo: Answer briefly: Sky colour?" in run("compare", "show", "1", home=home).stdout

    out = tmp_path / "run.jsonl"
    exported = run("compare", "export", "1", "--format", "jsonl", "--out", str(out), home=home)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["run_id"], r["cell_id"], r["row_index"], r["prompt"], r["model"]) for r in records] == \
        [(1, c["id"], c["row_index"], c["prompt"], "remote") for c in cells]
    assert records[0]["messages"] == [{"role": "user", "content": "Q: 2+2?"}]
    out_csv = tmp_path / "run.csv"
    assert run("compare", "export", "1", "--format", "csv", "--out", str(out_csv), home=home).returncode == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 4 and rows[0]["output"] == "echo: Q: 2+2?"


@pytest.mark.parametrize("args,message", [
    (("--prompt", "ask", "--model", "remote"), "Give the input"),
    (("--prompt", "nope", "--model", "remote", "--input", "x"), "no prompt template named 'nope'"),
    (("--prompt", "ask", "--model", "remote", "--input", "x", "--rows", "3"), "--rows, --map, --sample-seed, --where and --row-numbers go with --dataset"),
    (("--prompt", "ask", "--model", "remote", "--var", "question"), "--var takes NAME=VALUE"),
    (("--prompt", "reply", "--model", "remote", "--input", "x"), "leave 2 open (name, question)"),
    (("--prompt", "ask", "--model", "remote", "--dataset", "none@1", "--input", "x"), "not both"),
    (("--prompt", "ask", "--model", "remote", "--input", "x", "--max-new-tokens", "0"), "between 1 and 8192"),
    (("--model", "remote", "--input", "x"), "--prompt"),
])
def test_bad_requests_are_one_line_exit_2_and_store_nothing(prompts, home, args, message):
    sources.add_endpoint(prompts, actor=SYSTEM, name="remote", base_url="http://127.0.0.1:9/v1", model="tiny-chat")
    result = run("compare", "run", *args, home=home)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert runs.count_runs(prompts) == 0
    assert json.loads(run("jobs", "list", "--json", home=home).stdout) == []


def test_reading_commands_refuse_unknown_runs_bad_formats_and_other_roles(prompts, people, home, tmp_path):
    for args, message in ((("show", "7"), "no comparison run 7"), (("show", "last"), "not a comparison run id"),
                          (("export", "7", "--format", "xlsx", "--out", str(tmp_path / "x")), "invalid choice"),
                          (("export", "7", "--format", "csv", "--out", str(tmp_path / "no" / "x.csv")), "does not exist")):
        result = run("compare", *args, home=home)
        assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    for user in ("ann", "vic"):
        result = run("--user", user, "compare", "list", home=home)
        assert result.returncode == 2 and "is not authorised to run models" in result.stderr


def test_run_without_wait_returns_the_job_at_once_and_jobs_commands_follow_it(prompts, home, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    frame = pd.DataFrame({"question": [f"q{n}" for n in range(10)], "topic": ["tax", "sky"] * 5})
    versions.save_version(prompts, actor=SYSTEM, name="quiz", frame=frame, transformation="import", source="q.csv")
    with openai_server() as url:
        sources.add_endpoint(prompts, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
        result = run("compare", "run", "--prompt", "ask@1", "--model", "remote", "--dataset", "quiz@1",
                     "--where", "topic~SKY", "--rows", "2", "--json", home=home)
        assert result.returncode == 0, result.stderr
        submitted = json.loads(result.stdout)
        assert set(submitted) == {"id", "kind", "status"} and submitted["kind"] == "compare"
        assert submitted["status"] in ("queued", "running", "succeeded")
        from core.jobs import actions

        done = actions.wait(prompts, actor=SYSTEM, job_id=submitted["id"], timeout_s=300, poll_s=0.3)
        assert done.status == "succeeded", done.error
        numbers = run("compare", "run", "--prompt", "ask@1", "--model", "remote", "--dataset", "quiz@1",
                      "--row-numbers", "10,1", "--wait", "--json", home=home)
    assert numbers.returncode == 0, numbers.stderr
    assert [c["variables"]["question"] for c in json.loads(numbers.stdout)["cells"]] == ["q9", "q0"]
    made = runs.run_of_job(prompts, actor=SYSTEM, job_id=submitted["id"])
    assert [c.variables["question"] for c in made.cells] == ["q1", "q3"]
    assert made.settings["source_rows"] == [1, 3]

    listed = json.loads(run("jobs", "list", "--json", home=home).stdout)
    assert [(j["kind"], j["status"]) for j in listed] == [("compare", "succeeded")] * 2
    shown = json.loads(run("jobs", "show", str(submitted["id"]), "--json", home=home).stdout)
    assert shown["result"]["comparison_run"] == made.id and shown["progress"]["fraction"] == 1.0
    assert f"job {submitted['id']}: attempt 1" in run("jobs", "logs", str(submitted["id"]), home=home).stdout
    refused = run("jobs", "resume", str(submitted["id"]), home=home)
    assert refused.returncode == 2 and "cannot be resumed" in refused.stderr


@pytest.mark.slow
def test_a_dataset_run_with_the_bundled_model(models_store, home, tmp_path):
    templates.save_version(models_store, actor=SYSTEM, name="ask", body="Answer in one word: {{ question }}")
    frame = pd.DataFrame({"q": ["What is the capital of France?", "What colour is the sky?", "Unused row"],
                          "a": ["Paris", "Blue", "-"]})
    versions.save_version(models_store, actor=SYSTEM, name="quiz", frame=frame, transformation="import", source="quiz.csv")
    result = run("compare", "run", "--prompt", "ask", "--model", bundled.CHAT_MODEL.name, "--dataset", "quiz@1",
                 "--rows", "2", "--map", "question=q", "--reference", "a", "--max-new-tokens", "8", "--wait", "--json",
                 home=home)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["run"]["dataset_version"] == "quiz@1" and payload["run"]["settings"]["variable_map"] == {"question": "q"}
    assert [c["reference"] for c in payload["cells"]] == ["Paris", "Blue"]
    assert all(0 < c["tokens_out"] <= 8 and set(c["scores"]) >= {"bleu", "chrf", "exact_match"} for c in payload["cells"])
    assert payload["summary"]["win_metric"] == "bleu"
