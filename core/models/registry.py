"""The model registry: every model the workbench can run, where it lives and where it came from."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import func, select

from core.errors import Conflict, InvalidInput, NotFound
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import RegisteredModel

KIND_LABELS = {
    "bundled": "Bundled with the workbench",
    "hf_local": "Local Hugging Face folder",
    "hf_hub": "Hugging Face hub",
    "gguf": "GGUF file",
    "openai": "OpenAI-compatible endpoint",
    "adapter": "LoRA adapter",
    "merged": "Fine-tune merged into its base",
}
# Kinds whose weights are a folder on this machine (an adapter is a folder too, but needs its base).
LOCAL_KINDS = ("bundled", "hf_local", "hf_hub", "gguf", "merged")

# Precisions a local model may generate in (core/inference/kernels.py): fp32 unless chosen, never silently lower.
PRECISIONS = ("fp32", "bf16", "int8")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def validate_name(name: str) -> str:
    """Model names follow dataset names: letters, digits, dots, dashes and underscores, up to 128."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInput(f"'{name}' is not a valid model name: use letters, digits, dots, dashes and underscores "
                           "(up to 128), starting with a letter or digit.")
    return name


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: str
    task: str
    path: str | None
    source: str
    architecture: str | None
    parameters: int | None
    size_bytes: int | None
    context_length: int | None
    has_chat_template: bool
    info: dict[str, Any]
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, row: RegisteredModel) -> "ModelInfo":
        return cls(
            name=row.name, kind=row.kind, task=row.task, path=row.path, source=row.source,
            architecture=row.architecture, parameters=row.parameters, size_bytes=row.size_bytes,
            context_length=row.context_length, has_chat_template=row.has_chat_template, info=dict(row.info or {}),
            created_at=row.created_at, created_by=row.created_by,
        )

    @property
    def base_model(self) -> str | None:
        """The registered model an adapter applies to; None for every other kind."""
        return self.info.get("base_model")

    @property
    def price_per_1k_input(self) -> float:
        """USD per 1,000 input tokens (0 unless set: local models cost no tokens)."""
        return float((self.info.get("price") or {}).get("input_per_1k") or 0.0)

    @property
    def price_per_1k_output(self) -> float:
        """USD per 1,000 output tokens (0 unless set)."""
        return float((self.info.get("price") or {}).get("output_per_1k") or 0.0)

    @property
    def precision(self) -> str:
        """The precision local generation uses for this model unless a call asks for another ("fp32" by default)."""
        return self.info.get("precision") or "fp32"

    @property
    def is_local(self) -> bool:
        return self.kind in LOCAL_KINDS

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "task": self.task, "path": self.path, "source": self.source,
            "architecture": self.architecture, "parameters": self.parameters, "size_bytes": self.size_bytes,
            "context_length": self.context_length, "has_chat_template": self.has_chat_template, "info": self.info,
            "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by,
            "base_model": self.base_model, "price_per_1k_input": self.price_per_1k_input,
            "price_per_1k_output": self.price_per_1k_output, "precision": self.precision,
        }


def register_model(store: Store, *, actor: Actor, name: str, kind: str, task: str, source: str,
                   path: str | None = None, details: dict[str, Any] | None = None) -> ModelInfo:
    require(actor, Permission.MANAGE_MODELS)
    validate_name(name)
    details = dict(details or {})
    with store.write() as session:
        if session.exec(select(RegisteredModel).where(RegisteredModel.name == name)).first():
            raise Conflict(f"A model named '{name}' is already registered.")
        row = RegisteredModel(
            name=name, kind=kind, task=task, source=source, path=path, created_by=actor.name,
            architecture=details.get("architecture"), parameters=details.get("parameters"),
            size_bytes=details.get("size_bytes"), context_length=details.get("context_length"),
            has_chat_template=bool(details.get("has_chat_template")), info=details.get("info") or {},
        )
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="model.register", target_type="model", target_id=name,
                     after={"kind": kind, "task": task, "source": source, "path": path})
        return ModelInfo.of(row)


def list_models(store: Store, *, actor: Actor, task: str | None = None) -> list[ModelInfo]:
    require(actor, Permission.VIEW_MODELS)
    query = select(RegisteredModel).order_by(RegisteredModel.name)
    if task:
        query = query.where(RegisteredModel.task == task)
    with store.read() as session:
        return [ModelInfo.of(r) for r in session.exec(query)]


