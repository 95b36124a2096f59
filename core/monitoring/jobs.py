"""Monitor runs as jobs of the `monitor` kind: the page submits, a job process runs `run_monitor`.

`submit_monitor_run` checks the monitor exists and the user may run it, then queues a job whose config names
the monitor; the job process (`run_job`, registered in core/jobs/kinds.py) runs the same `run_monitor` as the
CLI's in-process `workbench monitor run`, reporting each window as the job's progress (cancelling stops it at
the next window). `due_monitors` lists the monitors whose schedule says a run is due.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from core.governance.roles import Actor, Permission, require
from core.monitoring import monitors, runs
from core.storage.db import Store

KIND = "monitor"
_PERIOD = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def submit_monitor_run(store: Store, *, actor: Actor, monitor: str | int, launcher: str | None = None):
    from core.jobs import actions

    require(actor, Permission.MANAGE_MONITORS)
    info = monitors.get_monitor(store, actor=actor, ref=monitor)
    return actions.submit(store, actor=actor, kind=KIND, name=f"Monitor {info.name}"[:200],
                          config={"monitor_id": info.id}, launcher=launcher)


def run_job(store: Store, job, progress) -> dict[str, Any]:
    """The `monitor` kind's function, inside the job process: the run as whoever submitted it."""
    from core.jobs import queue

    actor = queue.launcher_actor(store, job)
    run = runs.run_monitor(store, actor=actor, monitor_id=int(job.config["monitor_id"]), progress=progress,
                           job_id=job.id)
    return {"monitor_run": run.id, "windows": run.windows, "alert": run.alert_id}


def due_monitors(store: Store, *, actor: Actor, now: datetime | None = None) -> list[monitors.MonitorInfo]:
    """Monitors on a daily or weekly schedule whose last run is older than their period (or that never ran)."""
    now = now or datetime.now(timezone.utc)
    due = []
    for info in monitors.list_monitors(store, actor=actor):
        period = _PERIOD.get(info.schedule)
        if period is None:
            continue
        last = info.last_run_at
        if last is None or now - (last if last.tzinfo else last.replace(tzinfo=timezone.utc)) >= period:
            due.append(info)
    return due


_last_check: list[float] = []
CHECK_EVERY_S = 60.0


def queue_due_runs(store: Store) -> list[int]:
    """Called by the worker on each pass: queues a run for each due monitor that has none queued or running,
    as the monitor's creator. Looks at most once a minute; returns the jobs queued."""
    import time

    from core.governance.roles import SYSTEM
    from core.jobs import queue

    if _last_check and time.monotonic() - _last_check[0] < CHECK_EVERY_S:
        return []
    _last_check[:] = [time.monotonic()]
    queued = []
    active = {int(j.config.get("monitor_id", 0)) for status in (queue.QUEUED, queue.RUNNING)
              for j in queue.list_jobs(store, actor=SYSTEM, kind=KIND, status=status, limit=1000)}
    for info in due_monitors(store, actor=SYSTEM):
        if info.id in active:
            continue
        try:
            owner = queue.actor_named(store, info.created_by)
        except Exception:
            owner = SYSTEM
        if not owner.can(Permission.MANAGE_MONITORS):
            continue
        queued.append(queue.submit(store, actor=owner, kind=KIND, name=f"Monitor {info.name} (scheduled)"[:200],
                                   config={"monitor_id": info.id}, launcher="local").id)
    return queued
