"""The alert list shared by drift monitors and KPI targets.

`open_alert` is called by the workbench itself (a monitor run, a KPI check), so it takes no acting user and is
idempotent per source: while an alert from "monitor:3" is open or acknowledged, raising it again updates that
alert (message, details, times raised) instead of opening a second one. People acknowledge and resolve alerts;
who and when is kept on the alert and in the audit log. A new alert is posted to the optional webhook
(core/monitoring/webhook.py) in the background.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.errors import Conflict, InvalidInput, NotFound
from core.governance import audit
from core.governance.roles import SYSTEM, Actor, Permission, require
from core.monitoring import webhook
from core.storage.db import Store
from core.storage.tables import Alert, utcnow

KINDS = ("drift", "kpi")
SEVERITIES = ("warning", "critical")
STATUSES = ("open", "acknowledged", "resolved")
ACTIVE = ("open", "acknowledged")


@dataclass(frozen=True)
class AlertInfo:
    id: int
    kind: str
    source: str
    title: str
    message: str
    severity: str
    status: str
    details: dict[str, Any]
    times_raised: int
    opened_at: datetime
    last_raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None
    webhook_status: str | None

    @classmethod
    def of(cls, row: Alert) -> "AlertInfo":
        return cls(id=row.id, kind=row.kind, source=row.source, title=row.title, message=row.message,
                   severity=row.severity, status=row.status, details=dict(row.details or {}),
                   times_raised=row.times_raised, opened_at=row.opened_at, last_raised_at=row.last_raised_at,
                   acknowledged_at=row.acknowledged_at, acknowledged_by=row.acknowledged_by,
                   resolved_at=row.resolved_at, resolved_by=row.resolved_by, note=row.note,
                   webhook_status=row.webhook_status)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_alert(store: Store, *, kind: str, source: str, title: str, message: str, severity: str = "warning",
               details: dict[str, Any] | None = None) -> AlertInfo:
    """Opens an alert for `source`, or re-raises the one already open for it (never two open for one source)."""
    if kind not in KINDS:
        raise InvalidInput(f"'{kind}' is not an alert kind; choose one of {', '.join(KINDS)}.")
    if severity not in SEVERITIES:
        raise InvalidInput(f"'{severity}' is not a severity; choose one of {', '.join(SEVERITIES)}.")
    if not source.strip() or not title.strip():
        raise InvalidInput("An alert needs a source and a title.")
    for attempt in range(2):
        try:
            info, created = _open_or_raise_again(store, kind=kind, source=source.strip(), title=title[:200],
                                                 message=message[:2000], severity=severity, details=details or {})
            break
        except IntegrityError:  # another process opened it between our read and our insert: raise that one
            if attempt:
                raise
    if created:
        _notify(store, info)
    return info


def _open_or_raise_again(store: Store, *, kind, source, title, message, severity, details) -> tuple[AlertInfo, bool]:
    with store.write() as session:
        row = session.exec(select(Alert).where(Alert.open_source == source)).first()
        now = utcnow()
        if row is not None:
            row.times_raised += 1
            row.last_raised_at = now
            row.message = message
            row.details = details
            if SEVERITIES.index(severity) > SEVERITIES.index(row.severity):
                row.severity = severity
            session.add(row)
            session.flush()
            return AlertInfo.of(row), False
        row = Alert(kind=kind, source=source, open_source=source, title=title, message=message, severity=severity,
                    status="open", details=details, opened_at=now, last_raised_at=now)
        session.add(row)
        session.flush()
        audit.record(session=session, actor=SYSTEM, action="alert.open", target_type="alert", target_id=row.id,
                     after={"kind": kind, "source": source, "severity": severity, "title": title})
        return AlertInfo.of(row), True


_webhook_threads: list[threading.Thread] = []


def _notify(store: Store, info: AlertInfo) -> None:
    settings = webhook.WebhookSettings.from_env()
    payload = {"event": "alert.opened", "alert": {k: v for k, v in info.to_dict().items()
                                                   if k in ("id", "kind", "source", "title", "message", "severity",
                                                            "opened_at", "details")}}

    def record_outcome(status: str) -> None:
        with store.write() as session:
            row = session.get(Alert, info.id)
            if row is not None:
                row.webhook_status = status[:200]
                session.add(row)

    thread = webhook.send_in_background(settings, payload, record_outcome)
    if thread is not None:
        _webhook_threads[:] = [t for t in _webhook_threads if t.is_alive()] + [thread]


def wait_for_webhooks(timeout_s: float = 30.0) -> None:
    """Lets a short-lived process (the CLI) give pending webhook deliveries a chance before it exits."""
    for thread in list(_webhook_threads):
        thread.join(timeout_s)


def list_alerts(store: Store, *, actor: Actor, status: str | None = None, kind: str | None = None,
                source: str | None = None, limit: int = 200) -> list[AlertInfo]:
    """Newest first. `status` is open, acknowledged, resolved, or "active" (open or acknowledged)."""
    require(actor, Permission.VIEW_DASHBOARDS)
    query = select(Alert)
    if status == "active":
        query = query.where(col(Alert.status).in_(ACTIVE))
    elif status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"'{status}' is not an alert status; choose active, {', '.join(STATUSES)}.")
        query = query.where(Alert.status == status)
    if kind:
        query = query.where(Alert.kind == kind)
    if source:
        query = query.where(Alert.source == source)
    query = query.order_by(col(Alert.opened_at).desc(), col(Alert.id).desc()).limit(limit)
    with store.read() as session:
        return [AlertInfo.of(row) for row in session.exec(query)]


def get_alert(store: Store, *, actor: Actor, alert_id: int) -> AlertInfo:
    require(actor, Permission.VIEW_DASHBOARDS)
    with store.read() as session:
        return AlertInfo.of(_get(session, alert_id))


def acknowledge(store: Store, *, actor: Actor, alert_id: int, note: str | None = None) -> AlertInfo:
    """Someone is looking at it: the alert stays active (a new breach raises it again, no new alert)."""
    require(actor, Permission.HANDLE_ALERTS)
    with store.write() as session:
        row = _get(session, alert_id)
        if row.status == "resolved":
            raise Conflict(f"Alert {alert_id} is already resolved.")
        if row.status == "acknowledged":
            raise Conflict(f"Alert {alert_id} was already acknowledged by {row.acknowledged_by}.")
        row.status = "acknowledged"
        row.acknowledged_at = utcnow()
        row.acknowledged_by = actor.name
        if note:
            row.note = note[:2000]
        session.add(row)
        audit.record(session=session, actor=actor, action="alert.acknowledge", target_type="alert",
                     target_id=alert_id, before={"status": "open"}, after={"status": "acknowledged"}, detail=note)
        session.flush()
        return AlertInfo.of(row)


def resolve(store: Store, *, actor: Actor, alert_id: int, note: str | None = None) -> AlertInfo:
    """Closes the alert; the next breach of its source opens a new one."""
    require(actor, Permission.HANDLE_ALERTS)
    with store.write() as session:
        row = _get(session, alert_id)
        if row.status == "resolved":
            raise Conflict(f"Alert {alert_id} was already resolved by {row.resolved_by}.")
        before = row.status
        row.status = "resolved"
        row.open_source = None
        row.resolved_at = utcnow()
        row.resolved_by = actor.name
        if note:
            row.note = note[:2000]
        session.add(row)
        audit.record(session=session, actor=actor, action="alert.resolve", target_type="alert", target_id=alert_id,
                     before={"status": before}, after={"status": "resolved"}, detail=note)
        session.flush()
        return AlertInfo.of(row)


def _get(session: Session, alert_id: int) -> Alert:
    row = session.get(Alert, alert_id)
    if row is None:
        raise NotFound(f"There is no alert {alert_id}.")
    return row
