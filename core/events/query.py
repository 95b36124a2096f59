"""Reading events: filters over time, model, deployment, application, status and business metadata.

Data scientists and admins read everything recorded; viewers (managers) read events without the prompt and
output text; annotators read none (they see events only through annotation queues).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from core.errors import InvalidInput, NotFound
from core.events.schema import ENDPOINTS, STATUSES, as_utc
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import InferenceEvent

_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
MAX_LIMIT = 100_000


@dataclass(frozen=True)
class EventFilter:
    """Which events: a time window [since, until), equality on columns, and `where` on metadata keys."""

    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    deployment: str | None = None
    application: str | None = None
    status: str | None = None
    where: dict[str, str] = field(default_factory=dict)
    limit: int = 100
    endpoint: str | None = None  # chat, completions or embeddings

    def __post_init__(self):
        if self.status is not None and self.status not in STATUSES:
            raise InvalidInput(f"'{self.status}' is not an event status; use one of {', '.join(STATUSES)}.")
        if self.endpoint is not None and self.endpoint not in ENDPOINTS:
            raise InvalidInput(f"'{self.endpoint}' is not an endpoint; use one of {', '.join(ENDPOINTS)}.")
        if not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput(f"The limit must be a whole number from 1 to {MAX_LIMIT:,}, not {self.limit!r}.")
        for key in self.where:
            if not _KEY_RE.match(str(key)):
                raise InvalidInput(f"'{key}' is not a metadata key: use letters, digits, '_', '.' and '-'.")
        if self.since and self.until and as_utc(self.since) >= as_utc(self.until):
            raise InvalidInput("The start of the time window must come before its end.")

    def describe(self) -> str:
        parts = [f"{name} = {getattr(self, name)}" for name in ("model", "deployment", "application", "status",
                                                                "endpoint") if getattr(self, name)]
        parts += [f"metadata {k} = {v}" for k, v in sorted(self.where.items())]
        return ", ".join(parts)


def parse_where(items: list[str] | None) -> dict[str, str]:
    """["segment=claims", "region=EU"] -> {"segment": "claims", "region": "EU"}."""
    where = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"'{item}' is not a metadata filter; write KEY=VALUE, e.g. segment=claims.")
        where[key.strip()] = value.strip()
    return where


def parse_time(value: str | None, what: str) -> datetime | None:
    """ISO dates and times ("2026-11-01", "2026-11-01T12:00", "...Z"); naive ones are UTC."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise InvalidInput(f"{what} '{value}' is not a date or time; write e.g. 2026-11-01 or "
                           "2026-11-01T12:00.") from None
    return as_utc(parsed)


