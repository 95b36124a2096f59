"""Registering models of every kind, with real folders, a real GGUF file, a real adapter and a real HTTP server."""
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unavailable
from core.governance import audit
from core.governance.roles import SYSTEM, Role
from core.models import bundled, endpoints, registry, sources
from tests.core.models.helpers import SERVED_MODELS, SERVER_KEY, copy_model


def _events(store, action: str):
    return audit.list_events(store, actor=SYSTEM, filters=audit.AuditFilter(action=action))


@pytest.fixture
def dan(people):
    return people[Role.DATA_SCIENTIST].as_actor()


@pytest.fixture
def chat_copy(shared_models_dir, tmp_path) -> Path:
    return copy_model(shared_models_dir, bundled.CHAT_MODEL, tmp_path / "my models" / "smol-copy")


def _fake_folder(tmp_path, shared_models_dir, *, weights: str | None = "model.safetensors", config: dict | None = None,
                 tokenizer: bool = True) -> Path:
    """A small folder with the bundled model's config and tokenizer and a chosen weights file."""
    source = bundled.store_path(shared_models_dir, bundled.CHAT_MODEL)
    folder = tmp_path / "fake"
    folder.mkdir()
    base_config = json.loads((source / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**base_config, **(config or {})}))
    if tokenizer:
        shutil.copy(source / "tokenizer.json", folder)
        shutil.copy(source / "tokenizer_config.json", folder)
    if weights:
        (folder / weights).write_bytes(b"\0" * 16)
    return folder


# --- local folders --------------------------------------------------------------------------------------

def test_a_local_folder_is_registered_in_place_with_what_it_is(models_store, dan, chat_copy):
    model = sources.add_local_folder(models_store, actor=dan, name="smol-copy", path=chat_copy)
    assert model.kind == "hf_local" and model.task == "chat"
    assert model.path == str(chat_copy.resolve())
    assert model.architecture == "LlamaForCausalLM" and model.context_length == 8192 and model.has_chat_template
    assert 130e6 < model.parameters < 140e6 and model.size_bytes > 500e6
    assert model.source == f"Local folder {chat_copy.resolve()}"
    assert model.price_per_1k_input == 0 and model.price_per_1k_output == 0
    assert registry.get_model(models_store, actor=dan, name="smol-copy") == model
    [event] = _events(models_store, "model.register")[:1]
    assert event.actor == "dan" and event.target_id == "smol-copy" and event.after["kind"] == "hf_local"

    removed = sources.remove_model(models_store, actor=dan, name="smol-copy")
    assert removed.deleted_folder is None
    assert (chat_copy / "model.safetensors").exists(), "a user's own folder is never deleted"
    assert not registry.is_registered(models_store, "smol-copy")
    assert _events(models_store, "model.remove")[0].before["path"] == str(chat_copy.resolve())


def test_an_encoder_folder_is_registered_as_an_embedding_model(models_store, dan, shared_models_dir, tmp_path):
    folder = copy_model(shared_models_dir, bundled.EMBEDDING_MODEL, tmp_path / "minilm")
    model = sources.add_local_folder(models_store, actor=dan, name="minilm-copy", path=folder)
    assert model.task == "embedding" and model.architecture == "BertModel"


