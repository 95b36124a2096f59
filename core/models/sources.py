"""Registering models, one function per kind of source, each checked for real before it is written.

- hf_local  a Hugging Face folder on this machine, used where it is (never copied, never deleted);
- hf_hub    a hub repository, downloaded once into the model store (safetensors only) when the machine is online;
- gguf      a GGUF file, imported through transformers and saved once in the model store as safetensors;
- openai    an OpenAI-compatible HTTP endpoint; only the NAME of the variable or secret holding its key is stored;
- adapter   a PEFT LoRA folder with its registered base model, used where it is.

Folders the workbench made in its model store are marked `stored_by_workbench` in `info` and deleted with the
model; a user's own folder is never touched. Weights load from safetensors only, and no model's own code runs.
"""
from __future__ import annotations

import fcntl
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unavailable
from core.governance.roles import Actor, Permission, require
from core.models import endpoints, registry
from core.models.bundled import BUNDLED_MODELS, COMPLETE_MARKER
from core.models.files import (
    check_adapter_fits, check_adapter_folder, check_gguf_file, check_hf_folder, count_parameters, describe_folder,
    folder_size, read_json, task_of,
)
from core.models.registry import ModelInfo, derived_models  # noqa: F401  (derived_models is part of this API)
from core.storage.db import Store

HUB_TIMEOUT_S = 15.0
_TRUE = ("1", "true", "yes", "on")
_HUB_FILES = (".json", ".safetensors", ".txt", ".model", ".jinja", ".tiktoken")


# --- shared steps ---------------------------------------------------------------------------------------

def _prepare(store: Store, actor: Actor, name: str) -> None:
    """Permission, a valid and free name: checked before any file is read or any byte downloaded."""
    require(actor, Permission.MANAGE_MODELS)
    registry.validate_name(name)
    if name in {m.name for m in BUNDLED_MODELS}:
        raise Conflict(f"'{name}' is the name of a model bundled with the workbench; choose another name.")
    if registry.is_registered(store, name):
        raise Conflict(f"A model named '{name}' is already registered.")


def _price(value: float | None, label: str) -> float:
    if value is None:
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"The price per 1,000 {label} tokens must be a number of US dollars, not {value!r}.") from None
    if not math.isfinite(number) or number < 0:
        raise InvalidInput(f"The price per 1,000 {label} tokens must be zero or more US dollars, not {value}.")
    return number


def _price_info(input_per_1k: float | None, output_per_1k: float | None) -> dict[str, float]:
    return {"input_per_1k": _price(input_per_1k, "input"), "output_per_1k": _price(output_per_1k, "output")}


