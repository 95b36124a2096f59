"""Running a monitor: the reference summarised once, then each daily or weekly window of events against it.

`run_monitor` reads only the needed columns of one window at a time, in chunks (core/monitoring/sources.py),
into bounded summaries (core/monitoring/sketches.py), so memory does not grow with the number of events.
Results are kept per window and field; when a field has drifted in the last `min_windows` windows in a row,
an alert for the monitor opens (or the open one is raised again).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from core.errors import InvalidInput, NotFound
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.monitoring import alerts, drift, fields as fields_mod, summary
from core.monitoring.monitors import MonitorInfo, get_monitor, window_source
from core.monitoring.sources import DatasetSource, EventSource, dataset_columns, source_from_dict
from core.storage.db import Store
from core.storage.tables import InferenceEvent, Monitor, MonitorResult, MonitorRun, utcnow

Progress = Callable[[int, int, str], None]
MAX_WINDOWS = 400


@dataclass(frozen=True)
class RunInfo:
    id: int
    monitor_id: int
    status: str
    windows: int
    drifted_fields: list[str]
    summary: str | None
    error: str | None
    created_by: str
    started_at: datetime
    finished_at: datetime | None
    alert_id: int | None = None

    @classmethod
    def of(cls, row: MonitorRun, alert_id: int | None = None) -> "RunInfo":
        return cls(id=row.id, monitor_id=row.monitor_id, status=row.status, windows=row.windows,
                   drifted_fields=list(row.drifted_fields or []), summary=row.summary, error=row.error,
                   created_by=row.created_by, started_at=row.started_at, finished_at=row.finished_at,
                   alert_id=alert_id)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def windows_of(store: Store, info: MonitorInfo, *, now: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """Day or week windows (UTC midnight; weeks start on Monday) from the current side's start to its end."""
    current = window_source(info)
    start, end = current.since, current.until
    if start is None or end is None:
        query = select(func.min(InferenceEvent.time), func.max(InferenceEvent.time))
        from core.events.query import EventFilter, apply_filter

        query = apply_filter(query, EventFilter(since=current.since, until=current.until,
                                                deployment=current.deployment, application=current.application,
                                                model=current.model, where=current.where))
        with store.read() as session:
            first, last = session.exec(query).one()
        if first is None:
            return []
        start = start or _utc(first)
        end = end or (_utc(last) + timedelta(microseconds=1))
        reference = source_from_dict(info.reference)
        if current.since is None and isinstance(reference, EventSource) and reference.until:
            start = max(start, reference.until)
    step = timedelta(days=7 if info.current.get("window") == "week" else 1)
    cursor = _utc(start).replace(hour=0, minute=0, second=0, microsecond=0)
    if step.days == 7:
        cursor -= timedelta(days=cursor.weekday())
    windows = []
    while cursor < end:
        windows.append((max(cursor, _utc(start)), min(cursor + step, _utc(end))))
        cursor += step
    return windows[-MAX_WINDOWS:]


