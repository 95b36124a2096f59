"""Filtered events as a dataset version: how production traffic reaches profiling, annotation and fine-tuning."""
from __future__ import annotations

import dataclasses
import json

import pandas as pd

from core.data import versions
from core.events.query import EventFilter, list_events, window_label
from core.errors import InvalidInput
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store

_COLUMNS = ("event_id", "time", "model", "deployment", "deployment_version", "arm", "adapter", "template_version",
            "application", "user_id", "prompt", "output", "messages", "status", "error", "finish_reason",
            "latency_s", "ttft_s", "tokens_in", "tokens_out", "cost", "feedback_score", "feedback_comment")


def events_frame(events) -> pd.DataFrame:
    """One row per event: its fields, the last user message as `prompt`, the conversation as JSON `messages`,
    and each metadata key as a column of its own (prefixed `metadata.` where it would clash)."""
    records = []
    for event in events:
        record = {name: getattr(event, name, None) for name in _COLUMNS if name not in ("prompt", "messages", "time")}
        record["time"] = pd.Timestamp(event.time)
        record["prompt"] = event.prompt
        record["messages"] = json.dumps(event.messages, ensure_ascii=False)
        for key, value in event.metadata.items():
            column = key if key not in _COLUMNS else f"metadata.{key}"
            record[column] = value if isinstance(value, (str, int, float, bool)) or value is None else json.dumps(value)
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    ordered = [c for c in _COLUMNS if c in frame.columns] + sorted(c for c in frame.columns if c not in _COLUMNS)
    return frame[ordered]


def export_events(store: Store, *, actor: Actor, filters: EventFilter, name: str,
                  description: str | None = None) -> versions.VersionInfo:
    """Saves the events matching `filters` (newest `filters.limit`) as the next version of dataset `name`.

    The version's source reads "from events <since> to <until>" (the window asked for, or the events' own first
    and last times) with the other filters; its params hold the filter, so the export can be repeated.
    """
    require(actor, Permission.VIEW_EVENTS)
    require(actor, Permission.MANAGE_DATA)
    events = list_events(store, actor=actor, filters=filters)
    if not events:
        raise InvalidInput("No event matches these filters; nothing to export.")
    since = filters.since or min(e.time for e in events)
    until = filters.until or max(e.time for e in events)
    source = window_label(since, until)
    if filters.describe():
        source += f" ({filters.describe()})"
    params = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
              for k, v in dataclasses.asdict(filters).items() if v not in (None, {}, [])}
    info, _ = versions.save_version(
        store, actor=actor, name=name, frame=events_frame(events), transformation="import", source=source,
        params={"from": "events", **params}, stats={"events": len(events)},
        description=description or "Inference events exported from the event log.")
    return info
