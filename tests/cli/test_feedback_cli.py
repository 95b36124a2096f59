"""`workbench feedback ...` as real processes: create, an annotator's queue, rating from JSONL, stats, export."""
import csv
import json

from core.governance import users
from core.governance.roles import SYSTEM, Role
from core.home import open_store
from tests.cli.test_cli import run
from tests.core.feedback.conftest import PASSWORD, pairs_dataset


def _setup(home):
    store = open_store(home)
    for name, role in (("dan", Role.DATA_SCIENTIST), ("ann", Role.ANNOTATOR), ("bob", Role.ANNOTATOR),
                       ("vic", Role.VIEWER)):
        users.create_user(store, actor=SYSTEM, name=name, role=role, password=PASSWORD)
    pairs_dataset(store)
    store.dispose()


def test_create_queue_rate_stats_and_export_a_pairwise_project(home, tmp_path):
    _setup(home)
    created = run("--user", "dan", "feedback", "create", "duel", "--dataset", "answers", "--prompt-column", "question",
                  "--response-column", "good", "--response-column", "bad", "--question", "better:pairwise",
                  "--annotators", "ann,bob", "--per-item", "2", "--json", home=home)
    assert created.returncode == 0, created.stderr
    assert {k: json.loads(created.stdout)[k] for k in ("project", "items")} == {"project": "duel", "items": 6}

    lines = []
    for who in ("ann", "bob"):
        queue = run("--user", who, "feedback", "queue", "duel", "--json", home=home)
        items = json.loads(queue.stdout)["items"]
        assert len(items) == 6 and set(items[0]) >= {"item", "prompt", "responses"}
        assert "good" not in queue.stdout and "model" not in queue.stdout  # blind: no response column names
        # Each annotator picks the careful answer, wherever it is shown to them.
        answers = [{"item": i["item"], "question": "better",
                    "value": "A" if i["responses"]["A"].startswith("A careful") else "B"} for i in items]
        path = tmp_path / f"{who}.jsonl"
        path.write_text("".join(json.dumps(a) + "\n" for a in answers))
        lines.append(path)
    rated = run("--user", "ann", "feedback", "rate", "duel", "--from", str(lines[0]), "--json", home=home)
    assert rated.returncode == 0, rated.stderr
    assert json.loads(rated.stdout)["rated"] == 6
    again = run("--user", "ann", "feedback", "rate", "duel", "--from", str(lines[0]), "--json", home=home)
    assert {r["results"]["better"] for r in json.loads(again.stdout)["results"]} == {"unchanged"}
    assert run("--user", "bob", "feedback", "rate", "duel", "--from", str(lines[1]), home=home).returncode == 0
    assert json.loads(run("--user", "ann", "feedback", "queue", "duel", "--json", home=home).stdout)["items"] == []
    assert len(json.loads(run("--user", "ann", "feedback", "queue", "duel", "--all", "--json",
                              home=home).stdout)["items"]) == 6

    stats = json.loads(run("--user", "vic", "feedback", "stats", "duel", "--json", home=home).stdout)
    assert (stats["items"], stats["ratings"]) == (6, 12)
    assert set(stats["agreement"]["better"]) >= {"krippendorff_alpha", "cohen_kappa"}
    assert stats["agreement"]["better"]["percent_agreement"] == 1.0
    assert [a["annotator"] for a in stats["annotators"]] == ["ann", "bob"]
    assert stats["leaderboard"][0]["model"] == "good"

    out = tmp_path / "prefs.jsonl"
    exported = run("--user", "dan", "feedback", "export", "duel", "--format", "dpo", "--out", str(out), "--json",
                   home=home)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["dataset_version"] == "duel-dpo@1"
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(pairs) == 6 and pairs[0]["chosen"][0]["role"] == "assistant"
    assert pairs[0]["chosen"][0]["content"].startswith("A careful") and pairs[0]["prompt"][0]["role"] == "user"
    table = tmp_path / "ratings.csv"
    assert run("--user", "dan", "feedback", "export", "duel", "--format", "csv", "--out", str(table),
               home=home).returncode == 0
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 12 and all(r["response_B"].startswith("'=HYPERLINK") for r in rows)


def test_wrong_people_and_bad_lines_are_one_line_errors(home, tmp_path):
    _setup(home)
    denied = run("--user", "ann", "feedback", "create", "x", "--dataset", "answers", "--prompt-column", "question",
                 "--response-column", "good", "--question", "q:thumbs", "--annotators", "ann", home=home)
    assert denied.returncode == 2 and denied.stderr.startswith("error: ann (Annotator) is not authorised")
    assert run("--user", "dan", "feedback", "create", "x", "--dataset", "answers", "--prompt-column", "question",
               "--response-column", "good", "--question", "q:thumbs", "--annotators", "ann", home=home).returncode == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"item": 1, "question": "q", "value": "sideways"}\n{"item": 1, "question": "q", "value": "up"}\n'
                   '{"item": 1}\n')
    rated = run("--user", "ann", "feedback", "rate", "x", "--from", str(bad), "--json", home=home)
    assert rated.returncode == 2
    report = json.loads(rated.stdout)
    assert report["rated"] == 1 and [e["line"] for e in report["errors"]] == [1, 3]
    assert "up or down" in report["errors"][0]["error"]
    other = run("--user", "bob", "feedback", "queue", "x", home=home)
    assert other.returncode == 2 and "no items for bob" in other.stderr


def test_generate_makes_a_project_from_two_models_through_a_job(home, monkeypatch):
    from tests.core.feedback.test_jobs import questions_dataset, two_endpoints

    store = open_store(home)
    for name, role in (("dan", Role.DATA_SCIENTIST), ("ann", Role.ANNOTATOR)):
        users.create_user(store, actor=SYSTEM, name=name, role=role, password=PASSWORD)
    questions_dataset(store, rows=5)
    with two_endpoints(store, monkeypatch) as (first, second):
        bad = run("--user", "dan", "feedback", "generate", "now", "--model", first, "--model", first, "--dataset",
                  "questions", "--prompt-column", "question", "--annotators", "ann", "--json", home=home)
        assert bad.returncode != 0 and "two different models" in bad.stderr
        made = run("--user", "dan", "feedback", "generate", "now", "--model", first, "--model", second, "--dataset",
                   "questions", "--prompt-column", "question", "--rows", "3", "--seed", "1", "--max-new-tokens", "8",
                   "--annotators", "ann", "--wait", "--json", home=home, timeout=300)
    assert made.returncode == 0, made.stderr
    result = json.loads(made.stdout)
    assert (result["project"], result["items"], result["status"]) == ("now", 3, "succeeded")
    job = json.loads(run("--user", "dan", "jobs", "show", str(result["job"]), "--json", home=home).stdout)
    assert job["kind"] == "annotate" and job["result"]["annotation_project"] == "now"
    queue = json.loads(run("--user", "ann", "feedback", "queue", "now", "--json", home=home).stdout)["items"]
    assert len(queue) == 3 and all(set(i["responses"]) == {"A", "B"} for i in queue)
    assert first not in json.dumps(queue) and second not in json.dumps(queue)
    store.dispose()
