"""Batched local generation with a lean decode loop.

Why not one `model.generate()` call over everything: padding every prompt to the longest wastes compute, and
a batch keeps paying for rows that already stopped until its longest answer ends. Here prompts are sorted by
length and run through continuous batching (core/inference/batching.py): up to `batch_size` rows decode together,
a row leaves the batch and the KV cache as soon as its answer ends, and the next prompts in length order are
prefilled (their shared prefix once) and join the running rows, so the batch stays full until the queue is empty.
Models with sliding-window or hybrid caches take the simpler path: length-sorted batches that shrink as rows stop.
On a CPU the fp32 linear layers run on oneDNN while generating (core/inference/cpu_linear.py).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from core.errors import InvalidInput
from core.inference.drafts import MAX_DRAFT_TOKENS

Progress = Callable[[int, int], None]  # (prompts done, prompts in all)
# Keys and values up to this size are reserved for the whole run at its start (the lean CPU path).
RESERVE_LIMIT_BYTES = 2 << 30


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = field(default=128, metadata={"help": "Most tokens to generate per answer.", "min": 1, "max": 8192})
    temperature: float = field(default=0.0, metadata={"help": "0 means greedy decoding; higher samples more freely.", "min": 0.0, "max": 2.0})
    top_p: float = field(default=1.0, metadata={"help": "Sample only from the smallest set of tokens whose probability reaches this.", "min": 0.0, "max": 1.0, "label": "Top-p"})
    seed: int = field(default=0, metadata={"help": "Random seed for sampling.", "min": 0, "max": 2**31 - 1})
    stop: tuple[str, ...] = field(default=(), metadata={"help": "Strings that end an answer (not included in it)."})
    batch_size: int = field(default=64, metadata={"help": "Most prompts decoded together (fewer while fewer wait: "
                                                          "see rows_for).", "min": 1, "max": 512})

    def __post_init__(self):
        if not 1 <= self.max_new_tokens <= 8192:
            raise InvalidInput("Max new tokens must be between 1 and 8192.")
        if not 0 <= self.temperature <= 2:
            raise InvalidInput("The temperature must be between 0 and 2.")
        if not 0 <= self.seed < 2**31:
            raise InvalidInput("The seed must be a whole number from 0 to 2147483647.")
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
    latency_s: float  # from the prompt's prefill to its answer's last token
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
        # max's indices are argmax's (the first of equal maxima) at 2.5x its speed over a vocabulary on the CPU.
        return logits.max(dim=-1).indices
    probs = torch.softmax(logits.float() / settings.temperature, dim=-1)
    if settings.top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        keep = sorted_probs.cumsum(dim=-1) - sorted_probs < settings.top_p
        sorted_probs = sorted_probs * keep
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _device_of(model):
    """Where the model's weights are (the inputs and the sampling generator go there too)."""
    return next(model.parameters()).device


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


class _Answers:
    """Tokens generated so far per prompt, and why each answer ended."""

    def __init__(self, count: int, settings: GenerationSettings, tokenizer, eos: set[int]):
        self.settings, self.tokenizer, self.eos = settings, tokenizer, eos
        self.tokens: list[list[int]] = [[] for _ in range(count)]
        self.reasons = ["length"] * count
        self.longest_stop = max((len(s) for s in settings.stop), default=0)

    def take(self, owner: int, token: int) -> bool:
        """Adds a generated token to an answer; False when that answer has ended."""
        if token in self.eos:
            self.reasons[owner] = "stop"
            return False
        generated = self.tokens[owner]
        generated.append(token)
        if self.settings.stop:
            tail = self.tokenizer.decode(generated[-(self.longest_stop + 8):], skip_special_tokens=True)
            if any(s in tail for s in self.settings.stop):
                self.reasons[owner] = "stop_string"
                return False
        return len(generated) < self.settings.max_new_tokens