@pytest.mark.parametrize("make,message", [
    (lambda t, s: t / "nowhere", "does not exist"),
    (lambda t, s: _fake_folder(t, s) / "config.json", "is a file, not a model folder"),
    (lambda t, s: (t / "empty").mkdir() or t / "empty", "it has no config.json"),
    (lambda t, s: _fake_folder(t, s, weights="pytorch_model.bin"),
     "holds only PyTorch pickle weights (pytorch_model.bin); the workbench loads safetensors only"),
    (lambda t, s: _fake_folder(t, s, weights=None), "has no *.safetensors weights file"),
    (lambda t, s: _fake_folder(t, s, config={"auto_map": {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}}),
     "needs its own Python code (auto_map in config.json)"),
    (lambda t, s: _fake_folder(t, s, tokenizer=False), "has no tokenizer"),
    (lambda t, s: _fake_folder(t, s, config={"architectures": ["LlamaForSequenceClassification"]}),
     "neither a causal language model (chat) nor a sentence-embedding encoder"),
], ids=["missing", "file", "no-config", "only-bin", "no-weights", "remote-code", "no-tokenizer", "classifier"])
def test_unusable_folders_are_refused_with_a_sentence(store, people, tmp_path, shared_models_dir, make, message):
    path = make(tmp_path, shared_models_dir)
    with pytest.raises(InvalidInput) as caught:
        sources.add_local_folder(store, actor=people[Role.ADMIN].as_actor(), name="refused", path=path)
    assert message in caught.value.message
    assert caught.value.message.count(". ") == 0 or caught.value.message.endswith(".")
    assert registry.count_models(store) == 0 and not _events(store, "model.")


@pytest.mark.parametrize("name,error,message", [
    ("bad name!", InvalidInput, "not a valid model name"),
    ("x" * 129, InvalidInput, "not a valid model name"),
    ("-leading", InvalidInput, "not a valid model name"),
    ("smollm2-135m-instruct", Conflict, "bundled with the workbench; choose another name"),
    ("taken", Conflict, "already registered"),
])
def test_names_are_checked_before_anything_is_read(store, people, name, error, message):
    admin = people[Role.ADMIN].as_actor()
    sources.add_endpoint(store, actor=admin, name="taken", base_url="http://localhost:8000/v1", model="m")
    with pytest.raises(error, match=message):
        sources.add_local_folder(store, actor=admin, name=name, path="/does/not/matter")


# --- GGUF -----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_gguf_file_is_converted_once_into_the_model_store_and_removed_with_the_model(store, people):
    admin = people[Role.ADMIN].as_actor()
    gguf_file = bundled.locate_package_file(bundled.CHAT_MODEL)
    model = sources.add_gguf(store, actor=admin, name="smol-gguf", path=gguf_file)
    folder = Path(model.path)
    assert folder == store.settings.models_dir / "smol-gguf"
    assert model.kind == "gguf" and model.task == "chat" and model.architecture == "LlamaForCausalLM"
    assert (folder / "model.safetensors").exists() and not list(folder.glob("*.gguf"))
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert model.info["gguf_file"] == str(gguf_file) and model.info["stored_by_workbench"] is True
    assert not [p for p in store.settings.models_dir.iterdir() if p.name.startswith(".smol-gguf-")], "no scratch left"

    removed = sources.remove_model(store, actor=admin, name="smol-gguf")
    assert removed.deleted_folder == str(folder.resolve()) and not folder.exists()
    assert gguf_file.exists(), "the source file is the user's"


