"""API keys for `workbench serve`: shown once, kept as a SHA-256 hash; the key's name is the events' application."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from core.errors import Conflict, InvalidInput, NotFound
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import ApiKey, utcnow

SCOPES = ("chat", "embeddings", "events", "feedback")
DEFAULT_SCOPES = ("chat", "embeddings")
KEY_PREFIX = "wb-"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_RATE_RE = re.compile(r"^\s*(\d+)\s*(?:/\s*min)?\s*$")


@dataclass(frozen=True)
class KeyInfo:
    name: str
    prefix: str
    scopes: list[str]
    models: list[str] | None
    rate_limit_per_min: int | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> "KeyInfo":
        return cls(name=row.name, prefix=row.prefix, scopes=list(row.scopes), models=row.models,
                   rate_limit_per_min=row.rate_limit_per_min, created_at=row.created_at, created_by=row.created_by,
                   revoked_at=row.revoked_at)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows_model(self, name: str) -> bool:
        return self.models is None or name in self.models

    def to_dict(self) -> dict:
        return {"name": self.name, "prefix": self.prefix, "scopes": self.scopes, "models": self.models,
                "rate_limit_per_min": self.rate_limit_per_min,
                "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by,
                "revoked_at": self.revoked_at.isoformat(timespec="seconds") if self.revoked_at else None,
                "active": self.active}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_scopes(scopes: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if scopes is None:
        return list(DEFAULT_SCOPES)
    items = [s.strip().lower() for s in (scopes.split(",") if isinstance(scopes, str) else scopes) if s.strip()]
    unknown = [s for s in items if s not in SCOPES]
    if unknown or not items:
        raise InvalidInput(f"'{', '.join(unknown) or scopes}' is not a key scope; choose from {', '.join(SCOPES)}.")
    return sorted(set(items), key=SCOPES.index)


def parse_rate_limit(value: str | int | None) -> int | None:
    """'60/min' or 60 -> 60 requests a minute; None or '' -> no limit."""
    if value is None or value == "":
        return None
    match = _RATE_RE.match(str(value))
    if not match or int(match.group(1)) < 1:
        raise InvalidInput(f"'{value}' is not a rate limit; write a number of requests a minute, like 60/min.")
    return int(match.group(1))


def create_key(store: Store, *, actor: Actor, name: str, scopes=None, models: list[str] | None = None,
               rate_limit=None) -> tuple[KeyInfo, str]:
    """Makes a key; returns its info and the key itself, which is not stored and cannot be shown again."""
    require(actor, Permission.MANAGE_API_KEYS)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInput(f"'{name}' is not a valid key name: use letters, digits, dots, dashes and underscores "
                           "(up to 128), starting with a letter or digit.")
    scope_list = parse_scopes(scopes)
    limit = parse_rate_limit(rate_limit)
    model_list = sorted({m.strip() for m in models if m.strip()}) if models else None
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with store.write() as session:
        if session.exec(select(ApiKey.id).where(ApiKey.name == name)).first() is not None:
            raise Conflict(f"An API key named '{name}' exists already; revoke it or choose another name.")
        row = ApiKey(name=name, key_hash=hash_key(key), prefix=key[:10], scopes=scope_list, models=model_list,
                     rate_limit_per_min=limit, created_by=actor.name)
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="api_key.create", target_type="api_key", target_id=name,
                     after={"scopes": scope_list, "models": model_list, "rate_limit_per_min": limit})
        return KeyInfo.of(row), key


def list_keys(store: Store, *, actor: Actor) -> list[KeyInfo]:
    require(actor, Permission.MANAGE_API_KEYS)
    with store.read() as session:
        return [KeyInfo.of(r) for r in session.exec(select(ApiKey).order_by(ApiKey.name))]


def revoke_key(store: Store, *, actor: Actor, name: str) -> KeyInfo:
    """From now on the key is refused: the server looks every request's key up in the database."""
    require(actor, Permission.MANAGE_API_KEYS)
    with store.write() as session:
        row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
        if row is None:
            raise NotFound(f"There is no API key named '{name}'.")
        if row.revoked_at is not None:
            raise Conflict(f"The API key '{name}' was revoked already.")
        row.revoked_at, row.revoked_by = utcnow(), actor.name
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="api_key.revoke", target_type="api_key", target_id=name)
        return KeyInfo.of(row)


def authenticate(store: Store, key: str | None) -> KeyInfo | None:
    """The active key's info, or None for a missing, unknown or revoked key (read at every request)."""
    if not key:
        return None
    with store.read() as session:
        row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if row is None or row.revoked_at is not None:
        return None
    return KeyInfo.of(row)
