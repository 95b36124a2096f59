"""The demo monitor: the support bot's first four weeks of traffic as the reference, daily windows after it.

Run once at seed time through the real `run_monitor`, so a fresh `make run` opens on the day-40 shift (topic
mix, prompt length, latency, thumbs-up) and its open alert. Keeps what exists: an existing monitor of that
name is left alone.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from core.errors import Conflict
from core.governance.roles import Actor, Permission, require
from core.monitoring import monitors, runs
from core.storage.db import Store
from core.storage.tables import InferenceEvent

NAME = "support-bot drift"
FIELDS = ["meta.topic", "prompt_chars", "latency_s", "thumbs_up", "error"]
REFERENCE_DAYS = 28
# A day holds ~200 events: Kolmogorov-Smirnov at p < 0.05 (the registry's small-sample test) is steadier on
# windows that small than a distance on the weekday/weekend swing of lengths and latencies.
TESTS = {"prompt_chars": "ks", "latency_s": "ks"}


def seed_monitor(store: Store, *, actor: Actor) -> int | None:
    """Creates and runs the demo monitor over the demo traffic; returns its id (None without demo events)."""
    require(actor, Permission.SEED_DEMO)
    with store.read() as session:
        first = session.exec(select(func.min(InferenceEvent.time)).where(InferenceEvent.source == "demo",
                                                                        InferenceEvent.deployment == "support-bot")
                             ).one()[0]
    if first is None:
        return None
    start = first.date()
    end = start + timedelta(days=REFERENCE_DAYS)
    try:
        info = monitors.create_monitor(
            store, actor=actor, name=NAME, reference=f"events:{start.isoformat()}..{end.isoformat()}",
            fields=FIELDS, deployment="support-bot", window="day", min_windows=2, schedule="daily",
            tests=TESTS,
            description="Daily support-bot traffic against its first four weeks (the demo's reference).")
    except Conflict:
        return monitors.get_monitor(store, actor=actor, ref=NAME).id
    runs.run_monitor(store, actor=actor, monitor_id=info.id)
    return info.id