def test_a_file_without_the_gguf_magic_is_refused(store, people, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a GGUF file")
    with pytest.raises(InvalidInput, match="is not a GGUF file: it does not start with the bytes 'GGUF'"):
        sources.add_gguf(store, actor=people[Role.ADMIN].as_actor(), name="fake", path=fake)
    with pytest.raises(InvalidInput, match="does not exist"):
        sources.add_gguf(store, actor=people[Role.ADMIN].as_actor(), name="fake", path=tmp_path / "none.gguf")


def test_a_broken_gguf_file_leaves_neither_a_folder_nor_a_row(store, people, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    with pytest.raises(InvalidInput, match="transformers could not import broken.gguf"):
        sources.add_gguf(store, actor=people[Role.ADMIN].as_actor(), name="broken", path=broken)
    assert not registry.is_registered(store, "broken")
    assert [p.name for p in store.settings.models_dir.iterdir() if not p.name.endswith(".lock")] == []


# --- Hugging Face hub -----------------------------------------------------------------------------------

def test_a_hub_model_fails_fast_and_clearly_when_offline(store, people, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        sources.add_hub_model(store, actor=people[Role.ADMIN].as_actor(), name="smol-360",
                              repo_id="HuggingFaceTB/SmolLM2-360M-Instruct")
    assert time.monotonic() - started < 5  # a bound against hanging, not a speed claim
    assert caught.value.message == ("The Hugging Face hub cannot be reached: the machine is offline (HF_HUB_OFFLINE is "
                                    "set), so HuggingFaceTB/SmolLM2-360M-Instruct cannot be downloaded.")
    assert "local folder" in caught.value.hint
    assert not registry.is_registered(store, "smol-360") and not list(store.settings.models_dir.iterdir())


def test_a_malformed_hub_id_is_refused_before_any_network(store, people):
    with pytest.raises(InvalidInput, match="is not a Hugging Face repository id"):
        sources.add_hub_model(store, actor=people[Role.ADMIN].as_actor(), name="x", repo_id="not a/valid//id")


# --- OpenAI-compatible endpoints ------------------------------------------------------------------------

def test_an_endpoint_stores_the_name_of_its_key_never_the_key(store, people, monkeypatch):
    monkeypatch.setenv("WB_TEST_KEY", "sk-very-secret-value")
    model = sources.add_endpoint(store, actor=people[Role.ADMIN].as_actor(), name="gpt-small",
                                 base_url="https://api.example.com/v1/", model="gpt-4o-mini",
                                 api_key_env="WB_TEST_KEY", price_per_1k_input=0.00015, price_per_1k_output=0.0006)
    assert model.kind == "openai" and model.task == "chat" and model.path is None
    assert model.info["base_url"] == "https://api.example.com/v1" and model.info["api_key_env"] == "WB_TEST_KEY"
    assert model.price_per_1k_input == 0.00015 and model.price_per_1k_output == 0.0006
    everything = json.dumps(model.to_dict()) + json.dumps([e.after for e in _events(store, "model.")])
    assert "sk-very-secret-value" not in everything


@pytest.mark.parametrize("fields,message", [
    ({"base_url": "ftp://example.com/v1"}, "is not an http(s) URL"),
    ({"base_url": "localhost:8000"}, "is not an http(s) URL"),
    ({"base_url": "http://user:pw@example.com/v1"}, "must not hold a user name or password"),
    ({"model": ""}, "Give the model name the endpoint serves"),
    ({"api_key_env": "sk-abc123def456"}, "never the key itself"),
    ({"price_per_1k_input": -1}, "must be zero or more US dollars"),
    ({"price_per_1k_output": float("nan")}, "must be zero or more US dollars"),
])
def test_bad_endpoint_fields_are_refused(store, people, fields, message):
    values = {"base_url": "http://localhost:8000/v1", "model": "m", **fields}
    with pytest.raises(InvalidInput) as caught:
        sources.add_endpoint(store, actor=people[Role.ADMIN].as_actor(), name="ep", **values)
    assert message in caught.value.message and registry.count_models(store) == 0


def test_checking_an_endpoint_asks_the_server_with_the_key_from_the_environment(store, people, endpoint_url,
                                                                                monkeypatch):
    admin = people[Role.ADMIN].as_actor()
    sources.add_endpoint(store, actor=admin, name="local-vllm", base_url=endpoint_url, model="tiny-chat",
                         api_key_env="WB_TEST_KEY")
    monkeypatch.delenv("WB_TEST_KEY", raising=False)
    with pytest.raises(Unavailable, match="no environment variable or Streamlit secret named WB_TEST_KEY"):
        sources.check_endpoint(store, actor=admin, name="local-vllm", timeout=5)

    monkeypatch.setenv("WB_TEST_KEY", "wrong-key")
    with pytest.raises(Unavailable, match="refused the API key"):
        sources.check_endpoint(store, actor=admin, name="local-vllm", timeout=5)

    monkeypatch.setenv("WB_TEST_KEY", SERVER_KEY)
    check = sources.check_endpoint(store, actor=admin, name="local-vllm", timeout=5)
    assert check.served_models == sorted(SERVED_MODELS) and check.model_served
    assert check.message == f"{endpoint_url} answers and serves tiny-chat."
    reply = endpoints.chat(endpoint_url, "tiny-chat", "WB_TEST_KEY", [{"role": "user", "content": "hi"}], timeout=5)
    assert reply == {"output": "echo: hi", "finish_reason": "stop", "tokens_in": 5, "tokens_out": 3}


def test_the_key_can_come_from_streamlit_secrets(store, people, endpoint_url, tmp_path, monkeypatch):
    monkeypatch.delenv("WB_SECRET_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(f'WB_SECRET_KEY = "{SERVER_KEY}"\n')
    admin = people[Role.ADMIN].as_actor()
    sources.add_endpoint(store, actor=admin, name="ep", base_url=endpoint_url, model="missing-model",
                         api_key_env="WB_SECRET_KEY")
    check = sources.check_endpoint(store, actor=admin, name="ep", timeout=5)
    assert not check.model_served and "does not list missing-model" in check.message


def test_an_endpoint_that_is_not_running_is_one_sentence(store, people):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    admin = people[Role.ADMIN].as_actor()
    sources.add_endpoint(store, actor=admin, name="down", base_url=f"http://127.0.0.1:{port}/v1", model="m")
    with pytest.raises(Unavailable, match=rf"http://127.0.0.1:{port}/v1 cannot be reached"):
        sources.check_endpoint(store, actor=admin, name="down", timeout=5)


def test_only_endpoints_have_a_connection_to_check(models_store, dan):
    with pytest.raises(InvalidInput, match="'minilm-l6-v2' is bundled with the workbench, not an endpoint"):
        sources.check_endpoint(models_store, actor=dan, name="minilm-l6-v2")


# --- adapters and lineage -------------------------------------------------------------------------------

def test_a_real_lora_adapter_is_registered_on_its_base_and_listed_as_derived(models_store, dan, lora_adapter):
    adapter = sources.add_adapter(models_store, actor=dan, name="support-lora", path=lora_adapter,
                                  base_model="smollm2-135m-instruct")
    assert adapter.kind == "adapter" and adapter.task == "chat" and adapter.base_model == "smollm2-135m-instruct"
    assert adapter.info["r"] == 2 and adapter.info["target_modules"] == ["q_proj", "v_proj"]
    assert adapter.architecture == "LlamaForCausalLM" and adapter.context_length == 8192
    assert 0 < adapter.parameters < 1e6  # the LoRA matrices only
    assert adapter.path == str(lora_adapter.resolve())
    derived = registry.derived_models(models_store, actor=dan, name="smollm2-135m-instruct")
    assert [m.name for m in derived] == ["support-lora"]
    assert registry.derived_models(models_store, actor=dan, name="minilm-l6-v2") == []
    assert sources.derived_models is registry.derived_models


def test_an_adapter_needs_a_registered_local_base_it_fits(models_store, dan, lora_adapter, tmp_path):
    with pytest.raises(NotFound, match="The base model 'nope' is not registered; register it first"):
        sources.add_adapter(models_store, actor=dan, name="a1", path=lora_adapter, base_model="nope")
    with pytest.raises(InvalidInput, match="does not fit 'minilm-l6-v2': none of its layers exist in that model"):
        sources.add_adapter(models_store, actor=dan, name="a1", path=lora_adapter, base_model="minilm-l6-v2")
    sources.add_endpoint(models_store, actor=dan, name="remote", base_url="http://localhost:1/v1", model="m")
    with pytest.raises(InvalidInput, match="an adapter needs a local base model"):
        sources.add_adapter(models_store, actor=dan, name="a1", path=lora_adapter, base_model="remote")
    pickled = shutil.copytree(lora_adapter, tmp_path / "pickled")
    (pickled / "adapter_model.safetensors").rename(pickled / "adapter_model.bin")
    with pytest.raises(InvalidInput, match="holds only PyTorch pickle weights"):
        sources.add_adapter(models_store, actor=dan, name="a1", path=pickled, base_model="smollm2-135m-instruct")
    with pytest.raises(InvalidInput, match="no adapter_config.json"):
        sources.add_adapter(models_store, actor=dan, name="a1", path=tmp_path, base_model="smollm2-135m-instruct")
    assert not registry.is_registered(models_store, "a1")


def test_an_adapter_of_another_size_does_not_fit(models_store, dan, lora_adapter, tmp_path):
    """The LoRA matrices are compared with the base's weight shapes (headers only)."""
    from safetensors.torch import load_file, save_file

    wrong = shutil.copytree(lora_adapter, tmp_path / "wrong")
    tensors = {k: (v[:, :100].contiguous() if ".lora_A." in k else v)
               for k, v in load_file(wrong / "adapter_model.safetensors").items()}
    save_file(tensors, wrong / "adapter_model.safetensors")
    with pytest.raises(InvalidInput, match="does not fit 'smollm2-135m-instruct': its layer .* expects size 100"):
        sources.add_adapter(models_store, actor=dan, name="wrong", path=wrong, base_model="smollm2-135m-instruct")


# --- removal, prices, permissions -----------------------------------------------------------------------

def test_removal_rules(models_store, dan, chat_copy, lora_adapter):
    with pytest.raises(Conflict, match="'smollm2-135m-instruct' is bundled with the workbench and cannot be removed"):
        sources.remove_model(models_store, actor=dan, name="smollm2-135m-instruct")
    with pytest.raises(NotFound, match="no model named 'ghost'"):
        sources.remove_model(models_store, actor=dan, name="ghost")
    sources.add_local_folder(models_store, actor=dan, name="my-base", path=chat_copy)
    sources.add_adapter(models_store, actor=dan, name="my-lora", path=lora_adapter, base_model="my-base")
    with pytest.raises(Conflict, match="'my-base' is the base of the adapter my-lora; remove it first"):
        sources.remove_model(models_store, actor=dan, name="my-base")
    assert registry.is_registered(models_store, "my-base") and not _events(models_store, "model.remove")
    sources.remove_model(models_store, actor=dan, name="my-lora")
    assert (lora_adapter / "adapter_model.safetensors").exists(), "an adapter folder is the user's"
    sources.remove_model(models_store, actor=dan, name="my-base")
    assert [e.target_id for e in _events(models_store, "model.remove")] == ["my-base", "my-lora"]


def test_prices_are_set_in_usd_per_1k_tokens_and_audited(models_store, dan):
    assert registry.get_model(models_store, actor=dan, name="smollm2-135m-instruct").price_per_1k_input == 0
    model = sources.set_price(models_store, actor=dan, name="smollm2-135m-instruct", input_per_1k=0.01,
                              output_per_1k=0.02)
    assert (model.price_per_1k_input, model.price_per_1k_output) == (0.01, 0.02)
    assert model.info["description"], "the rest of info is kept"
    assert registry.get_model(models_store, actor=dan, name="smollm2-135m-instruct").to_dict()["price_per_1k_output"] == 0.02
    [event] = _events(models_store, "model.set_price")
    assert event.actor == "dan" and event.before == {"price": None}
    assert event.after == {"price": {"input_per_1k": 0.01, "output_per_1k": 0.02}}
    with pytest.raises(InvalidInput, match="must be zero or more"):
        sources.set_price(models_store, actor=dan, name="smollm2-135m-instruct", input_per_1k=-0.5, output_per_1k=0)
    with pytest.raises(NotFound):
        sources.set_price(models_store, actor=dan, name="ghost", input_per_1k=0, output_per_1k=0)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANNOTATOR], ids=lambda r: r.value)
def test_viewers_and_annotators_cannot_change_the_registry(models_store, people, role, chat_copy, lora_adapter):
    actor = people[role].as_actor()
    calls = [
        lambda: sources.add_local_folder(models_store, actor=actor, name="x", path=chat_copy),
        lambda: sources.add_hub_model(models_store, actor=actor, name="x", repo_id="a/b"),
        lambda: sources.add_gguf(models_store, actor=actor, name="x", path=chat_copy / "config.json"),
        lambda: sources.add_endpoint(models_store, actor=actor, name="x", base_url="http://h/v1", model="m"),
        lambda: sources.add_adapter(models_store, actor=actor, name="x", path=lora_adapter,
                                    base_model="smollm2-135m-instruct"),
        lambda: sources.remove_model(models_store, actor=actor, name="minilm-l6-v2"),
        lambda: sources.set_price(models_store, actor=actor, name="minilm-l6-v2", input_per_1k=1, output_per_1k=1),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied, match="not authorised to change the model registry"):
            call()
    assert registry.count_models(models_store) == 2
    assert not [e for e in _events(models_store, "model.") if e.actor == actor.name]


def test_endpoint_key_names_are_names(monkeypatch):
    assert endpoints.check_key_name("  OPENAI_API_KEY ") == "OPENAI_API_KEY"
    assert endpoints.check_key_name("") is None
    assert endpoints.check_key_name("openai.api_key") == "openai.api_key"  # a key in a secrets.toml section
    monkeypatch.setenv("SOME_KEY", "v")
    assert endpoints.api_key("SOME_KEY") == "v" and endpoints.api_key(None) == endpoints.NO_KEY
    assert os.environ.get("SOME_KEY") == "v"


@pytest.mark.postgres
def test_prices_lineage_and_removal_on_both_databases(any_store, tmp_path, lora_adapter, shared_models_dir):
    """The JSON `info` column is updated in place and read back the same on SQLite and PostgreSQL."""
    base = copy_model(shared_models_dir, bundled.CHAT_MODEL, tmp_path / "base")
    sources.add_local_folder(any_store, actor=SYSTEM, name="base", path=base)
    sources.add_adapter(any_store, actor=SYSTEM, name="lora", path=lora_adapter, base_model="base")
    sources.set_price(any_store, actor=SYSTEM, name="base", input_per_1k=0.25, output_per_1k=0.5)
    assert registry.get_model(any_store, actor=SYSTEM, name="base").price_per_1k_output == 0.5
    assert [m.name for m in registry.derived_models(any_store, actor=SYSTEM, name="base")] == ["lora"]
    with pytest.raises(Conflict, match="base of the adapter lora"):
        sources.remove_model(any_store, actor=SYSTEM, name="base")
    sources.remove_model(any_store, actor=SYSTEM, name="lora")
    sources.remove_model(any_store, actor=SYSTEM, name="base")
    assert registry.count_models(any_store) == 0


def test_a_local_model_generates_in_the_precision_chosen_for_it_and_only_fp32_by_default(models_store, dan):
    name = "smollm2-135m-instruct"
    assert registry.get_model(models_store, actor=dan, name=name).precision == "fp32"
    model = registry.set_precision(models_store, actor=dan, name=name, precision="int8")
    assert model.precision == "int8" and model.to_dict()["precision"] == "int8"
    assert registry.get_model(models_store, actor=dan, name=name).info["description"], "the rest of info is kept"
    [event] = _events(models_store, "model.precision")
    assert event.actor == "dan" and event.before == {"precision": None} and event.after == {"precision": "int8"}
    with pytest.raises(InvalidInput, match="'fp16' is not a precision; choose one of fp32, bf16, int8"):
        registry.set_precision(models_store, actor=dan, name=name, precision="fp16")