@dataclass(frozen=True)
class EventInfo:
    """One event as read back. `input` and `output` are None for readers who may not see the text."""

    id: int
    event_id: str
    response_id: str | None
    time: datetime
    deployment: str | None
    deployment_version: int | None
    arm: str | None
    model: str
    adapter: str | None
    template_version: str | None
    application: str | None
    user_id: str | None
    input: Any
    output: str | None
    finish_reason: str | None
    latency_s: float | None
    ttft_s: float | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    status: str
    error: str | None
    feedback_score: float | None
    feedback_comment: str | None
    feedback_at: datetime | None
    metadata: dict[str, Any]
    guard_flags: list[dict[str, Any]] | None
    source: str
    endpoint: str | None = None
    text_hidden: bool = False

    @classmethod
    def of(cls, row: InferenceEvent, *, with_text: bool) -> "EventInfo":
        return cls(
            id=row.id, event_id=row.event_id, response_id=row.response_id, time=as_utc(row.time),
            deployment=row.deployment, deployment_version=row.deployment_version, arm=row.arm, model=row.model,
            adapter=row.adapter, template_version=row.template_version, application=row.application,
            user_id=row.user_id, input=row.input if with_text else None, output=row.output if with_text else None,
            finish_reason=row.finish_reason, latency_s=row.latency_s, ttft_s=row.ttft_s, tokens_in=row.tokens_in,
            tokens_out=row.tokens_out, cost=row.cost, status=row.status,
            error=row.error if with_text else None, feedback_score=row.feedback_score,
            feedback_comment=row.feedback_comment if with_text else None,
            feedback_at=as_utc(row.feedback_at) if row.feedback_at else None, metadata=dict(row.meta or {}),
            guard_flags=row.guard_flags if with_text else None, source=row.source, endpoint=row.endpoint,
            text_hidden=not with_text,
        )

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation as chat messages (a completion's prompt as one user message)."""
        if isinstance(self.input, list):
            return [m for m in self.input if isinstance(m, dict)]
        if isinstance(self.input, dict) and "prompt" in self.input:
            return [{"role": "user", "content": str(self.input["prompt"])}]
        return []

    @property
    def prompt(self) -> str | None:
        """The last user message's text, for tables and dataset exports."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                content = message.get("content")
                return content if isinstance(content, str) else None
        return None

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in (
            "event_id", "response_id", "deployment", "deployment_version", "arm", "model", "adapter",
            "template_version", "application", "user_id", "input", "output", "finish_reason", "latency_s", "ttft_s",
            "tokens_in", "tokens_out", "cost", "status", "error", "feedback_score", "feedback_comment", "metadata",
            "guard_flags", "source", "endpoint")}
        data["time"] = self.time.isoformat()
        data["feedback_at"] = self.feedback_at.isoformat() if self.feedback_at else None
        if self.text_hidden:
            data["text_hidden"] = True
        return data


def _may_see_text(actor: Actor) -> bool:
    """Data scientists and admins see everything; viewers see events without text; others see nothing."""
    if actor.can(Permission.VIEW_EVENTS):
        return True
    if actor.can(Permission.VIEW_DASHBOARDS):
        return False
    require(actor, Permission.VIEW_EVENTS)
    return False


def apply_filter(query, filters: EventFilter):
    if filters.since:
        query = query.where(InferenceEvent.time >= as_utc(filters.since))
    if filters.until:
        query = query.where(InferenceEvent.time < as_utc(filters.until))
    for name in ("model", "deployment", "application", "status", "endpoint"):
        value = getattr(filters, name)
        if value:
            query = query.where(getattr(InferenceEvent, name) == value)
    for key, value in filters.where.items():
        query = query.where(InferenceEvent.meta[key].as_string() == str(value))
    return query


def list_events(store: Store, *, actor: Actor, filters: EventFilter = EventFilter()) -> list[EventInfo]:
    """Newest first, at most `filters.limit`."""
    with_text = _may_see_text(actor)
    query = apply_filter(select(InferenceEvent), filters)
    query = query.order_by(col(InferenceEvent.time).desc(), col(InferenceEvent.id).desc()).limit(filters.limit)
    with store.read() as session:
        return [EventInfo.of(row, with_text=with_text) for row in session.exec(query)]


def count_events(store: Store, *, actor: Actor, filters: EventFilter = EventFilter()) -> int:
    _may_see_text(actor)
    query = apply_filter(select(func.count()).select_from(InferenceEvent), filters)
    with store.read() as session:
        return session.exec(query).one()


def get_event(store: Store, *, actor: Actor, event_id: str) -> EventInfo:
    with_text = _may_see_text(actor)
    with store.read() as session:
        row = session.exec(select(InferenceEvent).where(InferenceEvent.event_id == event_id)).first()
    if row is None:
        raise NotFound(f"There is no event '{event_id}'.")
    return EventInfo.of(row, with_text=with_text)


def filter_choices(store: Store, *, actor: Actor) -> dict[str, list[str]]:
    """The models, deployments, applications and metadata keys present, to fill the page's pickers."""
    _may_see_text(actor)
    with store.read() as session:
        choices = {name: sorted(v for v in session.exec(select(getattr(InferenceEvent, name)).distinct()) if v)
                   for name in ("model", "deployment", "application")}
        latest = session.exec(select(InferenceEvent.meta).order_by(col(InferenceEvent.id).desc()).limit(500)).all()
        bounds = session.exec(select(func.min(InferenceEvent.time), func.max(InferenceEvent.time))).one()
    choices["metadata_keys"] = sorted({k for meta in latest if meta for k in meta})
    choices["first"] = [as_utc(bounds[0]).isoformat()] if bounds[0] else []
    choices["last"] = [as_utc(bounds[1]).isoformat()] if bounds[1] else []
    return choices


def window_label(since: datetime | None, until: datetime | None) -> str:
    def show(value: datetime | None, fallback: str) -> str:
        return as_utc(value).strftime("%Y-%m-%d %H:%M") if value else fallback
    return f"from events {show(since, 'the first')} to {show(until, 'now')}"


def utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)
