"""Running registered chat models, whatever their kind, behind one call.

Local folders (bundled, local, hub, GGUF) and LoRA adapters run through batched local generation, loaded once
per process; OpenAI-compatible endpoints are called over HTTP through the official client, a few requests at
a time. Every path returns the same `Generation` records, so comparisons and pipelines do not care which.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from core.errors import InvalidInput, Unavailable, WorkbenchError
from core.governance.roles import Actor, Permission, require
from core.inference.generate import Generation, GenerationSettings, Progress, generate_chats
from core.models import endpoints, registry
from core.models.loading import load_causal_lm
from core.storage.db import Store

LOCAL_KINDS = set(registry.LOCAL_KINDS)
ENDPOINT_WORKERS = 4


@lru_cache(maxsize=2)
def local_chat_model(path: str):
    """(model, tokenizer) of a local chat model folder, loaded once per process."""
    return load_causal_lm(path)


@lru_cache(maxsize=2)
def adapter_chat_model(base_path: str, adapter_path: str):
    """(PeftModel, tokenizer): a fresh copy of the base with the LoRA adapter applied, unmerged, so its outputs
    match plain `peft.PeftModel.from_pretrained`; the cached base model is never modified."""
    from peft import PeftModel

    base, tokenizer = load_causal_lm(base_path)
    try:
        model = PeftModel.from_pretrained(base, adapter_path, is_trainable=False)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise Unavailable(f"The adapter in {adapter_path} cannot be applied to its base model ({exc}).") from None
    model.eval()
    return model, tokenizer


def chat_model_info(store: Store, *, actor: Actor, name: str) -> registry.ModelInfo:
    require(actor, Permission.RUN_INFERENCE)
    info = registry.get_model(store, actor=actor, name=name)
    if info.task != "chat":
        raise InvalidInput(f"'{name}' is an {info.task} model, not a chat model; choose a chat model.")
    return info


def _loaded(store: Store, actor: Actor, info: registry.ModelInfo):
    if info.kind in LOCAL_KINDS and info.path:
        return local_chat_model(info.path)
    if info.kind == "adapter" and info.path and info.base_model:
        base = registry.get_model(store, actor=actor, name=info.base_model)
        return adapter_chat_model(base.path, info.path)
    raise InvalidInput(f"'{info.name}' is not a local model; it cannot be loaded into this process.")


def chat_model_for(store: Store, *, actor: Actor, name: str):
    """The registered local chat model or adapter `name`, loaded; (model, tokenizer, ModelInfo)."""
    info = chat_model_info(store, actor=actor, name=name)
    model, tokenizer = _loaded(store, actor, info)
    return model, tokenizer, info


@lru_cache(maxsize=8)
def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, trust_remote_code=False)


def chat_prompt_text(store: Store, *, actor: Actor, model: str, messages: list[dict]) -> str | None:
    """The exact text the model reads for `messages` under its chat template (tokenizer only, no weights);
    None for an endpoint, whose server applies its own template."""
    info = chat_model_info(store, actor=actor, name=model)
    if info.kind == "openai":
        return None
    path = info.path
    if info.kind == "adapter":
        path = registry.get_model(store, actor=actor, name=info.base_model).path
    tokenizer = _tokenizer(path)
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidInput(f"'{model}' has no chat template; choose an instruction-tuned chat model.")
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _endpoint_chats(info: registry.ModelInfo, conversations: list[list[dict]], settings: GenerationSettings,
                    progress: Progress | None) -> list[Generation]:
    base_url, model, key = info.info.get("base_url"), info.info.get("model"), info.info.get("api_key_env")
    if not base_url or not model:
        raise Unavailable(f"The endpoint model '{info.name}' has no base URL or served model name; register it again.")

    def one(messages: list[dict]) -> Generation:
        started = time.perf_counter()
        reply = endpoints.chat(base_url, model, key, messages, max_tokens=settings.max_new_tokens,
                               temperature=settings.temperature, top_p=settings.top_p, seed=settings.seed,
                               stop=list(settings.stop) or None)
        return Generation(output=(reply["output"] or "").strip(), tokens_in=reply["tokens_in"] or 0,
                          tokens_out=reply["tokens_out"] or 0, latency_s=time.perf_counter() - started,
                          finish_reason=_finish_reason(reply["finish_reason"]))

    results: list[Generation] = []
    with ThreadPoolExecutor(max_workers=ENDPOINT_WORKERS, thread_name_prefix="endpoint") as pool:
        for n, generation in enumerate(pool.map(one, conversations), start=1):
            results.append(generation)
            if progress:
                progress(n, len(conversations))
    return results


def _finish_reason(reason: str | None) -> str:
    return {"stop": "stop", "length": "length"}.get(reason or "", reason or "stop")


def complete_chats(store: Store, *, actor: Actor, model: str, conversations: list[list[dict]],
                   settings: GenerationSettings = GenerationSettings(),
                   progress: Progress | None = None, precision: str | None = None) -> list[Generation]:
    """One answer per conversation, in input order, from the registered chat model `model`. A local model
    generates in `precision` when given ("fp32", "bf16", "int8"), else in the precision set on the model in the
    registry (fp32 unless chosen); an endpoint's precision is its server's."""
    info = chat_model_info(store, actor=actor, name=model)
    if not conversations:
        return []
    if info.kind == "openai":
        return _endpoint_chats(info, conversations, settings, progress)
    loaded_model, tokenizer = _loaded(store, actor, info)
    try:
        return generate_chats(loaded_model, tokenizer, conversations, settings, progress=progress,
                              precision=precision or info.precision)
    except WorkbenchError:
        raise
    except (ValueError, TypeError) as exc:
        # A tokenizer without a chat template, or a conversation it refuses.
        raise InvalidInput(f"'{model}' could not format the conversation: {exc}") from None


def cost_usd(info: registry.ModelInfo, tokens_in: int | None, tokens_out: int | None) -> float:
    """Estimated price of one call from the model's price table (USD per 1,000 tokens)."""
    return ((tokens_in or 0) * info.price_per_1k_input + (tokens_out or 0) * info.price_per_1k_output) / 1000.0
