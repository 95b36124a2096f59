"""Merge-and-export: an adapter merged into its base is a full model folder that answers like the adapter."""
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.governance.roles import SYSTEM
from core.inference import engines
from core.inference.generate import GenerationSettings
from core.models import bundled, registry, sources
from core.models.loading import load_causal_lm

QUESTION = [[{"role": "user", "content": "What is the capital of France?"}]]


@pytest.mark.slow
def test_a_merged_adapter_is_a_plain_folder_that_answers_like_the_adapter(models_store, shared_models_dir, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from tests.core.models.helpers import make_lora_adapter

    adapter = make_lora_adapter(shared_models_dir, tmp_path / "lora")
    weights = load_file(adapter / "adapter_model.safetensors")
    torch.manual_seed(2)
    save_file({k: torch.randn_like(v) * 0.3 for k, v in weights.items()}, adapter / "adapter_model.safetensors")
    sources.add_adapter(models_store, actor=SYSTEM, name="tuned", path=adapter, base_model=bundled.CHAT_MODEL.name)

    merged = sources.add_merged(models_store, actor=SYSTEM, name="tuned-full", adapter="tuned")
    assert merged.kind == "merged" and merged.info["merged_from"] == "tuned" and merged.is_local
    assert not list(Path(merged.path).glob("adapter_config.json"))
    assert [m.name for m in registry.derived_models(models_store, actor=SYSTEM, name="tuned")] == ["tuned-full"]
    model, _ = load_causal_lm(merged.path)  # a plain transformers load, no PEFT
    assert type(model).__name__ == "LlamaForCausalLM"

    settings = GenerationSettings(max_new_tokens=12)
    via_adapter = engines.complete_chats(models_store, actor=SYSTEM, model="tuned", conversations=QUESTION,
                                         settings=settings)[0].output
    via_merged = engines.complete_chats(models_store, actor=SYSTEM, model="tuned-full", conversations=QUESTION,
                                        settings=settings)[0].output
    assert via_merged == via_adapter

    with pytest.raises(InvalidInput, match="not a LoRA adapter"):
        sources.add_merged(models_store, actor=SYSTEM, name="again", adapter=bundled.CHAT_MODEL.name)
    removed = sources.remove_model(models_store, actor=SYSTEM, name="tuned-full")
    assert Path(removed.deleted_folder).resolve() == Path(merged.path).resolve() and not Path(merged.path).exists()
