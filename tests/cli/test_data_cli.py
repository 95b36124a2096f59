"""`workbench data ...` as a user runs it: JSON shapes, errors as one line, nothing stored on failure."""
import json

import pytest

from core.home import init_workbench
from tests.cli.test_cli import run


@pytest.fixture
def ready_home(home):
    init_workbench(home, with_models=False)
    return home


def test_import_prints_the_documented_json_and_show_lists_lineage(ready_home, tmp_path):
    source = tmp_path / "qa.csv"
    source.write_text("prompt,completion\nWhat is 2+2?,4\nCapital of France?,Paris\n")
    result = run("data", "import", str(source), "--name", "qa", "--json", home=ready_home)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert {k: payload[k] for k in ("dataset", "version", "rows", "columns")} == {
        "dataset": "qa", "version": 1, "rows": 2, "columns": ["prompt", "completion"]}
    assert len(payload["sha256"]) == 64
    shown = json.loads(run("data", "show", "qa@1", "--json", home=ready_home).stdout)
    assert shown["ref"] == "qa@1" and shown["source"] == "qa.csv" and shown["lineage"]["ancestors"] == []
    listed = json.loads(run("data", "list", "--json", home=ready_home).stdout)
    assert [d["name"] for d in listed] == ["qa"]


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"a,b\n", "no rows"),
    (b"a,b\n1,2\n3,4,5\n", "line 3"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "qa.csv"),
])
def test_bad_files_give_one_line_exit_2_and_store_nothing(ready_home, tmp_path, content, message):
    source = tmp_path / "qa.csv"
    source.write_bytes(content)
    result = run("data", "import", str(source), "--name", "qa", home=ready_home)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert json.loads(run("data", "list", "--json", home=ready_home).stdout) == []


def test_export_writes_the_file_and_unknown_versions_are_errors(ready_home, tmp_path):
    source = tmp_path / "qa.jsonl"
    source.write_text('{"prompt": "=1+1", "completion": "2"}\n')
    run("data", "import", str(source), "--name", "qa", home=ready_home)
    out = tmp_path / "out.csv"
    result = run("data", "export", "qa", "--format", "csv", "--out", str(out), home=ready_home)
    assert result.returncode == 0 and out.read_text().splitlines()[1].startswith("'=1+1")
    missing = run("data", "export", "qa@7", "--format", "csv", "--out", str(out), home=ready_home)
    assert missing.returncode == 2 and "has no version 7" in missing.stderr


def test_viewers_cannot_import_or_export(ready_home, tmp_path):
    run("users", "add", "vic", "--role", "viewer", home=ready_home, stdin="long-password-1\n")
    source = tmp_path / "a.csv"
    source.write_text("a\n1\n")
    denied = run("--user", "vic", "data", "import", str(source), "--name", "a", home=ready_home)
    assert denied.returncode == 2 and "not authorised" in denied.stderr


def test_split_dedupe_and_merge_from_the_cli(ready_home, tmp_path):
    source = tmp_path / "qa.csv"
    source.write_text("prompt,completion\n" + "".join(f"question {i % 8},answer {i % 8}\n" for i in range(20)))
    run("data", "import", str(source), "--name", "qa", home=ready_home)
    deduped = json.loads(run("data", "dedupe", "qa", "--json", home=ready_home).stdout)
    assert deduped["versions"] == ["qa@2"] and deduped["rows"] == [8] and deduped["removed"] == 12
    split = json.loads(run("data", "split", "qa@2", "--eval-share", "0.25", "--json", home=ready_home).stdout)
    assert split["versions"] == ["qa-train@1", "qa-eval@1"] and split["rows"] == [6, 2]
    merged = json.loads(run("data", "merge", "qa-train", "qa-eval", "--name", "qa-all", "--json", home=ready_home).stdout)
    assert merged["rows"] == [8] and merged["parents"] == ["qa-train@1", "qa-eval@1"]
    lineage = json.loads(run("data", "show", "qa-all", "--json", home=ready_home).stdout)["lineage"]
    assert ["qa@1", "qa@2"] in lineage["ancestors"]
    bad = run("data", "split", "qa@2", "--eval-share", "2", home=ready_home)
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr
