"""`workbench prompts ...` as real processes: save versions, label, diff, render; bad input is one line."""
import json

from tests.cli.test_cli import run


def test_save_label_show_diff_and_render_a_template(home, tmp_path):
    first = run("prompts", "save", "summary", "--body", "Summarise: {{ text }}", "--description", "Queue summaries",
                "--json", home=home)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["ref"] == "summary@1"
    body = tmp_path / "v2.j2"
    body.write_text("Summarise in {{ words }} words:\n{{ text }}\n")
    second = run("prompts", "save", "summary", "--file", str(body), "--system", "Be factual.", "--note", "word limit",
                 "--label", "production", home=home)
    assert second.returncode == 0 and second.stdout.startswith("Saved summary@2; variables: text, words")
    unchanged = run("prompts", "save", "summary", "--file", str(body), "--system", "Be factual.", home=home)
    assert unchanged.stdout.startswith("Unchanged, still summary@2")

    shown = json.loads(run("prompts", "show", "summary@production", "--json", home=home).stdout)
    assert shown["version"] == 2 and shown["labels"] == ["production"] and shown["system"] == "Be factual."
    listed = json.loads(run("prompts", "list", "--json", home=home).stdout)
    assert listed == [{**listed[0], "name": "summary", "versions": 2, "latest": 2, "labels": {"production": 2}}]
    diff = run("prompts", "diff", "summary@1", "summary@2", home=home).stdout
    assert "-Summarise: {{ text }}" in diff and "+[system] Be factual." in diff
    rendered = json.loads(run("prompts", "render", "summary@2", "--var", "words=10", "--var", "text=Printer broken",
                              "--json", home=home).stdout)
    assert rendered == [{"role": "system", "content": "Be factual."},
                        {"role": "user", "content": "Summarise in 10 words:\nPrinter broken"}]
    moved = run("prompts", "label", "summary@1", "production", home=home)
    assert moved.stdout == "summary@production now points to summary@1.\n"
    audit = run("audit", "list", "--action", "prompt.", "--json", home=home)
    assert {e["action"] for e in json.loads(audit.stdout)} == {"prompt.create", "prompt.save", "prompt.label"}


def test_bad_templates_and_references_are_one_line_errors_and_store_nothing(home, tmp_path):
    for args, message in [
        (("prompts", "save", "x", "--body", "{% if %}"), "syntax error on line 1"),
        (("prompts", "save", "x"), "Give the template's text"),
        (("prompts", "save", "x", "--file", str(tmp_path / "missing.txt")), "does not exist"),
        (("prompts", "show", "x@1"), "no prompt template named 'x'"),
        (("prompts", "render", "x", "--var", "novalue"), "no prompt template named 'x'"),
    ]:
        result = run(*args, home=home)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1
    assert json.loads(run("prompts", "list", "--json", home=home).stdout) == []
    run("prompts", "save", "x", "--body", "Hi {{ name }}", home=home)
    missing = run("prompts", "render", "x", home=home)
    assert missing.returncode == 2 and "'name' is undefined" in missing.stderr


def test_annotators_cannot_save_or_read_templates(home, people):
    denied = run("--user", "ann", "prompts", "save", "x", "--body", "Hi", home=home)
    assert denied.returncode == 2 and "not authorised to save prompt templates" in denied.stderr
    assert run("--user", "ann", "prompts", "list", home=home).returncode == 2
    assert run("--user", "dan", "prompts", "save", "x", "--body", "Hi", home=home).returncode == 0