def _details(folder: Path) -> dict[str, Any]:
    details = describe_folder(folder)
    details["info"]["price"] = _price_info(None, None)
    return details


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _store_folder(store: Store, actor: Actor, name: str, build: Callable[[Path], None],
                  register: Callable[[Path], ModelInfo]) -> ModelInfo:
    """Builds models_dir/NAME in a scratch folder, renames it into place and registers it, under a per-name lock;
    a failure at any step leaves neither a folder nor a row behind."""
    models_dir = store.settings.models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / name
    with open(models_dir / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _prepare(store, actor, name)  # again, now that no one else can take the name
        if target.exists():
            # Left by a crash or a removal that could not delete it; never a folder some model still points to.
            if any(m.path and Path(m.path).resolve() == target.resolve()
                   for m in registry.list_models(store, actor=actor)):
                raise Conflict(f"The model store already holds {target}, used by another model; choose another name.")
            shutil.rmtree(target)
        scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=models_dir))
        try:
            build(scratch)
            (scratch / COMPLETE_MARKER).write_text(f"{name}\n")
            scratch.rename(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        try:
            return register(target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise


def _delete_stored(store: Store, path: Path) -> str | None:
    """Deletes a folder the workbench made, only when it really lies inside the model store."""
    models_dir = store.settings.models_dir.resolve()
    folder = path.resolve()
    if folder == models_dir or not folder.is_relative_to(models_dir) or not folder.exists():
        return None
    shutil.rmtree(folder, ignore_errors=True)
    return str(folder)


# --- kinds ----------------------------------------------------------------------------------------------

def add_local_folder(store: Store, *, actor: Actor, name: str, path: str | Path) -> ModelInfo:
    """A Hugging Face folder on this machine (config.json, safetensors weights, a tokenizer), used in place."""
    _prepare(store, actor, name)
    folder = check_hf_folder(path)
    task = task_of(folder)
    details = _details(folder)
    details["info"]["stored_by_workbench"] = False
    return registry.register_model(store, actor=actor, name=name, kind="hf_local", task=task,
                                   source=f"Local folder {folder}", path=str(folder), details=details)


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or any(os.environ.get(v, "").strip().lower() in _TRUE
                                           for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _with_deadline(call: Callable[[], Any], seconds: float, what: str) -> Any:
    """Runs `call` in a daemon thread and stops waiting after `seconds` (a DNS lookup ignores HTTP timeouts)."""
    outcome: dict[str, Any] = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name="hub-lookup")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise Unavailable(f"{what} cannot be reached: it did not answer within {seconds:.0f} seconds, so the machine "
                          "is offline or the hub is blocked.")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _hub_error(exc: Exception, repo_id: str, revision: str | None) -> Exception:
    from huggingface_hub import errors

    if isinstance(exc, errors.GatedRepoError):
        return PermissionDenied(f"{repo_id} is gated on the Hugging Face hub: accept its terms on the model page and "
                                "set HF_TOKEN for the workbench.")
    if isinstance(exc, errors.RevisionNotFoundError):
        return NotFound(f"{repo_id} on the Hugging Face hub has no revision '{revision}'.")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return NotFound(f"There is no model {repo_id} on the Hugging Face hub (or it is private and no HF_TOKEN is set).")
    if isinstance(exc, errors.HfHubHTTPError):
        return Unavailable(f"The Hugging Face hub refused the request for {repo_id} ({_short(exc)}).")
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return _offline_error(repo_id)
    return Unavailable(f"The Hugging Face hub cannot be reached: the machine is offline or the hub is blocked "
                       f"({_short(exc)}).", hint="Download the model elsewhere and register its folder instead.")


def _offline_error(repo_id: str) -> Unavailable:
    return Unavailable(f"The Hugging Face hub cannot be reached: the machine is offline (HF_HUB_OFFLINE is set), so "
                       f"{repo_id} cannot be downloaded.",
                       hint="Copy the model folder to this machine and register it as a local folder instead.")


def add_hub_model(store: Store, *, actor: Actor, name: str, repo_id: str, revision: str | None = None,
                  timeout: float = HUB_TIMEOUT_S) -> ModelInfo:
    """Downloads a hub repository's safetensors weights, config and tokenizer once into the model store.

    Offline (HF_HUB_OFFLINE) it fails at once with a sentence; without a network it fails within `timeout`.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    _prepare(store, actor, name)
    repo_id = (repo_id or "").strip()
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise InvalidInput(f"'{repo_id}' is not a Hugging Face repository id; it looks like owner/model-name.") from None
    revision = (revision or "").strip() or None
    if _hub_offline():
        raise _offline_error(repo_id)

    from huggingface_hub import HfApi, snapshot_download

    endpoint = os.environ.get("HF_ENDPOINT") or None  # read now, so a changed environment is honoured
    try:
        meta = _with_deadline(lambda: HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, timeout=timeout),
                              timeout + 5, "The Hugging Face hub")
    except Unavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence
        raise _hub_error(exc, repo_id, revision) from None
    files = [s.rfilename for s in meta.siblings or [] if "/" not in s.rfilename]
    if "config.json" not in files:
        raise InvalidInput(f"{repo_id} is not a transformers model repository: it has no config.json.")
    if not any(f.endswith(".safetensors") for f in files):
        pickled = [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt"))]
        raise InvalidInput(f"{repo_id} has no safetensors weights" + (f", only PyTorch pickle files ({', '.join(pickled[:3])})"
                           if pickled else "") + "; the workbench loads safetensors only.")
    small = [f for f in files if f.endswith(_HUB_FILES) and not f.endswith(".safetensors")]
    weights = [f for f in files if f.endswith(".safetensors")]
    sha = meta.sha or revision

    def download(files_wanted: list[str], into: Path) -> None:
        try:
            snapshot_download(repo_id, revision=sha, local_dir=into, allow_patterns=files_wanted, endpoint=endpoint,
                              etag_timeout=timeout)
        except Exception as exc:  # noqa: BLE001
            raise _hub_error(exc, repo_id, revision) from None

    def build(scratch: Path) -> None:
        download(small, scratch)
        if read_json(scratch / "config.json").get("auto_map"):
            raise InvalidInput(f"{repo_id} needs its own Python code (auto_map in config.json), which the workbench "
                               "never runs.")
        task_of(scratch)  # refuses an unsupported architecture before the weights are fetched
        download(weights, scratch)
        shutil.rmtree(scratch / ".cache", ignore_errors=True)
        check_hf_folder(scratch)

    def register(folder: Path) -> ModelInfo:
        details = _details(folder)
        details["info"].update(repo_id=repo_id, revision=sha, requested_revision=revision, stored_by_workbench=True)
        return registry.register_model(store, actor=actor, name=name, kind="hf_hub", task=task_of(folder),
                                       source=f"Hugging Face hub {repo_id}@{(sha or 'main')[:12]}", path=str(folder),
                                       details=details)

    return _store_folder(store, actor, name, build, register)


def add_gguf(store: Store, *, actor: Actor, name: str, path: str | Path) -> ModelInfo:
    """Imports a GGUF file through transformers (de-quantised) and saves it once in the model store as safetensors."""
    _prepare(store, actor, name)
    gguf_file = check_gguf_file(path)

    def build(scratch: Path) -> None:
        from core.models.bundled import _convert_gguf

        try:
            _convert_gguf(gguf_file, scratch)
        except Exception as exc:  # noqa: BLE001 - transformers raises many kinds for an unsupported file
            raise InvalidInput(f"transformers could not import {gguf_file.name} ({_short(exc)}); it reads GGUF files of "
                               "common architectures (Llama, Mistral, Qwen2, Phi-3, Gemma...) only.") from None
        check_hf_folder(scratch)

    def register(folder: Path) -> ModelInfo:
        details = _details(folder)
        details["info"].update(gguf_file=str(gguf_file), gguf_size_bytes=gguf_file.stat().st_size,
                               stored_by_workbench=True)
        return registry.register_model(store, actor=actor, name=name, kind="gguf", task=task_of(folder),
                                       source=f"GGUF file {gguf_file}", path=str(folder), details=details)

    return _store_folder(store, actor, name, build, register)


def add_endpoint(store: Store, *, actor: Actor, name: str, base_url: str, model: str, api_key_env: str | None = None,
                 price_per_1k_input: float | None = None, price_per_1k_output: float | None = None) -> ModelInfo:
    """An OpenAI-compatible chat endpoint. Nothing is contacted here (check it with `check_endpoint`)."""
    _prepare(store, actor, name)
    url = endpoints.check_base_url(base_url)
    model = (model or "").strip()
    if not model or len(model) > 256 or any(ch.isspace() for ch in model):
        raise InvalidInput("Give the model name the endpoint serves (one word of up to 256 characters, "
                           "e.g. gpt-4o-mini or llama3.1:8b).")
    key_name = endpoints.check_key_name(api_key_env)
    details = {"info": {"base_url": url, "model": model, "api_key_env": key_name,
                        "price": _price_info(price_per_1k_input, price_per_1k_output)}}
    return registry.register_model(store, actor=actor, name=name, kind="openai", task="chat",
                                   source=f"{url} (model {model})", path=None, details=details)


def add_adapter(store: Store, *, actor: Actor, name: str, path: str | Path, base_model: str) -> ModelInfo:
    """A PEFT LoRA folder (adapter_config.json + adapter_model.safetensors) on a registered local base model."""
    _prepare(store, actor, name)
    folder, config = check_adapter_folder(path)
    if not registry.is_registered(store, base_model or ""):
        raise NotFound(f"The base model '{base_model}' is not registered; register it first, then its adapter.")
    base = registry.get_model(store, actor=actor, name=base_model)
    if not base.is_local or not base.path:
        raise InvalidInput(f"'{base_model}' is {registry.KIND_LABELS.get(base.kind, base.kind).lower()}; an adapter "
                           "needs a local base model whose weights the workbench holds.")
    if not Path(base.path).is_dir():
        raise Unavailable(f"The base model folder {base.path} is missing.")
    check_adapter_fits(folder, Path(base.path), base_model)
    targets = config.get("target_modules")
    details = {
        "architecture": base.architecture, "parameters": count_parameters(folder), "size_bytes": folder_size(folder),
        "context_length": base.context_length,
        "has_chat_template": base.has_chat_template or (folder / "chat_template.jinja").exists(),
        "info": {
            "base_model": base_model, "peft_type": config.get("peft_type"), "r": config.get("r"),
            "lora_alpha": config.get("lora_alpha"),
            "target_modules": sorted(targets) if isinstance(targets, (list, set, tuple)) else targets,
            "recorded_base": config.get("base_model_name_or_path"), "stored_by_workbench": False,
            "price": _price_info(None, None),
        },
    }
    return registry.register_model(store, actor=actor, name=name, kind="adapter", task=base.task,
                                   source=f"Adapter folder {folder} on {base_model}", path=str(folder), details=details)


# --- changes --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RemovedModel:
    name: str
    kind: str
    deleted_folder: str | None  # the model-store folder deleted with it; None when its files were the user's

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "deleted_folder": self.deleted_folder}


def add_merged(store: Store, *, actor: Actor, name: str, adapter: str) -> ModelInfo:
    """Merges a LoRA adapter into its base and saves the result once in the model store as a full model folder
    (safetensors and tokenizer): servable by any tool that loads a Hugging Face folder, no PEFT needed."""
    _prepare(store, actor, name)
    source = registry.get_model(store, actor=actor, name=adapter)
    if source.kind != "adapter" or not source.base_model:
        raise InvalidInput(f"'{adapter}' is not a LoRA adapter; only adapters can be merged into their base.")
    base = registry.get_model(store, actor=actor, name=source.base_model)

    def build(scratch: Path) -> None:
        from peft import PeftModel

        from core.models.loading import load_causal_lm

        model, tokenizer = load_causal_lm(base.path)
        merged = PeftModel.from_pretrained(model, source.path).merge_and_unload()
        merged.save_pretrained(scratch, safe_serialization=True)
        tokenizer.padding_side = "right"  # a plain folder's default; the workbench sets left padding when it loads
        tokenizer.save_pretrained(scratch)
        check_hf_folder(scratch)

    def register(folder: Path) -> ModelInfo:
        details = _details(folder)
        details["info"].update(merged_from=adapter, base_model_of_adapter=base.name, stored_by_workbench=True,
                               lineage={k: source.info.get(k) for k in ("job_id", "dataset_version", "launched_by")
                                        if source.info.get(k) is not None})
        return registry.register_model(store, actor=actor, name=name, kind="merged", task="chat",
                                       source=f"Adapter {adapter} merged into {base.name}", path=str(folder),
                                       details=details)

    return _store_folder(store, actor, name, build, register)


def remove_model(store: Store, *, actor: Actor, name: str) -> RemovedModel:
    """Unregisters a model; deletes the folder the workbench made for it, never a user's own folder."""
    require(actor, Permission.MANAGE_MODELS)

    def refuse(session, row) -> None:
        if row.kind == "bundled":
            raise Conflict(f"'{name}' is bundled with the workbench and cannot be removed.")
        adapters = registry.adapters_of(session, name)
        if adapters:
            raise Conflict(f"'{name}' is the base of the adapter{'s' if len(adapters) > 1 else ''} "
                           f"{', '.join(a.name for a in adapters)}; remove {'them' if len(adapters) > 1 else 'it'} first.")

    removed = registry.delete_model(store, actor=actor, name=name, refuse_if=refuse)
    deleted = None
    if removed.info.get("stored_by_workbench") and removed.path:
        deleted = _delete_stored(store, Path(removed.path))
    return RemovedModel(name=removed.name, kind=removed.kind, deleted_folder=deleted)


def set_price(store: Store, *, actor: Actor, name: str, input_per_1k: float, output_per_1k: float) -> ModelInfo:
    """USD per 1,000 input and output tokens, used to cost runs and traffic."""
    require(actor, Permission.MANAGE_MODELS)
    price = _price_info(input_per_1k, output_per_1k)
    return registry.update_info(store, actor=actor, name=name, changes={"price": price}, action="model.set_price")


def check_endpoint(store: Store, *, actor: Actor, name: str, timeout: float = endpoints.DEFAULT_TIMEOUT_S,
                   secrets=None) -> endpoints.EndpointCheck:
    """Asks a registered endpoint which models it serves (one bounded request)."""
    require(actor, Permission.RUN_INFERENCE)
    model = registry.get_model(store, actor=actor, name=name)
    if model.kind != "openai":
        raise InvalidInput(f"'{name}' is {registry.KIND_LABELS.get(model.kind, model.kind).lower()}, not an endpoint; "
                           "only endpoints have a connection to check.")
    return endpoints.check(model.info["base_url"], model.info["model"], model.info.get("api_key_env"),
                           timeout=timeout, secrets=secrets)
