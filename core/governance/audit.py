"""The audit log: one row per mutating action, written in the same transaction as the change."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from core.governance.roles import ROLE_LABELS, Actor, Permission, Role, require
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
        via=actor.via,
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
    exclude_actions: tuple[str, ...] = ()  # e.g. ("login", "logout") for a summary of changes


def list_events(store: Store, *, actor: Actor, filters: AuditFilter = AuditFilter()) -> list[AuditEvent]:
    """Newest first."""
    require(actor, Permission.VIEW_AUDIT)
    query = select(AuditEvent)
    if filters.actor:
        query = query.where(AuditEvent.actor == filters.actor)
    if filters.action:
        # "user." is a prefix (every user action); "login" is exactly that action, not also "login.failed".
        if filters.action.endswith("."):
            query = query.where(col(AuditEvent.action).startswith(filters.action))
        else:
            query = query.where(AuditEvent.action == filters.action)
    if filters.exclude_actions:
        query = query.where(col(AuditEvent.action).not_in(filters.exclude_actions))
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


# Security actions a filter always offers, even before the first one happened.
SECURITY_ACTIONS = ("login", "login.failed", "logout", "user.lock", "user.unlock")
# Who the audit log names for a visitor who is not logged in (a failed login).
VISITOR = Actor(name="anonymous", role=Role.VIEWER)
VISITOR_ROLE = "visitor"


def role_label(value: str | None) -> str:
    """The role column as people read it; rows of visitors who failed to log in carry no role."""
    try:
        return ROLE_LABELS[Role(value)]
    except ValueError:
        return "Not logged in" if value == VISITOR_ROLE else (value or "")


def record_visitor(*, session: Session, action: str, typed_name: str, detail: str) -> AuditEvent:
    """A row for someone who is not logged in (a failed login): the name as typed, never the password."""
    event = AuditEvent(actor=VISITOR.name, actor_role=VISITOR_ROLE, action=action, target_type="user",
                       target_id=(typed_name or "")[:128], detail=detail[:1000], via="login")
    session.add(event)
    return event


def to_row(event: AuditEvent) -> dict[str, Any]:
    """One audit row as the CLI's JSON, the page and its CSV show it."""
    return {
        "id": event.id, "at": event.at.isoformat(timespec="seconds"), "actor": event.actor,
        "actor_role": event.actor_role, "via": event.via, "action": event.action,
        "target_type": event.target_type, "target_id": event.target_id,
        "before": event.before, "after": event.after, "detail": event.detail,
    }


def distinct_values(store: Store, *, actor: Actor) -> dict[str, list[str]]:
    """The actors, actions and target types present (and the security actions always), to fill filter pickers."""
    require(actor, Permission.VIEW_AUDIT)
    with store.read() as session:
        values = {
            name: sorted(v for v in session.exec(select(column).distinct()) if v)
            for name, column in (
                ("actor", AuditEvent.actor),
                ("action", AuditEvent.action),
                ("target_type", AuditEvent.target_type),
            )
        }
    values["action"] = sorted(set(values["action"]) | set(SECURITY_ACTIONS))
    return values


def count_events(store: Store) -> int:
    with store.read() as session:
        return session.exec(select(func.count()).select_from(AuditEvent)).one()
