"""Batched local generation with a lean decode loop.

Why not one `model.generate()` call over everything: padding every prompt to the longest wastes compute, and
a batch keeps paying for rows that already stopped until its longest answer ends. Here prompts are sorted by
length and cut into batches of similar lengths (little padding), each batch is prefilled once into a KV cache,
and every decode step feeds only the newest token of the rows still running: rows that stop are dropped from
the batch and from the cache, so the work shrinks as answers finish.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import InvalidInput

Progress = Callable[[int, int], None]  # (prompts done, prompts in all)


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = field(default=128, metadata={"help": "Most tokens to generate per answer.", "min": 1, "max": 8192})
    temperature: float = field(default=0.0, metadata={"help": "0 means greedy decoding; higher samples more freely."})
    top_p: float = field(default=1.0, metadata={"help": "Sample only from the smallest set of tokens whose probability reaches this."})
    seed: int = field(default=0, metadata={"help": "Random seed for sampling."})
    stop: tuple[str, ...] = field(default=(), metadata={"help": "Strings that end an answer (not included in it)."})
    batch_size: int = field(default=16, metadata={"help": "Prompts decoded together.", "min": 1, "max": 512})

    def __post_init__(self):
        if not 1 <= self.max_new_tokens <= 8192:
            raise InvalidInput("Max new tokens must be between 1 and 8192.")
        if self.temperature < 0:
            raise InvalidInput("The temperature cannot be negative.")
        if not 0 < self.top_p <= 1:
            raise InvalidInput("Top-p must be above 0 and at most 1.")
        if not 1 <= self.batch_size <= 512:
            raise InvalidInput("The batch size must be between 1 and 512.")
        object.__setattr__(self, "stop", tuple(s for s in self.stop if s))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class Generation:
    output: str
    tokens_in: int
    tokens_out: int
    latency_s: float  # wall time of the batch that produced this answer
    finish_reason: str  # "stop" (end of turn), "stop_string" or "length"

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_out / self.latency_s if self.latency_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {"output": self.output, "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
                "latency_s": round(self.latency_s, 4), "finish_reason": self.finish_reason}


def chat_prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """The token ids of a conversation under the model's chat template, ready for the assistant's reply."""
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return list(ids)


def _eos_ids(model, tokenizer) -> set[int]:
    ids = model.generation_config.eos_token_id
    found = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return found


def _next_tokens(logits, settings: GenerationSettings, generator):
    import torch

    if settings.greedy:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / settings.temperature, dim=-1)
    if settings.top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        keep = sorted_probs.cumsum(dim=-1) - sorted_probs < settings.top_p
        sorted_probs = sorted_probs * keep
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _forward_for(model):
    """Calls the model with its cache argument's name (transformers renamed past_key_values to cache) and, where
    supported, asks for the last position's logits only: the prefill then skips a vocabulary-wide projection of
    every prompt token."""
    import inspect

    # A PEFT wrapper's forward takes **kwargs: read the names from the model it wraps.
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(inner.forward).parameters
    cache_name = "cache" if "cache" in parameters else "past_key_values"
    extra = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}

    def forward(*, cache, **inputs):
        return model(**inputs, **{cache_name: cache}, use_cache=True, **extra)

    return forward


def _decode_batch(model, prompts: list[list[int]], pad_id: int, eos: set[int], settings: GenerationSettings,
                  tokenizer, generator) -> list[tuple[list[int], str]]:
    """Generated token ids and finish reason per prompt of one batch."""
    import torch
    from transformers import DynamicCache

    width = max(len(p) for p in prompts)
    input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    forward = _forward_for(model)
    output = forward(input_ids=input_ids, attention_mask=mask, position_ids=positions, cache=cache)
    logits = output.logits[:, -1, :]
    rows = list(range(len(prompts)))  # which prompt each live batch row belongs to
    generated: list[list[int]] = [[] for _ in prompts]
    reasons = ["length"] * len(prompts)
    next_position = positions[:, -1]
    longest_stop = max((len(s) for s in settings.stop), default=0)
    for _ in range(settings.max_new_tokens):
        tokens = _next_tokens(logits, settings, generator)
        keep = []
        for i, token in enumerate(tokens.tolist()):
            owner = rows[i]
            if token in eos:
                reasons[owner] = "stop"
                continue
            generated[owner].append(token)
            if settings.stop:
                tail = tokenizer.decode(generated[owner][-(longest_stop + 8):], skip_special_tokens=True)
                if any(s in tail for s in settings.stop):
                    reasons[owner] = "stop_string"
                    continue
            if len(generated[owner]) < settings.max_new_tokens:
                keep.append(i)
        if not keep:
            break
        if len(keep) < len(rows):
            # Drop finished rows from the batch and from the KV cache, so later steps cost less.
            index = torch.tensor(keep)
            cache.batch_select_indices(index)
            mask, tokens, next_position = mask[index], tokens[index], next_position[index]
            rows = [rows[i] for i in keep]
        mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=mask.dtype)], dim=-1)
        next_position = next_position + 1
        output = forward(input_ids=tokens.unsqueeze(-1), attention_mask=mask, position_ids=next_position.unsqueeze(-1),
                         cache=cache)
        logits = output.logits[:, -1, :]
    return [(generated[i], reasons[i]) for i in range(len(prompts))]


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    cut = min((text.find(s) for s in stop if s in text), default=-1)
    return text[:cut] if cut >= 0 else text


def generate_chats(model, tokenizer, conversations: list[list[dict]], settings: GenerationSettings = GenerationSettings(),
                   progress: Progress | None = None) -> list[Generation]:
    """One answer per conversation, in input order."""
    import torch

    if not conversations:
        return []
    prompts = [chat_prompt_ids(tokenizer, messages) for messages in conversations]
    context = getattr(model.config, "max_position_embeddings", None)
    for n, prompt in enumerate(prompts, start=1):
        if context and len(prompt) + settings.max_new_tokens > context:
            raise InvalidInput(f"Prompt {n} has {len(prompt)} tokens; with {settings.max_new_tokens} new tokens it "
                               f"exceeds the model's context of {context}.")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = _eos_ids(model, tokenizer)
    generator = torch.Generator().manual_seed(settings.seed)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Generation | None] = [None] * len(prompts)
    done = 0
    with torch.inference_mode():
        for start in range(0, len(order), settings.batch_size):
            batch = order[start:start + settings.batch_size]
            started = time.perf_counter()
            decoded = _decode_batch(model, [prompts[i] for i in batch], pad_id, eos, settings, tokenizer, generator)
            elapsed = time.perf_counter() - started
            for i, (tokens, reason) in zip(batch, decoded):
                text = tokenizer.decode(tokens, skip_special_tokens=True)
                if reason == "stop_string":
                    text = _cut_at_stop(text, settings.stop)
                results[i] = Generation(output=text.strip(), tokens_in=len(prompts[i]), tokens_out=len(tokens),
                                        latency_s=elapsed, finish_reason=reason)
            done += len(batch)
            if progress:
                progress(done, len(prompts))
    return results
