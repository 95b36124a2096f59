"""Continuous batching across HTTP requests: requests wait in a bounded queue that the decode loop drains between
decode steps, so a request arriving while others decode joins their running batch at the next step.

The engine is the one `workbench generate` uses (core/inference/batching.py's RunningBatch, generate.py's forward,
prefill grouping and stop rules); what this module adds is admission from a queue that fills while the loop runs,
per-request settings (greedy rows and sampled rows side by side, each sampled row with its own seeded generator, so
its answer does not depend on its neighbours), text deltas for streaming, and cancellation of rows whose client
went away. Several LoRA adapters on one base share the base's weights: the model is a PeftModel holding them all,
and each row names its adapter (PEFT's mixed-batch `adapter_names`, "__base__" for the base itself).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import Unavailable
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
    done: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """The client went away: the row leaves the batch at the next step."""
        self.cancelled = True


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    cut = min((text.find(s) for s in stop if s in text), default=-1)
    return text[:cut] if cut >= 0 else text


class Scheduler:
    """One decode loop (a thread) per loaded model; `submit` from any thread."""

    def __init__(self, model, tokenizer, *, name: str, batch_size: int = 32, max_waiting: int = 64):
        from core.inference.batching import supports_running_batch
        from core.inference.generate import _device_of, _eos_ids, _forward_for

        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.batch_size, self.max_waiting = batch_size, max_waiting
        self.forward = _forward_for(model)
        self.device = _device_of(model)
        self.eos = _eos_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.is_peft = hasattr(model, "peft_config")
        if not supports_running_batch(model):
            raise Unavailable(f"'{name}' keeps a sliding-window or hybrid cache; the server cannot batch it yet.")
        self.context = getattr(model.config, "max_position_embeddings", None)
        self._waiting: deque[Request] = deque()
        self._condition = threading.Condition()
        self.model_lock = threading.Lock()  # held during each step; adapters load between steps
        self._closed = False
        # What ran: decode steps by batch size, and counts the tests and the benchmark read.
        self.batch_sizes: Counter[int] = Counter()
        self.admitted = self.completed = self.cancelled = 0
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
        return {"model": self.name, "waiting": waiting, "admitted": self.admitted, "completed": self.completed,
                "cancelled": self.cancelled, "steps": sum(sizes.values()),
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

    def _next_tokens(self, batch, requests: list[Request]):
        from core.inference.generate import _next_tokens

        tokens = batch.logits.argmax(dim=-1)
        for i, request in enumerate(requests):
            if not request.settings.greedy:
                tokens[i] = _next_tokens(batch.logits[i:i + 1], request.settings, request._generator)[0]
        return tokens

    def _step(self, batch, rows: dict[int, Request]):
        requests = [rows[o] for o in batch.owners]
        self.batch_sizes[len(requests)] += 1
        tokens = self._next_tokens(batch, requests)
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