def _similar_lengths(owners: list[int], prompts: list[list[int]]) -> list[list[int]]:
    """Splits length-sorted prompts into prefill groups whose longest is at most 25% (plus a few tokens) longer than
    their shortest, so that left padding wastes little of a prefill."""
    parts = [[owners[0]]]
    for owner in owners[1:]:
        if len(prompts[owner]) > 1.25 * len(prompts[parts[-1][0]]) + 8:
            parts.append([])
        parts[-1].append(owner)
    return parts


def _decode_running(model, prompts: list[list[int]], order: list[int], pad_id: int, answers: _Answers,
                    settings: GenerationSettings, generator, started: Callable[[int], None],
                    ended: Callable[[int], None]) -> None:
    """Continuous batching: prompts join the running batch in `order` as rows finish (core/inference/batching.py)."""
    from collections import deque

    from core.inference.batching import RunningBatch

    forward = _forward_for(model)
    device = _device_of(model)
    queue = deque(order)
    batch: RunningBatch | None = None
    # Join in groups rather than one by one: each group's prefill is one forward pass, and its shared prefix
    # is computed once.
    group = max(1, settings.batch_size // 4)
    while queue or batch:
        free = settings.batch_size - (len(batch) if batch else 0)
        if queue and free >= min(group, len(queue)):
            owners = [queue.popleft() for _ in range(min(free, len(queue)))]
            for owner in owners:
                started(owner)
            joining = [RunningBatch.prefill(forward, part, [prompts[i] for i in part], pad_id, device)
                       for part in _similar_lengths(owners, prompts)]
            if batch is None:
                batch = joining.pop(0)
            if joining:
                batch.join(joining)
        tokens = _next_tokens(batch.logits, settings, generator)
        keep = []
        for i, token in enumerate(tokens.tolist()):
            if answers.take(batch.owners[i], token):
                keep.append(i)
            else:
                ended(batch.owners[i])
        if not keep:
            batch = None
            continue
        batch.step(forward, batch.keep(keep, tokens))


def _decode_slots(model, prompts: list[list[int]], order: list[int], pad_id: int, answers: _Answers,
                  settings: GenerationSettings, generator, started: Callable[[int], None],
                  ended: Callable[[int], None], precision: str = "fp32", draft_tokens: int = 0) -> None:
    """Continuous batching on the lean CPU path (core/inference/slots.py): a finished row's slot is refilled by the
    next prompts in `order`; when the queue is empty and half the slots idle, the cache is compacted. Greedy fp32 steps
    carry up to `draft_tokens` prompt-lookup guesses per row where the policy measures that they pay
    (core/inference/drafts.py)."""
    from collections import deque

    import torch

    from core.inference.drafts import PRECISIONS as GUESS_PRECISIONS
    from core.inference.drafts import DraftPolicy, NgramLookup
    from core.inference.slots import SlotCache, prepared

    slots = min(settings.batch_size, len(prompts))
    weights = prepared(model, precision, slots)
    # Every column a slot can need, reserved now when that fits the budget: growing the buffer later copies all
    # of it, and the longest prompts come last (at 32 slots the two growths cost 0.9 s of a 15 s run).
    longest = max(len(p) for p in prompts) + settings.max_new_tokens
    reserved = SlotCache.bytes_for(weights, slots, longest) <= RESERVE_LIMIT_BYTES
    first = max(len(prompts[i]) for i in order[:slots]) + min(settings.max_new_tokens, 64)
    cache = SlotCache(weights, slots, columns=longest if reserved else max(64, first))
    owners: list[int | None] = [None] * slots
    logits = torch.zeros(slots, cache.model.vocab)
    positions = torch.zeros(slots, dtype=torch.long)
    tokens = torch.full((slots,), pad_id, dtype=torch.long)
    queue = deque(order)
    group = max(1, slots // 4)
    guessing = settings.greedy and draft_tokens and precision in GUESS_PRECISIONS
    policy = DraftPolicy(draft_tokens, cache.model.step_seconds) if guessing else None
    lookups: list[NgramLookup | None] = [None] * slots
    while True:
        free = [s for s in range(cache.slots) if owners[s] is None]
        if queue and len(free) >= min(group, len(queue)):
            joining = [queue.popleft() for _ in range(min(len(free), len(queue)))]
            for owner in joining:
                started(owner)
            for part in _similar_lengths(joining, prompts):
                taken = [free.pop(0) for _ in part]
                part_logits, part_positions = cache.prefill(taken, [prompts[i] for i in part], pad_id,
                                                            argmax_only=settings.greedy)
                logits[taken], positions[taken] = part_logits, part_positions
                for slot, owner in zip(taken, part):
                    owners[slot] = owner
                    if policy:
                        lookups[slot] = NgramLookup(prompts[owner])
        active = [s for s in range(cache.slots) if owners[s] is not None]
        if not active:
            if queue:
                continue
            return
        chosen = _next_tokens(logits if len(active) == cache.slots else logits[active], settings, generator)

        def take(slot: int, token: int) -> bool:
            if answers.take(owners[slot], token):
                if policy:
                    lookups[slot].extend([token])
                return True
            ended(owners[slot])
            owners[slot] = None
            cache.reset(slot)
            return False

        for slot, token in zip(active, chosen.tolist()):
            tokens[slot] = token
            take(slot, token)
        active = [s for s in range(cache.slots) if owners[s] is not None]
        if not active:
            continue
        if not queue and len(active) <= cache.slots // 2:
            cache.keep(active, columns=cache.columns if reserved else None)
            owners, lookups = [owners[s] for s in active], [lookups[s] for s in active]
            index = torch.tensor(active)
            tokens, positions = tokens[index], positions[index]
            active = list(range(cache.slots))
        guesses = {s: lookups[s].propose(min(draft_tokens, settings.max_new_tokens - len(answers.tokens[owners[s]])))
                   for s in active} if policy else {}
        logits, positions, kept = cache.step_guessing(tokens, positions, guesses, policy, pad_id,
                                                      argmax_only=settings.greedy)
        for slot, run in kept.items():
            for token in run:
                if not take(slot, token):
                    break


def _decode_batches(model, prompts: list[list[int]], order: list[int], pad_id: int, answers: _Answers,
                    settings: GenerationSettings, generator, started: Callable[[int], None],
                    ended: Callable[[int], None]) -> None:
    """Length-sorted batches that shrink as rows stop, for models whose cache transformers must manage itself
    (sliding-window and hybrid attention)."""
    import torch
    from transformers import DynamicCache

    forward = _forward_for(model)
    device = _device_of(model)
    for start in range(0, len(order), settings.batch_size):
        owners = order[start:start + settings.batch_size]
        for owner in owners:
            started(owner)
        batch = [prompts[i] for i in owners]
        width = max(len(p) for p in batch)
        input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in batch], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch], device=device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=model.config)
        logits = forward(input_ids=input_ids, attention_mask=mask, position_ids=positions, cache=cache).logits[:, -1, :]
        next_position = positions[:, -1]
        while True:
            tokens = _next_tokens(logits, settings, generator)
            keep = []
            for i, token in enumerate(tokens.tolist()):
                if answers.take(owners[i], token):
                    keep.append(i)
                else:
                    ended(owners[i])
            if not keep:
                break
            if len(keep) < len(owners):
                # Drop finished rows from the batch and from the KV cache, so later steps cost less.
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                mask, tokens, next_position = mask[index], tokens[index], next_position[index]
                owners = [owners[i] for i in keep]
            mask = torch.cat([mask, mask.new_ones(len(owners), 1)], dim=-1)
            next_position = next_position + 1
            logits = forward(input_ids=tokens.unsqueeze(-1), attention_mask=mask,
                             position_ids=next_position.unsqueeze(-1), cache=cache).logits[:, -1, :]


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    cut = min((text.find(s) for s in stop if s in text), default=-1)
    return text[:cut] if cut >= 0 else text


