"""`workbench generate` as a script runs it: one JSON line per input line, in order."""
import json

import pytest

from tests.cli.test_cli import run


@pytest.mark.slow
def test_generate_prints_one_json_object_per_prompt_in_order(models_store, home, tmp_path):
    source = tmp_path / "prompts.jsonl"
    source.write_text("\n".join(json.dumps({"prompt": p}) for p in
                                ["What is the capital of France?", "Say hello.", "What is 2+2?"]) + "\n")
    result = run("generate", "--model", "smollm2-135m-instruct", "--input", str(source), "--max-new-tokens", "24",
                 "--json", home=home)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3 and "Paris" in lines[0]["output"]
    assert set(lines[0]) == {"output", "tokens_in", "tokens_out", "latency_s"}
    assert all(0 < r["tokens_out"] <= 24 for r in lines)


@pytest.mark.parametrize("content,message", [
    ('{"prompt": "ok"}\nnot json\n', "line 2: not valid JSON"),
    ('{"text": "no prompt field"}\n', "line 1: expected a text 'prompt' field"),
    ('["a list"]\n', "line 1: expected a JSON object"),
    ("\n\n", "holds no input lines"),
])
def test_bad_input_files_are_one_line_errors(models_store, home, tmp_path, content, message):
    source = tmp_path / "p.jsonl"
    source.write_text(content)
    result = run("generate", "--input", str(source), home=home)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_embedding_models_cannot_chat(models_store, home, tmp_path):
    source = tmp_path / "p.jsonl"
    source.write_text('{"prompt": "hi"}\n')
    result = run("generate", "--model", "minilm-l6-v2", "--input", str(source), home=home)
    assert result.returncode == 2 and "is an embedding model, not a chat model" in result.stderr


@pytest.mark.slow
def test_a_template_fills_its_variables_from_each_line(models_store, home, tmp_path):
    from core.governance.roles import SYSTEM
    from core.prompts import templates

    templates.save_version(models_store, actor=SYSTEM, name="capital", body="What is the capital of {{ country }}?",
                           system="Answer with one word.")
    templates.set_label(models_store, actor=SYSTEM, ref="capital@1", label="production")
    source = tmp_path / "vars.jsonl"
    source.write_text('{"country": "France"}\n{"country": "Italy"}\n')
    result = run("generate", "--template", "capital@production", "--input", str(source), "--max-new-tokens", "8",
                 "--json", home=home)
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line)["output"] for line in result.stdout.splitlines()]
    assert "Paris" in outputs[0] and "Rome" in outputs[1]

    source.write_text('{"country": "France"}\n{"nation": "Italy"}\n')
    missing = run("generate", "--template", "capital@1", "--input", str(source), home=home)
    assert missing.returncode == 2 and "line 2: The template needs a value that was not given: 'country' is undefined" \
        in missing.stderr
    unknown = run("generate", "--template", "nope@1", "--input", str(source), home=home)
    assert unknown.returncode == 2 and "no prompt template named 'nope'" in unknown.stderr
