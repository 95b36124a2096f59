"""What one event holds, and the checks every path applies before an event is written."""
from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from core.errors import InvalidInput

STATUSES = ("ok", "error", "rate_limited")
SOURCES = ("server", "sdk", "http", "file", "demo")
# The API a call went through; None when the logger did not say (chat or completion: see `input`).
ENDPOINTS = ("chat", "completions", "embeddings")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_event_id() -> str:
    """"evt_" + 24 hex digits: the time in milliseconds, then random. Ids sort roughly by creation time, so the
    unique index on them grows at its end instead of at random places (much faster bulk writes)."""
    return f"evt_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


def new_event_ids(n: int) -> list[str]:
    """`n` ids for one bulk write: the time, 6 random hex digits for the batch, then a sequence number."""
    ids, start = [], time.time_ns() // 1_000_000
    for chunk in range(0, n, 1 << 24):
        prefix = f"evt_{start + chunk // (1 << 24):012x}{secrets.token_hex(3)}"
        ids.extend(f"{prefix}{i:06x}" for i in range(min(1 << 24, n - chunk)))
    return ids


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive time is taken to be UTC already."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@dataclass
class EventIn:
    """One model call to log. Everything but `model` may be left out; `time` defaults to now (UTC).

    `input` is the conversation as chat messages ([{"role", "content"}, ...]) or {"prompt": ...} for a
    completion, or {"input": ...} (the texts as given) for an embedding call; a plain string is taken as one
    user message. `metadata` is free business metadata (segment, region, product, campaign...). `event_id` is
    made when not given. `endpoint` is the API the call went through (chat, completions, embeddings): an
    embedding call has no output, finish reason or output tokens, and readers of answers leave it out.
    """

    model: str | None = None
    input: Any = None
    output: str | None = None
    time: datetime = field(default_factory=utcnow)
    event_id: str | None = None
    response_id: str | None = None
    deployment: str | None = None
    deployment_version: int | None = None
    arm: str | None = None
    adapter: str | None = None
    template_version: str | None = None
    application: str | None = None
    user_id: str | None = None
    finish_reason: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    status: str = "ok"
    error: str | None = None
    feedback_score: float | None = None
    feedback_comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    guard_flags: list[dict[str, Any]] | None = None
    endpoint: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (the journal's line); `from_json` reads it back."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["time"] = as_utc(self.time).isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "EventIn":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["time"] = datetime.fromisoformat(known["time"]) if known.get("time") else utcnow()
        return cls(**known)


def normalise_input(value: Any) -> Any:
    """Chat messages or {"prompt": ...} stay as they are; a plain string becomes one user message."""
    if value is None or isinstance(value, (list, dict)):
        return value
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    raise InvalidInput(f"an input must be chat messages, a {{\"prompt\": ...}} object or text, not {type(value).__name__}")


def check_event(event: EventIn, where: str) -> None:
    """Raises InvalidInput with one sentence naming `where` (e.g. "Event 3") and the field."""
    def bad(message: str) -> InvalidInput:
        return InvalidInput(f"{where}: {message}.")

    if not isinstance(event.model, str) or not event.model.strip():
        raise bad("'model' is required (the model that answered)")
    if len(event.model) > 128:
        raise bad("'model' is longer than 128 characters")
    if event.status not in STATUSES:
        raise bad(f"'status' must be one of {', '.join(STATUSES)}, not {event.status!r}")
    if not isinstance(event.time, datetime):
        raise bad(f"'time' must be a datetime, not {type(event.time).__name__}")
    for name in ("latency_s", "ttft_s", "cost", "feedback_score"):
        value = getattr(event, name)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                  or not math.isfinite(value)):
            raise bad(f"'{name}' must be a number, not {value!r}")
        if value is not None and name != "feedback_score" and value < 0:
            raise bad(f"'{name}' must be zero or more, not {value}")
    for name in ("tokens_in", "tokens_out", "deployment_version"):
        value = getattr(event, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise bad(f"'{name}' must be a whole number of zero or more, not {value!r}")
    if event.endpoint is not None and event.endpoint not in ENDPOINTS:
        raise bad(f"'endpoint' must be one of {', '.join(ENDPOINTS)}, not {event.endpoint!r}")
    if not isinstance(event.metadata or {}, dict):
        raise bad("'metadata' must be an object of names and values")
    for name, limit in (("deployment", 128), ("arm", 32), ("adapter", 128), ("template_version", 200),
                        ("application", 128), ("user_id", 256), ("finish_reason", 32), ("response_id", 128),
                        ("event_id", 40)):
        value = getattr(event, name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise bad(f"'{name}' must be text of at most {limit} characters")
    try:
        json.dumps(event.metadata)
        json.dumps(event.input)
    except (TypeError, ValueError):
        raise bad("'input' and 'metadata' must hold only JSON values (text, numbers, lists, objects)") from None
