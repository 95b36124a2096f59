"""Loaded models, once per process: the app caches them as resources, the CLI and workers through this."""
from __future__ import annotations

from functools import lru_cache

from core.errors import InvalidInput
from core.governance.roles import Actor, Permission, require
from core.models import registry
from core.models.loading import load_causal_lm
from core.storage.db import Store

LOCAL_KINDS = {"bundled", "hf_local", "hf_hub", "gguf"}


@lru_cache(maxsize=2)
def local_chat_model(path: str):
    """(model, tokenizer) of a local chat model folder, loaded once per process."""
    import torch

    torch.set_grad_enabled(False)
    return load_causal_lm(path)


def chat_model_for(store: Store, *, actor: Actor, name: str):
    """The registered chat model `name`, loaded; (model, tokenizer, ModelInfo)."""
    require(actor, Permission.RUN_INFERENCE)
    info = registry.get_model(store, actor=actor, name=name)
    if info.task != "chat":
        raise InvalidInput(f"'{name}' is an {info.task} model, not a chat model; choose a chat model.")
    if info.kind not in LOCAL_KINDS or not info.path:
        raise InvalidInput(f"'{name}' is not a local model; batched local generation runs local models only.")
    model, tokenizer = local_chat_model(info.path)
    return model, tokenizer, info
