"""The model registry: every model the workbench can run, where it lives and where it came from."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import func, select

from core.errors import Conflict, NotFound
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
}


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "task": self.task, "path": self.path, "source": self.source,
            "architecture": self.architecture, "parameters": self.parameters, "size_bytes": self.size_bytes,
            "context_length": self.context_length, "has_chat_template": self.has_chat_template, "info": self.info,
            "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by,
        }


def register_model(store: Store, *, actor: Actor, name: str, kind: str, task: str, source: str,
                   path: str | None = None, details: dict[str, Any] | None = None) -> ModelInfo:
    require(actor, Permission.MANAGE_MODELS)
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