def get_model(store: Store, *, actor: Actor, name: str) -> ModelInfo:
    require(actor, Permission.VIEW_MODELS)
    with store.read() as session:
        row = session.exec(select(RegisteredModel).where(RegisteredModel.name == name)).first()
    if row is None:
        known = ", ".join(m.name for m in list_models(store, actor=actor)) or "none yet"
        raise NotFound(f"There is no model named '{name}' (registered: {known}).")
    return ModelInfo.of(row)


def count_models(store: Store) -> int:
    with store.read() as session:
        return session.exec(select(func.count()).select_from(RegisteredModel)).one()


def is_registered(store: Store, name: str) -> bool:
    with store.read() as session:
        return session.exec(select(RegisteredModel.id).where(RegisteredModel.name == name)).first() is not None


def update_info(store: Store, *, actor: Actor, name: str, changes: dict[str, Any], action: str) -> ModelInfo:
    """Merges `changes` into the model's `info` and audits `action` with the values before and after."""
    require(actor, Permission.MANAGE_MODELS)
    with store.write() as session:
        row = session.exec(select(RegisteredModel).where(RegisteredModel.name == name)).first()
        if row is None:
            raise NotFound(f"There is no model named '{name}'.")
        before = {key: (row.info or {}).get(key) for key in changes}
        row.info = {**(row.info or {}), **changes}  # a new dict, so the JSON column is written
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action=action, target_type="model", target_id=name,
                     before=before, after=dict(changes))
        return ModelInfo.of(row)


def set_precision(store: Store, *, actor: Actor, name: str, precision: str) -> ModelInfo:
    """Chooses the precision a local chat model generates in: "fp32" (default), "bf16" or "int8" (weight-only).
    Lower precision is faster on CPUs with bf16 kernels but may change greedy answers; `bench/generate.py
    --precisions` shows by how much."""
    if precision not in PRECISIONS:
        raise InvalidInput(f"'{precision}' is not a precision; choose one of {', '.join(PRECISIONS)}.")
    info = get_model(store, actor=actor, name=name)
    if info.kind not in LOCAL_KINDS:
        raise InvalidInput(f"'{name}' is a {KIND_LABELS.get(info.kind, info.kind).lower()}; only local models "
                           "run in a chosen precision.")
    return update_info(store, actor=actor, name=name, changes={"precision": precision}, action="model.precision")


def delete_model(store: Store, *, actor: Actor, name: str, refuse_if=None) -> ModelInfo:
    """Deletes the row and audits it in one transaction; `refuse_if(session, row)` may raise to keep it."""
    require(actor, Permission.MANAGE_MODELS)
    with store.write() as session:
        row = session.exec(select(RegisteredModel).where(RegisteredModel.name == name)).first()
        if row is None:
            raise NotFound(f"There is no model named '{name}'.")
        if refuse_if is not None:
            refuse_if(session, row)
        removed = ModelInfo.of(row)
        session.delete(row)
        audit.record(session=session, actor=actor, action="model.remove", target_type="model", target_id=name,
                     before={"kind": row.kind, "task": row.task, "source": row.source, "path": row.path})
        return removed


def adapters_of(session, base: str) -> list[RegisteredModel]:
    """The adapter rows whose base is `base` (the registry is small: filtered here, the same on every database)."""
    rows = session.exec(select(RegisteredModel).where(RegisteredModel.kind == "adapter").order_by(RegisteredModel.name))
    return [r for r in rows if (r.info or {}).get("base_model") == base]


def merged_from(session, adapter: str) -> list[RegisteredModel]:
    """Full models made by merging the adapter `adapter` into its base."""
    rows = session.exec(select(RegisteredModel).where(RegisteredModel.kind == "merged").order_by(RegisteredModel.name))
    return [r for r in rows if (r.info or {}).get("merged_from") == adapter]


def derived_models(store: Store, *, actor: Actor, name: str) -> list[ModelInfo]:
    """What was made from model `name`: the adapters registered with it as their base, the merged models made
    from it when it is an adapter."""
    get_model(store, actor=actor, name=name)  # permission and a sentence when it does not exist
    with store.read() as session:
        return [ModelInfo.of(r) for r in adapters_of(session, name) + merged_from(session, name)]
