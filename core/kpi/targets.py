"""KPI targets: "p95 latency at most 2 s over 24 h", optionally per segment and deployment; audited changes.

A target is a KPI, a comparison (at most / at least), a threshold and a rolling window ending now; the same shape
covers a rolling-window rule such as "cost per end user over 24 h at most $0.50". `target_statuses` says whether
each target is met, with its value and since when that status holds (from the KPI's daily values, walking back
while each day has the same status). `check_targets` raises a "kpi" alert for every failing target through the
shared alert list (core.monitoring.alerts), one open alert per target.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlmodel import select

from core.errors import InvalidInput, NotFound
from core.governance import audit
from core.governance.roles import Actor, Permission, Role, require
from core.kpi import query, registry
from core.kpi.query import KpiFilter
from core.storage.db import Store
from core.storage.tables import KpiTarget, utcnow

COMPARISONS = {"at_most": "≤", "at_least": "≥"}
SEVERITIES = ("warning", "critical")
LOOKBACK_DAYS = 90  # how far back "since when" looks
# Evaluation reads aggregates on behalf of a caller already checked by `target_statuses`.
_READER = Actor(name="kpi-targets", role=Role.VIEWER)


@dataclass(frozen=True)
class TargetInfo:
    id: int
    kpi: str
    comparison: str
    threshold: float
    scope: dict[str, str]
    deployment: str | None
    window_hours: int
    severity: str
    note: str | None
    active: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, row: KpiTarget) -> "TargetInfo":
        return cls(id=row.id, kpi=row.kpi, comparison=row.comparison, threshold=row.threshold,
                   scope=dict(row.scope or {}), deployment=row.deployment, window_hours=row.window_hours,
                   severity=row.severity, note=row.note, active=row.active, created_at=row.created_at,
                   created_by=row.created_by, updated_at=row.updated_at, updated_by=row.updated_by)

    @property
    def label(self) -> str:
        return registry.KPIS[self.kpi].label if self.kpi in registry.KPIS else self.kpi

    @property
    def where(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.scope.items())]
        if self.deployment:
            parts.insert(0, f"deployment={self.deployment}")
        return ", ".join(parts) or "all traffic"

    def describe(self) -> str:
        return (f"{self.label} {COMPARISONS[self.comparison]} {self.threshold:g} over {self.window_hours} h "
                f"({self.where})")

    def meets(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value <= self.threshold if self.comparison == "at_most" else value >= self.threshold

    def filters(self, *, since: datetime | None = None, until: datetime | None = None) -> KpiFilter:
        return KpiFilter(since=since, until=until, deployment=self.deployment, where=dict(self.scope))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label, "description": self.describe()}


@dataclass(frozen=True)
class TargetStatus:
    target: TargetInfo
    value: float | None
    status: str  # met, failing, no data
    since: datetime | None  # since when that status holds (start of the first day of the streak)
    window_start: datetime
    window_end: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target.to_dict(), "value": self.value, "status": self.status,
                "since": self.since.isoformat() if self.since else None,
                "window_start": self.window_start.isoformat(), "window_end": self.window_end.isoformat()}


def _check(kpi: str, comparison: str, threshold, scope, window_hours: int, severity: str) -> dict[str, str]:
    registry.get_kpi(kpi)
    if comparison not in COMPARISONS:
        raise InvalidInput(f"'{comparison}' is not a comparison; choose at_most or at_least.")
    if not isinstance(threshold, (int, float)) or threshold != threshold:
        raise InvalidInput("The target's threshold must be a number.")
    if not isinstance(window_hours, int) or not 1 <= window_hours <= 24 * 90:
        raise InvalidInput("The window must be a whole number of hours between 1 and 2160 (90 days).")
    if severity not in SEVERITIES:
        raise InvalidInput(f"'{severity}' is not a severity; choose warning or critical.")
    scope = {str(k).strip(): str(v).strip() for k, v in (scope or {}).items()}
    for key in scope:
        query.field_expression(key)  # refuses names that are not fields
    return scope


def set_target(store: Store, *, actor: Actor, kpi: str, comparison: str, threshold: float,
               scope: dict[str, str] | None = None, deployment: str | None = None, window_hours: int = 24,
               severity: str = "warning", note: str | None = None) -> TargetInfo:
    """Creates the target for (KPI, scope, deployment), or changes the one that exists; audited either way."""
    require(actor, Permission.MANAGE_KPI_TARGETS)
    scope = _check(kpi, comparison, threshold, scope, window_hours, severity)
    deployment = (deployment or "").strip() or None
    with store.write() as session:
        existing = [t for t in session.exec(select(KpiTarget).where(KpiTarget.kpi == kpi, KpiTarget.active))
                    if (t.scope or {}) == scope and t.deployment == deployment]
        values = dict(comparison=comparison, threshold=float(threshold), window_hours=window_hours,
                      severity=severity, note=note)
        if existing:
            row = existing[0]
            before = {k: getattr(row, k) for k in values}
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at, row.updated_by = utcnow(), actor.name
            action = "kpi_target.update"
        else:
            row = KpiTarget(kpi=kpi, scope=scope, deployment=deployment, created_by=actor.name,
                            updated_by=actor.name, **values)
            before = None
            action = "kpi_target.create"
        session.add(row)
        session.flush()
        info = TargetInfo.of(row)
        audit.record(session=session, actor=actor, action=action, target_type="kpi_target", target_id=row.id,
                     before=before, after={**values, "kpi": kpi, "scope": scope, "deployment": deployment},
                     detail=info.describe())
    return info


def remove_target(store: Store, *, actor: Actor, target_id: int) -> TargetInfo:
    """Retires a target (kept for the audit trail); its open alert stays until someone resolves it."""
    require(actor, Permission.MANAGE_KPI_TARGETS)
    with store.write() as session:
        row = session.get(KpiTarget, target_id)
        if row is None or not row.active:
            raise NotFound(f"There is no KPI target {target_id}.")
        row.active, row.updated_at, row.updated_by = False, utcnow(), actor.name
        session.add(row)
        info = TargetInfo.of(row)
        audit.record(session=session, actor=actor, action="kpi_target.remove", target_type="kpi_target",
                     target_id=target_id, before={"active": True}, after={"active": False}, detail=info.describe())
    return info


def list_targets(store: Store, *, actor: Actor) -> list[TargetInfo]:
    require(actor, Permission.VIEW_DASHBOARDS)
    with store.read() as session:
        rows = session.exec(select(KpiTarget).where(KpiTarget.active).order_by(KpiTarget.id)).all()
    return [TargetInfo.of(r) for r in rows]


def _status(met: bool | None) -> str:
    return "no data" if met is None else ("met" if met else "failing")


def evaluate(store: Store, *, target: TargetInfo, now: datetime) -> TargetStatus:
    start = now - timedelta(hours=target.window_hours)
    report = query.compute_kpis(store, actor=_READER, filters=target.filters(since=start, until=now),
                                kpis=[target.kpi])
    value = report.overall[target.kpi]
    status = _status(target.meets(value))
    since = None
    if status != "no data":
        first_day = (now - timedelta(days=LOOKBACK_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
        # Whole days (today included), so the hourly rollups can answer instead of a scan of 90 days of events.
        end_of_today = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        daily = query.compute_kpis(store, actor=_READER, filters=target.filters(since=first_day, until=end_of_today),
                                   every="day", kpis=[target.kpi]).series
        for entry in reversed(daily):
            day_status = _status(target.meets(entry["kpis"][target.kpi]))
            if day_status == "no data":
                continue
            if day_status != status:
                break
            since = datetime.fromisoformat(entry["period"]).replace(tzinfo=timezone.utc)
        since = since or start
    return TargetStatus(target=target, value=value, status=status, since=since, window_start=start, window_end=now)


def target_statuses(store: Store, *, actor: Actor, now: datetime | None = None) -> list[TargetStatus]:
    """Every active target against its rolling window ending `now` (default: the current time)."""
    require(actor, Permission.VIEW_DASHBOARDS)
    now = now or datetime.now(timezone.utc)
    return [evaluate(store, target=t, now=now) for t in list_targets(store, actor=actor)]


def check_targets(store: Store, *, actor: Actor, now: datetime | None = None) -> list[TargetStatus]:
    """Evaluates every target and raises a "kpi" alert (one open per target) for each failing one."""
    from core.monitoring import alerts

    statuses = target_statuses(store, actor=actor, now=now)
    for status in statuses:
        if status.status != "failing":
            continue
        target = status.target
        since = f"since {status.since:%Y-%m-%d}" if status.since else ""
        alerts.open_alert(
            store, kind="kpi", source=f"kpi_target:{target.id}", severity=target.severity,
            title=f"KPI target failing: {target.label} ({target.where})"[:200],
            message=(f"{target.label} is {status.value:.4g} over the last {target.window_hours} h "
                     f"({status.window_start:%Y-%m-%d %H:%M}–{status.window_end:%Y-%m-%d %H:%M} UTC); the target is "
                     f"{COMPARISONS[target.comparison]} {target.threshold:g}, failing {since}.").strip(),
            details={"target_id": target.id, "kpi": target.kpi, "value": status.value,
                     "threshold": target.threshold, "comparison": target.comparison, "scope": target.scope,
                     "deployment": target.deployment, "window_hours": target.window_hours,
                     "since": status.since.isoformat() if status.since else None},
        )
    return statuses
