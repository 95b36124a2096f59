"""Continuous batching across HTTP requests: requests wait in a bounded queue that the decode loop drains between
decode steps, so a request arriving while others decode joins their running batch at the next step.

The engine is the one `workbench generate` uses (core/inference/batching.py's RunningBatch, generate.py's forward,
prefill grouping and stop rules); what this module adds is admission from a queue that fills while the loop runs,
per-request settings (greedy rows and sampled rows side by side, each sampled row with its own seeded generator, so
its answer does not depend on its neighbours), text deltas for streaming, and cancellation of rows whose client
went away. Several LoRA adapters on one base share the base's weights: the model is a PeftModel holding them all,
and each row names its adapter (PEFT's mixed-batch `adapter_names`, "__base__" for the base itself).

A plain Llama-family model on the CPU decodes on the lean path instead (core/inference/slots.py: a slot KV cache
written in place, fused projections, kernels measured on this machine) in the scheduler's precision; the slots
grow as requests arrive and are compacted when half of them idle, so a lone request decodes one row.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import Unavailable
from core.inference.drafts import MAX_DRAFT_TOKENS
from core.inference.generate import GenerationSettings

log = logging.getLogger("workbench.serve")
BASE_ADAPTER = "__base__"


class QueueFull(Unavailable):
    """More requests wait than the queue holds; the client should retry after a moment."""


@dataclass(eq=False)
class Request:
    """One prompt on its way through the decode loop. Callbacks run on the loop's thread."""

    prompt: list[int]
    settings: GenerationSettings
    adapter: str | None = None  # the PEFT adapter key, None for the base model
    on_delta: Callable[[str], None] | None = None
    on_done: Callable[["Request"], None] | None = None
    tokens: list[int] = field(default_factory=list)
    finish_reason: str | None = None  # stop, stop_string, length, cancelled, error
    output: str | None = None
    error: str | None = None
    submitted_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None
    first_token_at: float | None = None
    finished_at: float | None = None
    cancelled: bool = False
    _sent: str = ""
    _generator: object = None
    _lookup: object = None  # a greedy row's prompt-lookup index (core/inference/drafts.py), on the lean path
    done: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """The client went away: the row leaves the batch at the next step."""
        self.cancelled = True


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    cut = min((text.find(s) for s in stop if s in text), default=-1)
    return text[:cut] if cut >= 0 else text