def rows_for(prompts: int, most: int) -> int:
    """How many prompts decode together: all of them when few; else the largest power of two, at least 32, that
    leaves as many prompts waiting as decoding, so finished rows are refilled and the batch stays full until near the
    end; never above `most`. A decode step reads every weight however many rows it carries, so more rows cost little
    more per step, but a batch that cannot be refilled pays for its tail (2-core Xeon, bundled model, 128 new tokens:
    64 prompts took 15.3 s at 32 rows and 16.0 s at 64; 128 prompts 26.1 s at 32 and 22.6 s at 64)."""
    wave = 32
    while wave * 4 <= prompts:
        wave *= 2
    return max(1, min(most, prompts, wave))


def generate_chats(model, tokenizer, conversations: list[list[dict]], settings: GenerationSettings = GenerationSettings(),
                   progress: Progress | None = None, precision: str = "fp32",
                   draft_tokens: int = MAX_DRAFT_TOKENS) -> list[Generation]:
    """One answer per conversation, in input order. `precision` is "fp32" (the default: greedy answers match
    transformers' own), or, explicitly, "bf16" or "int8" (weight-only) on the lean CPU path for Llama-family models.
    On that path greedy fp32 steps carry up to `draft_tokens` prompt-lookup guesses per row where they pay (0: never);
    the answers are the same either way (core/inference/drafts.py)."""
    import torch

    from core.inference.kernels import check_precision
    from core.inference.slots import supports_slots

    check_precision(precision)
    lean = supports_slots(model)
    if precision != "fp32" and not lean:
        raise InvalidInput(f"Precision {precision} runs only on the CPU for plain Llama-family models; this model "
                           "runs in fp32.")
    if not conversations:
        return []
    prompts = [chat_prompt_ids(tokenizer, messages) for messages in conversations]
    context = getattr(model.config, "max_position_embeddings", None)
    for n, prompt in enumerate(prompts, start=1):
        if context and len(prompt) + settings.max_new_tokens > context:
            raise InvalidInput(f"Prompt {n} has {len(prompt)} tokens; with {settings.max_new_tokens} new tokens it "
                               f"exceeds the model's context of {context}.")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    settings = replace(settings, batch_size=rows_for(len(prompts), settings.batch_size))
    answers = _Answers(len(prompts), settings, tokenizer, _eos_ids(model, tokenizer))
    generator = torch.Generator(device=_device_of(model)).manual_seed(settings.seed)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Generation | None] = [None] * len(prompts)
    began: dict[int, float] = {}
    finished = [0]

    def started(owner: int) -> None:
        began[owner] = time.perf_counter()

    def ended(owner: int) -> None:
        text = tokenizer.decode(answers.tokens[owner], skip_special_tokens=True)
        if answers.reasons[owner] == "stop_string":
            text = _cut_at_stop(text, settings.stop)
        results[owner] = Generation(output=text.strip(), tokens_in=len(prompts[owner]),
                                    tokens_out=len(answers.tokens[owner]),
                                    latency_s=time.perf_counter() - began[owner], finish_reason=answers.reasons[owner])
        finished[0] += 1
        if progress:
            progress(finished[0], len(prompts))

    from core.inference.batching import supports_running_batch
    from core.inference.cpu_linear import onednn_linears

    if lean:
        with torch.inference_mode():
            _decode_slots(model, prompts, order, pad_id, answers, settings, generator, started, ended, precision,
                          draft_tokens)
        return results
    decode = _decode_running if supports_running_batch(model) else _decode_batches
    with torch.inference_mode(), onednn_linears(model):
        decode(model, prompts, order, pad_id, answers, settings, generator, started, ended)
    return results
