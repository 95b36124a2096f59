"""The audit log: one row per mutating action, written in the same transaction as the change."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import AuditEvent


def record(
    *,
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor.name,
        actor_role=actor.role.value,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=before,
        after=after,
        detail=detail[:1000] if detail else None,
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 500


def list_events(store: Store, *, actor: Actor, filters: AuditFilter = AuditFilter()) -> list[AuditEvent]:
    """Newest first."""
    require(actor, Permission.VIEW_AUDIT)
    query = select(AuditEvent)
    if filters.actor:
        query = query.where(AuditEvent.actor == filters.actor)
    if filters.action:
        query = query.where(col(AuditEvent.action).startswith(filters.action))
    if filters.target_type:
        query = query.where(AuditEvent.target_type == filters.target_type)
    if filters.target_id:
        query = query.where(AuditEvent.target_id == filters.target_id)
    if filters.since:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.at < filters.until)
    query = query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(filters.limit)
    with store.read() as session:
        return list(session.exec(query))


def distinct_values(store: Store, *, actor: Actor) -> dict[str, list[str]]:
    """The actors, actions and target types present, to fill filter pickers."""
    require(actor, Permission.VIEW_AUDIT)
    with store.read() as session:
        return {
            name: sorted(v for v in session.exec(select(column).distinct()) if v)
            for name, column in (
                ("actor", AuditEvent.actor),
                ("action", AuditEvent.action),
                ("target_type", AuditEvent.target_type),
            )
        }


def count_events(store: Store) -> int:
    with store.read() as session:
        return session.exec(select(func.count()).select_from(AuditEvent)).one()