class Scheduler:
    """One decode loop (a thread) per loaded model; `submit` from any thread."""

    def __init__(self, model, tokenizer, *, name: str, batch_size: int = 32, max_waiting: int = 64,
                 precision: str = "fp32", draft_tokens: int = MAX_DRAFT_TOKENS):
        from core.inference.batching import supports_running_batch
        from core.inference.generate import _device_of, _eos_ids, _forward_for
        from core.inference.slots import prepared, supports_slots

        self.model, self.tokenizer, self.name, self.precision = model, tokenizer, name, precision
        self.batch_size, self.max_waiting = batch_size, max_waiting
        self.draft_tokens = draft_tokens  # greedy rows' prompt-lookup guesses per step (lean path, fp32)
        self.forward = _forward_for(model)
        self.device = _device_of(model)
        self.eos = _eos_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.is_peft = hasattr(model, "peft_config")
        self.lean = supports_slots(model)
        if precision != "fp32" and not self.lean:
            raise Unavailable(f"Precision {precision} runs only for plain Llama-family models on the CPU; "
                              f"'{name}' generates in fp32.")
        if self.lean:  # weights arranged and kernels measured now, in the loading thread, not at the first request
            prepared(model, precision, batch_size)
        elif not supports_running_batch(model):
            raise Unavailable(f"'{name}' keeps a sliding-window or hybrid cache; the server cannot batch it yet.")
        self.context = getattr(model.config, "max_position_embeddings", None)
        self._waiting: deque[Request] = deque()
        self._condition = threading.Condition()
        self.model_lock = threading.Lock()  # held during each step; adapters load between steps
        self._closed = False
        # What ran: decode steps by batch size, and counts the tests and the benchmark read.
        self.batch_sizes: Counter[int] = Counter()
        self.admitted = self.completed = self.cancelled = 0
        self.guesses_kept = 0  # tokens that came from kept prompt-lookup guesses
        self._policy = None
        self._thread = threading.Thread(target=self._run, name=f"decode-{name}", daemon=True)
        self._thread.start()

    # --- from request threads ---

    def submit(self, request: Request) -> Request:
        import torch

        if not request.settings.greedy:
            request._generator = torch.Generator(device=self.device).manual_seed(request.settings.seed)
        with self._condition:
            if self._closed:
                raise Unavailable(f"The model '{self.name}' is shutting down.")
            if len(self._waiting) >= self.max_waiting:
                raise QueueFull(f"{len(self._waiting)} requests wait for '{self.name}' already; retry in a moment.")
            self._waiting.append(request)
            self._condition.notify()
        return request

    def stats(self) -> dict:
        with self._condition:
            waiting = len(self._waiting)
        sizes = dict(sorted(self.batch_sizes.items()))
        return {"model": self.name, "precision": self.precision, "path": "lean" if self.lean else "transformers",
                "waiting": waiting, "admitted": self.admitted, "completed": self.completed,
                "cancelled": self.cancelled, "steps": sum(sizes.values()), "guessed_tokens": self.guesses_kept,
                "max_batch": max(sizes, default=0), "batch_sizes": {str(k): v for k, v in sizes.items()}}

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._thread.join(timeout=10)

    # --- the decode loop ---

    def _take_waiting(self, free: int) -> list[Request]:
        with self._condition:
            while not self._waiting and not self._closed and free == self.batch_size:
                self._condition.wait()
            taken = []
            while self._waiting and len(taken) < free:
                request = self._waiting.popleft()
                if request.cancelled:
                    self._finish(request, "cancelled")
                else:
                    taken.append(request)
            return taken

    def _forward_for_rows(self, adapters: list[str | None]):
        if not self.is_peft:
            return self.forward
        names = [a or BASE_ADAPTER for a in adapters]

        def forward(**inputs):
            rows = inputs["input_ids"].shape[0]
            return self.forward(**inputs, adapter_names=names if rows == len(names) else names[:1] * rows)

        return forward

    def _run(self) -> None:
        if self.lean:
            return self._run_slots()
        import torch

        from core.inference.cpu_linear import onednn_linears

        rows: dict[int, Request] = {}
        batch = None
        next_owner = 0
        while True:
            taken = self._take_waiting(self.batch_size - (len(batch) if batch else 0))
            if self._closed:
                for request in list(rows.values()) + taken:
                    self._finish(request, "cancelled")
                return
            try:
                with self.model_lock, torch.inference_mode(), onednn_linears(self.model):
                    if taken:
                        for request in taken:
                            rows[next_owner] = request
                            request.started_at = time.perf_counter()
                            next_owner += 1
                        batch = self._admit(batch, list(rows)[-len(taken):], rows)
                    while batch is not None:
                        batch = self._step(batch, rows)
                        # Leave the step loop only to admit waiting requests into free rows (or to close).
                        if batch is None or self._closed or (len(batch) < self.batch_size and self._waiting_now()):
                            break
            except Exception as exc:  # a failure fails the rows in the batch, never the loop
                log.exception("decode step failed for %s", self.name)
                for request in rows.values():
                    request.error = f"{type(exc).__name__}: {exc}"
                    self._finish(request, "error")
                rows.clear()
                batch = None

    def _run_slots(self) -> None:
        """The decode loop on the lean path: each request owns a slot of one SlotCache while it decodes."""
        import torch

        from core.inference.drafts import PRECISIONS as GUESS_PRECISIONS
        from core.inference.drafts import DraftPolicy, NgramLookup
        from core.inference.generate import _similar_lengths
        from core.inference.slots import SlotCache, prepared

        model = prepared(self.model, self.precision, self.batch_size)
        guessing = self.draft_tokens and self.precision in GUESS_PRECISIONS
        self._policy = DraftPolicy(self.draft_tokens, model.step_seconds) if guessing else None
        cache: SlotCache | None = None
        owners: list[Request | None] = []
        logits = positions = tokens = None
        while True:
            taken = self._take_waiting(self.batch_size - sum(o is not None for o in owners))
            if self._closed:
                for request in [o for o in owners if o is not None] + taken:
                    self._finish(request, "cancelled")
                return
            try:
                with self.model_lock, torch.inference_mode():
                    if taken:
                        self.admitted += len(taken)
                        for request in taken:
                            request.started_at = time.perf_counter()
                        free = [s for s, o in enumerate(owners) if o is None]
                        # Columns for the longest prompt and answer asked for, reserved at once: growing the buffer
                        # while rows decode copies every layer's keys and values each time.
                        needed = max(len(r.prompt) + r.settings.max_new_tokens for r in taken)
                        if cache is None:
                            cache = SlotCache(model, len(taken), columns=max(64, needed))
                            free, owners = list(range(len(taken))), [None] * len(taken)
                            logits = torch.zeros(len(taken), model.vocab)
                            positions = torch.zeros(len(taken), dtype=torch.long)
                            tokens = torch.full((len(taken),), self.pad_id, dtype=torch.long)
                        else:
                            cache.reserve(needed)
                        if len(free) < len(taken):
                            more = len(taken) - len(free)
                            free += cache.add_slots(more)
                            owners += [None] * more
                            logits = torch.cat([logits, logits.new_zeros(more, logits.shape[1])])
                            positions = torch.cat([positions, positions.new_zeros(more)])
                            tokens = torch.cat([tokens, tokens.new_full((more,), self.pad_id)])
                        prompts = {i: r.prompt for i, r in enumerate(taken)}
                        for part in _similar_lengths(sorted(prompts, key=lambda i: len(prompts[i])), prompts):
                            slots = [free.pop(0) for _ in part]
                            greedy = all(taken[i].settings.greedy for i in part)
                            logits[slots], positions[slots] = cache.prefill(slots, [prompts[i] for i in part],
                                                                            self.pad_id, argmax_only=greedy)
                            for slot, i in zip(slots, part):
                                owners[slot] = taken[i]
                                if self._policy and taken[i].settings.greedy:
                                    taken[i]._lookup = NgramLookup(taken[i].prompt)
                    while cache is not None:
                        cache, owners, logits, positions, tokens = self._step_slots(cache, owners, logits, positions,
                                                                                    tokens)
                        if cache is None or self._closed or (sum(o is not None for o in owners) < self.batch_size
                                                             and self._waiting_now()):
                            break
            except Exception as exc:  # a failure fails the rows in the cache, never the loop
                log.exception("decode step failed for %s", self.name)
                for request in [o for o in owners if o is not None]:
                    request.error = f"{type(exc).__name__}: {exc}"
                    self._finish(request, "error")
                cache, owners = None, []

    def _step_slots(self, cache, owners: list, logits, positions, tokens):
        """Chooses each active row's next token, ends finished rows, compacts half-idle slots and decodes one step;
        a cache of None when every row has ended."""
        import torch

        active = [s for s, o in enumerate(owners) if o is not None]
        if not active:  # the last rows ended on kept guesses
            return None, [], None, None, None
        self.batch_sizes[len(active)] += 1
        chosen = self._next_tokens_of(logits[active], [owners[s] for s in active])

        def take(slot: int, token: int) -> bool:
            request = owners[slot]
            reason = "cancelled" if request.cancelled else self._take(request, token)
            if reason is None:
                return True
            self._finish(request, reason)
            owners[slot] = None
            cache.reset(slot)
            return False

        for slot, token in zip(active, chosen.tolist()):
            tokens[slot] = token
            take(slot, token)
        active = [s for s, o in enumerate(owners) if o is not None]
        if not active:
            return None, [], None, None, None
        if len(active) <= cache.slots // 2 and not self._waiting_now():
            cache.keep(active)
            index = torch.tensor(active)
            owners, logits, positions, tokens = [owners[s] for s in active], logits[index], positions[index], tokens[index]
            active = list(range(cache.slots))
        policy = self._policy
        guesses = {s: owners[s]._lookup.propose(min(policy.max_tokens,
                                                    owners[s].settings.max_new_tokens - len(owners[s].tokens)))
                   for s in active if owners[s]._lookup is not None} if policy else {}
        # Only the argmax is needed where every running row decodes greedily (see core/inference/slots.py).
        greedy = all(owners[s].settings.greedy for s in active)
        logits, positions, kept = cache.step_guessing(tokens, positions, guesses, policy, self.pad_id,
                                                      argmax_only=greedy)
        for slot, run in kept.items():
            for token in run:
                self.guesses_kept += 1
                if not take(slot, token):
                    break
        return cache, owners, logits, positions, tokens

    def _next_tokens_of(self, logits, requests: list[Request]):
        from core.inference.generate import _next_tokens

        tokens = logits.argmax(dim=-1)
        for i, request in enumerate(requests):
            if not request.settings.greedy:
                tokens[i] = _next_tokens(logits[i:i + 1], request.settings, request._generator)[0]
        return tokens

    def _waiting_now(self) -> bool:
        with self._condition:
            return bool(self._waiting) or self._closed

    def _admit(self, batch, owners: list[int], rows: dict[int, "Request"]):
        from core.inference.batching import RunningBatch
        from core.inference.generate import _similar_lengths

        prompts = {owner: rows[owner].prompt for owner in owners}
        self.admitted += len(owners)
        joining = []
        # One prefill per adapter and similar length (an adapter's keys and values differ from the base's).
        for adapter in dict.fromkeys(rows[o].adapter for o in owners):
            mine = sorted((o for o in owners if rows[o].adapter == adapter), key=lambda o: len(prompts[o]))
            for part in _similar_lengths(mine, prompts):
                forward = self._forward_for_rows([adapter] * len(part))
                joining.append(RunningBatch.prefill(forward, part, [prompts[o] for o in part], self.pad_id,
                                                    self.device))
        if batch is None:
            batch = joining.pop(0)
        if joining:
            batch.join(joining)
        return batch

    def _step(self, batch, rows: dict[int, Request]):
        requests = [rows[o] for o in batch.owners]
        self.batch_sizes[len(requests)] += 1
        tokens = self._next_tokens_of(batch.logits, requests)
        keep = []
        for i, token in enumerate(tokens.tolist()):
            request = requests[i]
            if request.cancelled:
                reason = "cancelled"
            else:
                reason = self._take(request, token)
            if reason is None:
                keep.append(i)
            else:
                del rows[batch.owners[i]]
                self._finish(request, reason)
        if not keep:
            return None
        tokens = batch.keep(keep, tokens)
        batch.step(self._forward_for_rows([rows[o].adapter for o in batch.owners]), tokens)
        return batch

    def _take(self, request: Request, token: int) -> str | None:
        """Adds a token to the request's answer; the finish reason when it has ended (generate.py's rules)."""
        if request.first_token_at is None:
            request.first_token_at = time.perf_counter()
        settings = request.settings
        if token in self.eos:
            return "stop"
        request.tokens.append(token)
        if request._lookup is not None:
            request._lookup.extend([token])
        if settings.stop:
            longest = max(len(s) for s in settings.stop)
            tail = self.tokenizer.decode(request.tokens[-(longest + 8):], skip_special_tokens=True)
            if any(s in tail for s in settings.stop):
                return "stop_string"
        if len(request.tokens) >= settings.max_new_tokens:
            return "length"
        if request.on_delta is not None:
            self._send_delta(request)
        return None

    def _visible(self, request: Request) -> str:
        text = self.tokenizer.decode(request.tokens, skip_special_tokens=True)
        return _cut_at_stop(text, request.settings.stop).lstrip()

    def _send_delta(self, request: Request) -> None:
        """Sends what is certain to stay in the final answer: not trailing spaces (the answer is stripped), not a
        half-decoded character, not text that could still become the start of a stop string."""
        text = self._visible(request).rstrip().rstrip("\ufffd")
        if request.settings.stop:
            hold = max(len(s) for s in request.settings.stop) - 1
            text = text[:max(0, len(text) - hold)]
        if len(text) > len(request._sent) and text.startswith(request._sent):
            delta, request._sent = text[len(request._sent):], text
            request.on_delta(delta)

    def _finish(self, request: Request, reason: str) -> None:
        request.finish_reason = reason
        request.finished_at = time.perf_counter()
        if reason == "cancelled":
            self.cancelled += 1
        elif reason != "error":
            self.completed += 1
            request.output = self._visible(request).strip()
            if request.on_delta is not None and request.output.startswith(request._sent) \
                    and len(request.output) > len(request._sent):
                request.on_delta(request.output[len(request._sent):])
                request._sent = request.output
        request.done.set()
        if request.on_done is not None:
            request.on_done(request)
