"""`workbench models add | remove | set-price | set-precision | check` as real processes: the same core functions as the page."""
import json
import os
import socket
import subprocess

import pytest

from core.models import bundled
from tests.cli.test_cli import WORKBENCH, run
from tests.core.models.helpers import SERVER_KEY, copy_model, make_lora_adapter, openai_server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _one_line_error(result, message: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_add_a_folder_set_its_price_show_and_remove_it(models_store, home, shared_models_dir, tmp_path):
    folder = copy_model(shared_models_dir, bundled.EMBEDDING_MODEL, tmp_path / "minilm")
    added = run("models", "add", "minilm-copy", "--folder", str(folder), "--json", home=home)
    assert added.returncode == 0, added.stderr
    model = json.loads(added.stdout)
    assert model["kind"] == "hf_local" and model["task"] == "embedding" and model["path"] == str(folder.resolve())

    priced = run("models", "set-price", "minilm-copy", "--input-per-1k", "0.001", "--output-per-1k", "0", home=home)
    assert priced.returncode == 0 and priced.stdout == "minilm-copy: $0.001 per 1k input tokens, $0 per 1k output tokens\n"
    shown = json.loads(run("models", "show", "minilm-copy", "--json", home=home).stdout)
    assert shown["price_per_1k_input"] == 0.001 and shown["derived_models"] == []
    listed = run("models", "list", home=home).stdout
    assert "minilm-copy" in listed and "hf_local" in listed

    removed = run("models", "remove", "minilm-copy", home=home)
    assert removed.returncode == 0 and removed.stdout == "Removed minilm-copy; its files were left where they are\n"
    assert (folder / "model.safetensors").exists()
    audit = json.loads(run("audit", "list", "--target", "model", "--json", home=home).stdout)
    assert [e["action"] for e in audit[:3]] == ["model.remove", "model.set_price", "model.register"]


def test_add_an_adapter_and_see_it_made_from_its_base(models_store, home, shared_models_dir, tmp_path):
    adapter = make_lora_adapter(shared_models_dir, tmp_path / "lora")
    added = run("models", "add", "my-lora", "--adapter", str(adapter), "--base", "smollm2-135m-instruct", home=home)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("Registered my-lora (adapter, chat) from Adapter folder")
    shown = run("models", "show", "smollm2-135m-instruct", home=home).stdout
    assert "made from it: my-lora" in shown
    _one_line_error(run("models", "remove", "smollm2-135m-instruct", home=home),
                    "is bundled with the workbench and cannot be removed")


def test_choose_the_precision_a_local_model_generates_in(models_store, home):
    chosen = run("models", "set-precision", "smollm2-135m-instruct", "int8", "--json", home=home)
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["precision"] == "int8"
    back = run("models", "set-precision", "smollm2-135m-instruct", "fp32", home=home)
    assert back.stdout == "smollm2-135m-instruct now generates in fp32 unless a call asks for another\n"
    audit = json.loads(run("audit", "list", "--target", "model", "--json", home=home).stdout)
    assert [e["action"] for e in audit[:2]] == ["model.precision", "model.precision"]
    refused = run("models", "set-precision", "smollm2-135m-instruct", "fp16", home=home)
    assert refused.returncode == 2 and "invalid choice: 'fp16'" in refused.stderr


def test_add_an_endpoint_and_check_it(store, home):
    with openai_server() as url:
        added = run("models", "add", "local-llm", "--endpoint", url, "--model", "tiny-chat", "--api-key-env",
                    "WB_CLI_KEY", "--input-per-1k", "0.5", "--output-per-1k", "1.5", "--json", home=home)
        assert added.returncode == 0, added.stderr
        model = json.loads(added.stdout)
        assert model["info"]["api_key_env"] == "WB_CLI_KEY" and model["price_per_1k_output"] == 1.5
        env = {**os.environ, "WORKBENCH_HOME": str(home.home), "WB_CLI_KEY": SERVER_KEY}
        checked = subprocess.run([WORKBENCH, "models", "check", "local-llm", "--json"], capture_output=True,
                                 text=True, env=env, timeout=60)
        assert checked.returncode == 0, checked.stderr
        assert json.loads(checked.stdout)["model_served"] is True
    _one_line_error(run("models", "check", "local-llm", "--timeout", "3", home=home),
                    "no environment variable or Streamlit secret named WB_CLI_KEY")


@pytest.mark.parametrize("args,message", [
    (("models", "add", "x"), "one of the arguments --folder --hub --gguf --endpoint --adapter is required"),
    (("models", "add", "x", "--folder", "/a", "--gguf", "/b"), "not allowed with argument"),
    (("models", "add", "x", "--hub", "a/b", "--model", "m"), "--model goes with --endpoint only"),
    (("models", "add", "x", "--folder", "/a", "--revision", "main"), "--revision goes with --hub only"),
    (("models", "add", "x", "--endpoint", "http://localhost:8000/v1"), "--endpoint needs --model"),
    (("models", "add", "x", "--adapter", "/a"), "--adapter needs --base"),
    (("models", "add", "x", "--endpoint", "ftp://h/v1", "--model", "m"), "is not an http(s) URL"),
    (("models", "add", "x", "--endpoint", "http://h/v1", "--model", "m", "--api-key-env", "sk-123-abc"),
     "never the key itself"),
    (("models", "add", "bad name", "--endpoint", "http://h/v1", "--model", "m"), "not a valid model name"),
    (("models", "add", "x", "--folder", "/no/such/folder"), "does not exist"),
    (("models", "add", "x", "--hub", "HuggingFaceTB/SmolLM2-360M-Instruct"),
     "The Hugging Face hub cannot be reached: the machine is offline"),
    (("models", "remove", "ghost"), "no model named 'ghost'"),
    (("models", "set-price", "ghost", "--input-per-1k", "1", "--output-per-1k", "1"), "no model named 'ghost'"),
    (("models", "set-price", "ghost", "--input-per-1k", "cheap", "--output-per-1k", "1"), "invalid float value"),
])
def test_mistakes_are_one_line_errors(store, home, args, message):
    env = {**os.environ, "WORKBENCH_HOME": str(home.home), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([WORKBENCH, *args], capture_output=True, text=True, env=env, timeout=60)
    _one_line_error(result, message)


def test_files_that_are_not_models_are_one_line_errors(store, home, tmp_path):
    only_bin = tmp_path / "old-model"
    only_bin.mkdir()
    (only_bin / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}')
    (only_bin / "pytorch_model.bin").write_bytes(b"\x80\x02")
    _one_line_error(run("models", "add", "old", "--folder", str(only_bin), home=home),
                    "holds only PyTorch pickle weights (pytorch_model.bin); the workbench loads safetensors only")
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a gguf file")
    _one_line_error(run("models", "add", "fake", "--gguf", str(fake), home=home), "is not a GGUF file")


def test_the_hub_without_a_network_fails_within_the_timeout(store, home):
    """No HF_HUB_OFFLINE, but the hub address answers nothing: a sentence, not a hang or a traceback."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(WORKBENCH_HOME=str(home.home), HF_ENDPOINT=f"http://127.0.0.1:{_free_port()}")
    result = subprocess.run([WORKBENCH, "models", "add", "smol", "--hub", "HuggingFaceTB/SmolLM2-135M"],
                            capture_output=True, text=True, env=env, timeout=90)
    _one_line_error(result, "The Hugging Face hub cannot be reached: the machine is offline or the hub is blocked")
    assert "Downloading" not in result.stdout


def test_viewers_cannot_change_the_registry(store, people, home):
    for args in (("models", "add", "x", "--endpoint", "http://h/v1", "--model", "m"), ("models", "remove", "x"),
                 ("models", "set-price", "x", "--input-per-1k", "1", "--output-per-1k", "1")):
        _one_line_error(run("--user", "vic", *args, home=home), "vic (Viewer (manager)) is not authorised to change "
                                                                "the model registry")