def run_monitor(store: Store, *, actor: Actor, monitor_id: int, progress: Progress | None = None,
                job_id: int | None = None, encoder=None) -> RunInfo:
    """Runs every window of the monitor against its reference, stores the results, and alerts when due."""
    require(actor, Permission.MANAGE_MONITORS)
    info = get_monitor(store, actor=actor, ref=monitor_id)
    with store.write() as session:
        run = MonitorRun(monitor_id=info.id, status="running", created_by=actor.name, job_id=job_id)
        session.add(run)
        session.flush()
        audit.record(session=session, actor=actor, action="monitor.run", target_type="monitor", target_id=info.id,
                     after={"run": run.id})
        run_id = run.id
    try:
        result = _run(store, info, run_id, actor=actor, progress=progress, encoder=encoder)
    except BaseException as exc:
        with store.write() as session:
            row = session.get(MonitorRun, run_id)
            row.status = "failed"
            row.error = (getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")[:2000]
            row.finished_at = utcnow()
            session.add(row)
        raise
    return result


def _run(store: Store, info: MonitorInfo, run_id: int, *, actor: Actor, progress, encoder) -> RunInfo:
    reference = source_from_dict(info.reference)
    kinds = None
    if isinstance(reference, DatasetSource):
        _, kinds, _ = dataset_columns(store, reference, actor=actor)
    specs = [fields_mod.spec(name, dataset_columns=kinds) for name in info.fields]
    windows = windows_of(store, info)
    total = len(windows) + 1
    if progress:
        progress(0, total, f"reading the reference {reference.label()}")
    ref = drift.summarise(store, reference, specs, actor=actor, seed=0)
    if ref.rows == 0:
        raise InvalidInput(f"The reference {reference.label()} has no rows.")
    current = window_source(info)
    per_window: list[tuple[datetime, datetime, list[drift.FieldResult]]] = []
    for number, (start, end) in enumerate(windows, start=1):
        if progress:
            progress(number, total, f"window {start:%Y-%m-%d}")
        side = drift.summarise(store, current.window(start, end), specs, actor=actor, seed=number)
        if side.rows == 0:
            continue
        results = drift.compare(store, ref, side, specs, tests=info.tests, thresholds=info.thresholds,
                                encoder=encoder)
        per_window.append((start, end, results))
        with store.write() as session:
            for r in results:
                session.add(MonitorResult(run_id=run_id, window_start=start, window_end=end, field=r.field,
                                          kind=r.kind, test=r.test, statistic=r.statistic, p_value=r.p_value,
                                          threshold=r.threshold, drift_detected=r.drift_detected,
                                          reference_size=r.reference_size, current_size=r.current_size,
                                          details={**r.details, "change": r.change, "sentence": r.sentence}))
    streaks = drift_streaks(per_window)
    alerting = [field for field, (length, _) in streaks.items() if length >= info.min_windows]
    latest = {r.field: r for r in per_window[-1][2]} if per_window else {}
    since = min((streaks[f][1] for f in alerting), default=None)
    phrases = [latest[f].change for f in alerting if f in latest]
    sentence = summary.summary_sentence(f"{since:%d %b}" if since else None, phrases,
                                        fields_tested=len(latest))
    if not per_window:
        sentence = "No events in the monitor's windows yet."
    alert_id = None
    if alerting:
        alert = alerts.open_alert(
            store, kind="drift", source=f"monitor:{info.id}", title=f"Drift on monitor {info.name}",
            message=sentence, severity="critical" if len(alerting) * 2 >= max(len(latest), 1) else "warning",
            details={"monitor": info.name, "run_id": run_id, "fields": alerting,
                     "windows_in_a_row": {f: streaks[f][0] for f in alerting}})
        alert_id = alert.id
    with store.write() as session:
        row = session.get(MonitorRun, run_id)
        row.status = "succeeded"
        row.windows = len(per_window)
        row.drifted_fields = alerting
        row.summary = sentence
        row.finished_at = utcnow()
        session.add(row)
        monitor = session.get(Monitor, info.id)
        monitor.last_run_at = row.finished_at
        session.add(monitor)
        session.flush()
        return RunInfo.of(row, alert_id=alert_id)


def drift_streaks(per_window) -> dict[str, tuple[int, datetime]]:
    """For each field drifting in the latest window: how many windows in a row it has drifted, and since when."""
    if not per_window:
        return {}
    streaks: dict[str, tuple[int, datetime]] = {}
    for field in [r.field for r in per_window[-1][2] if r.drift_detected]:
        length, since = 0, per_window[-1][0]
        for start, _, results in reversed(per_window):
            hit = next((r for r in results if r.field == field), None)
            if hit is None or not hit.drift_detected:
                break
            length, since = length + 1, start
        streaks[field] = (length, since)
    return streaks


# --- reading results (viewers too: without prompt text) ---


@dataclass(frozen=True)
class TimelinePoint:
    window_start: datetime
    window_end: datetime
    field: str
    kind: str
    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drift_detected: bool
    reference_size: int
    current_size: int
    details: dict[str, Any]


def latest_run(store: Store, *, actor: Actor, monitor_id: int) -> RunInfo | None:
    require(actor, Permission.VIEW_DASHBOARDS)
    with store.read() as session:
        row = session.exec(select(MonitorRun).where(MonitorRun.monitor_id == monitor_id)
                           .order_by(col(MonitorRun.id).desc())).first()
        return RunInfo.of(row) if row else None


def list_runs(store: Store, *, actor: Actor, monitor_id: int, limit: int = 20) -> list[RunInfo]:
    require(actor, Permission.VIEW_DASHBOARDS)
    with store.read() as session:
        rows = session.exec(select(MonitorRun).where(MonitorRun.monitor_id == monitor_id)
                            .order_by(col(MonitorRun.id).desc()).limit(limit))
        return [RunInfo.of(r) for r in rows]


def timeline(store: Store, *, actor: Actor, monitor_id: int, run_id: int | None = None) -> list[TimelinePoint]:
    """Every window's result per field of a run (the latest successful one by default), oldest first.

    Prompt and output text (novel prompts, words that grew) is left out unless the actor may see event text.
    """
    require(actor, Permission.VIEW_DASHBOARDS)
    with_text = actor.can(Permission.VIEW_EVENTS)
    with store.read() as session:
        if run_id is None:
            run_id = session.exec(select(MonitorRun.id).where(MonitorRun.monitor_id == monitor_id,
                                                               MonitorRun.status == "succeeded")
                                  .order_by(col(MonitorRun.id).desc())).first()
            if run_id is None:
                return []
        else:
            run = session.get(MonitorRun, run_id)
            if run is None or run.monitor_id != monitor_id:
                raise NotFound(f"Monitor {monitor_id} has no run {run_id}.")
        rows = session.exec(select(MonitorResult).where(MonitorResult.run_id == run_id)
                            .order_by(col(MonitorResult.window_start), col(MonitorResult.id)))
        return [TimelinePoint(window_start=_utc(r.window_start), window_end=_utc(r.window_end), field=r.field,
                              kind=r.kind, test=r.test, statistic=r.statistic, p_value=r.p_value,
                              threshold=r.threshold, drift_detected=r.drift_detected,
                              reference_size=r.reference_size, current_size=r.current_size,
                              details=dict(r.details or {}) if with_text else drift.without_text(r.details or {}))
                for r in rows]
