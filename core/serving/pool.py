"""The models a server process holds: loaded in the background (a request meanwhile gets 503 and Retry-After),
one decode loop per loaded chat model, and one PeftModel per base holding every adapter asked for on that base, so
the adapters share the base's weights."""
from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from core.errors import InvalidInput, Unavailable
from core.governance.roles import SYSTEM
from core.models import registry
from core.serving.scheduler import Scheduler
from core.storage.db import Store

log = logging.getLogger("workbench.serve")


class ModelLoading(Unavailable):
    """The model is being loaded; ask again in a few seconds."""


@dataclass(frozen=True)
class Embedder:
    model: object
    tokenizer: object
    lock: threading.Lock


def adapter_key(name: str) -> str:
    """A PEFT adapter name made from a registered name (PEFT's module names take no dots)."""
    return "a_" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]


class ModelPool:
    def __init__(self, store: Store, *, batch_size: int = 32, max_waiting: int = 64):
        self.store, self.batch_size, self.max_waiting = store, batch_size, max_waiting
        self._lock = threading.Lock()
        self._ready: dict[str, object] = {}  # key -> Scheduler or Embedder
        self._loading: dict[str, Future] = {}
        self._adapters: dict[str, set[str]] = {}  # peft key -> adapter keys loaded
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")

    # --- what requests call ---

    def chat(self, info: registry.ModelInfo, precision: str | None = None) -> tuple[Scheduler, str | None]:
        """The decode loop for a local chat model or adapter and the row's adapter key; ModelLoading while loading.
        `precision` (the request's, else the model's in the registry) picks the loop: one per model and precision,
        all on the same loaded weights."""
        precision = precision or info.precision
        if info.kind == "adapter":
            if precision != "fp32":
                raise InvalidInput(f"Precision {precision} runs only for plain Llama-family models; the adapter "
                                   f"'{info.name}' generates in fp32.")
            if not info.path or not info.base_model:
                raise Unavailable(f"The adapter '{info.name}' has no folder or base model recorded.")
            base = registry.get_model(self.store, actor=SYSTEM, name=info.base_model)
            key, akey = f"peft:{base.path}", adapter_key(info.name)
            scheduler = self._get(key, lambda: self._load_peft(base, info, akey), what=info.name)
            if akey not in self._adapters.get(key, set()):
                self._get(f"adapter:{akey}", lambda: self._add_adapter(key, info, akey), what=info.name)
            return scheduler, akey
        if info.kind in registry.LOCAL_KINDS and info.path:
            key = f"local:{info.path}" + (f":{precision}" if precision != "fp32" else "")
            return self._get(key, lambda: self._load_local(info, precision), what=info.name), None
        raise InvalidInput(f"'{info.name}' is not a local model; it cannot be loaded into this process.")

    def embedder(self, info: registry.ModelInfo) -> Embedder:
        if not info.path:
            raise Unavailable(f"The embedding model '{info.name}' has no folder.")
        return self._get(f"embed:{info.path}", lambda: self._load_embedder(info), what=info.name)

    def preload(self, info: registry.ModelInfo) -> None:
        try:
            self.embedder(info) if info.task == "embedding" else self.chat(info)
        except ModelLoading:
            pass

    def schedulers(self) -> list[Scheduler]:
        with self._lock:
            return [v for v in self._ready.values() if isinstance(v, Scheduler)]

    def loading(self) -> list[str]:
        with self._lock:
            return sorted(k for k, f in self._loading.items() if not f.done())

    def close(self) -> None:
        for scheduler in self.schedulers():
            scheduler.close()
        self._loader.shutdown(wait=False, cancel_futures=True)

    # --- loading ---

    def _get(self, key: str, load, *, what: str):
        with self._lock:
            if key in self._ready:
                return self._ready[key]
            future = self._loading.get(key)
            if future is None:
                future = self._loading[key] = self._loader.submit(self._load, key, load)
            elif future.done() and future.exception() is not None:
                exc = future.exception()
                del self._loading[key]  # the next request tries again
                raise exc if isinstance(exc, Unavailable) else Unavailable(f"'{what}' failed to load ({exc}).")
        raise ModelLoading(f"The model '{what}' is loading; retry in a few seconds.")

    def _load(self, key: str, load) -> None:
        log.info("loading %s", key)
        value = load()
        with self._lock:
            if value is not None:
                self._ready[key] = value
            self._loading.pop(key, None)

    def _load_local(self, info: registry.ModelInfo, precision: str = "fp32") -> Scheduler:
        from core.inference.engines import local_chat_model

        model, tokenizer = local_chat_model(info.path)  # loaded once per process, shared by every precision's loop
        name = info.name if precision == "fp32" else f"{info.name} ({precision})"
        return Scheduler(model, tokenizer, name=name, batch_size=self.batch_size, max_waiting=self.max_waiting,
                         precision=precision)

    def _load_peft(self, base: registry.ModelInfo, adapter: registry.ModelInfo, akey: str) -> Scheduler:
        from peft import PeftModel

        from core.models.loading import load_causal_lm

        model, tokenizer = load_causal_lm(base.path)  # its own copy: PEFT injects layers into it
        try:
            model = PeftModel.from_pretrained(model, adapter.path, adapter_name=akey, is_trainable=False)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise Unavailable(f"The adapter '{adapter.name}' cannot be applied to its base model ({exc}).") from None
        model.eval()
        self._adapters[f"peft:{base.path}"] = {akey}
        return Scheduler(model, tokenizer, name=f"{base.name}+adapters", batch_size=self.batch_size,
                         max_waiting=self.max_waiting)

    def _add_adapter(self, key: str, adapter: registry.ModelInfo, akey: str) -> None:
        with self._lock:
            scheduler = self._ready.get(key)
        if scheduler is None or akey in self._adapters.get(key, set()):
            return None
        with scheduler.model_lock:  # between decode steps
            try:
                scheduler.model.load_adapter(adapter.path, adapter_name=akey, is_trainable=False)
            except (OSError, ValueError, RuntimeError, KeyError) as exc:
                raise Unavailable(f"The adapter '{adapter.name}' cannot be applied to its base model ({exc}).") from None
            scheduler.model.eval()
        self._adapters[key].add(akey)
        return None

    def _load_embedder(self, info: registry.ModelInfo) -> Embedder:
        from core.models.loading import load_embedding_model

        model, tokenizer = load_embedding_model(info.path)
        return Embedder(model, tokenizer, threading.Lock())
