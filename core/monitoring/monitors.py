"""Saved monitors: a reference (dataset version or event range) against daily or weekly windows of events.

A monitor keeps its fields, tests and thresholds (per field; the registry's defaults otherwise), how many
windows in a row must drift before an alert opens (`min_windows`, against flapping) and its schedule. Who
created or deleted it is in the audit log.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from core.errors import Conflict, InvalidInput, NotFound
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.monitoring import drift_tests, fields as fields_mod
from core.monitoring.sources import DatasetSource, EventSource, parse_source
from core.storage.db import Store
from core.storage.tables import Monitor, MonitorResult, MonitorRun

WINDOWS = ("day", "week")
SCHEDULES = ("daily", "weekly", "manual")


@dataclass(frozen=True)
class MonitorInfo:
    id: int
    name: str
    description: str | None
    reference: dict[str, Any]
    current: dict[str, Any]
    fields: list[str]
    tests: dict[str, str]
    thresholds: dict[str, float]
    min_windows: int
    schedule: str
    created_at: datetime
    created_by: str
    last_run_at: datetime | None

    @classmethod
    def of(cls, row: Monitor) -> "MonitorInfo":
        return cls(id=row.id, name=row.name, description=row.description, reference=dict(row.reference),
                   current=dict(row.current), fields=list(row.fields), tests=dict(row.tests or {}),
                   thresholds=dict(row.thresholds or {}), min_windows=row.min_windows, schedule=row.schedule,
                   created_at=row.created_at, created_by=row.created_by, last_run_at=row.last_run_at)

    @property
    def reference_label(self) -> str:
        from core.monitoring.sources import source_from_dict

        return source_from_dict(self.reference).label()

    @property
    def current_label(self) -> str:
        from core.monitoring.sources import source_from_dict

        return f"{self.current.get('window', 'day')}ly windows of " + source_from_dict(self.current).label()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["last_run_at"] = self.last_run_at.isoformat() if self.last_run_at else None
        return data


def proposed_reference(store: Store, *, actor: Actor, deployment: str) -> str | None:
    """The dataset version the deployment's serving model was fine-tuned on, from the adapter's lineage (the
    natural reference for its traffic); None when the model is not a fine-tune made here."""
    from core.models import registry
    from core.storage.tables import Deployment, DeploymentVersion

    require(actor, Permission.VIEW_DASHBOARDS)
    with store.read() as session:
        row = session.exec(select(Deployment).where(Deployment.name == deployment)).first()
        if row is None or row.current_version is None:
            return None
        version = session.exec(select(DeploymentVersion).where(DeploymentVersion.deployment_id == row.id,
                                                               DeploymentVersion.version == row.current_version)).first()
    if version is None or not registry.is_registered(store, version.model):
        return None
    with store.read() as session:
        from core.storage.tables import RegisteredModel

        model = session.exec(select(RegisteredModel).where(RegisteredModel.name == version.model)).first()
    info = dict(model.info or {}) if model else {}
    return info.get("dataset_version")


def create_monitor(store: Store, *, actor: Actor, name: str, reference: str, fields: list[str],
                   window: str = "day", since: str | None = None, until: str | None = None,
                   deployment: str | None = None, application: str | None = None, model: str | None = None,
                   where: dict[str, str] | None = None, tests: dict[str, str] | None = None,
                   thresholds: dict[str, float] | None = None, min_windows: int = 1, schedule: str = "daily",
                   description: str | None = None) -> MonitorInfo:
    """Saves a monitor; `reference` is NAME[@VERSION], events:FROM..TO, or "lineage" (the dataset version the
    deployment's model was fine-tuned on); the current side is always events."""
    require(actor, Permission.MANAGE_MONITORS)
    if reference == "lineage":
        if not deployment:
            raise InvalidInput("A reference taken from the lineage needs --deployment.")
        reference = proposed_reference(store, actor=actor, deployment=deployment) or ""
        if not reference:
            raise InvalidInput(f"The model serving {deployment} was not fine-tuned here, so its lineage names no "
                               "dataset; give the reference as NAME@VERSION or events:FROM..TO.")
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise InvalidInput("A monitor needs a name of 1 to 128 characters.")
    if window not in WINDOWS:
        raise InvalidInput(f"'{window}' is not a window; choose day or week.")
    if schedule not in SCHEDULES:
        raise InvalidInput(f"'{schedule}' is not a schedule; choose {', '.join(SCHEDULES)}.")
    if not isinstance(min_windows, int) or not 1 <= min_windows <= 30:
        raise InvalidInput("The windows in a row before an alert must be a whole number from 1 to 30.")
    ref_source = parse_source(reference)
    current = parse_source(f"events:{since or ''}..{until or ''}", where=where, deployment=deployment,
                           application=application, model=model)
    if not fields:
        raise InvalidInput("Choose at least one field to watch.")
    dataset_kinds = None
    if isinstance(ref_source, DatasetSource):
        from core.monitoring.sources import dataset_columns

        _, dataset_kinds, text = dataset_columns(store, ref_source, actor=actor)
        dataset_kinds = {**dataset_kinds, **{k: "text" for k in text}}
    for field in fields:
        spec = fields_mod.spec(field)
        if dataset_kinds is not None and spec.needs not in ("prompt", "output") and \
                (spec.needs[5:] if spec.needs.startswith("meta.") else spec.needs) not in dataset_kinds:
            raise InvalidInput(f"The reference {reference} has no column for the field '{field}'.")
        if tests and field in tests:
            test = drift_tests.get(tests[field])
            if spec.kind not in test.kinds and not (spec.kind == "numeric" and "categorical" in test.kinds):
                raise InvalidInput(f"The {test.label} test does not apply to {field}, a {spec.kind} field.")
    for field in list(tests or {}) + list(thresholds or {}):
        if field not in fields:
            raise InvalidInput(f"A test or threshold is set for '{field}', which the monitor does not watch.")
    current_dict = {**current.to_dict(), "window": window}
    with store.write() as session:
        if session.exec(select(Monitor).where(Monitor.name == name)).first():
            raise Conflict(f"A monitor named '{name}' already exists.")
        row = Monitor(name=name, description=description, reference=ref_source.to_dict(), current=current_dict,
                      fields=list(fields), tests=dict(tests or {}),
                      thresholds={k: float(v) for k, v in (thresholds or {}).items()}, min_windows=min_windows,
                      schedule=schedule, created_by=actor.name)
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="monitor.create", target_type="monitor",
                     target_id=row.id, after={"name": name, "reference": ref_source.label(),
                                              "current": current.label(), "window": window, "fields": list(fields)})
        return MonitorInfo.of(row)


def list_monitors(store: Store, *, actor: Actor) -> list[MonitorInfo]:
    require(actor, Permission.VIEW_DASHBOARDS)
    with store.read() as session:
        return [MonitorInfo.of(r) for r in session.exec(select(Monitor).order_by(col(Monitor.name)))]


def get_monitor(store: Store, *, actor: Actor, ref: str | int) -> MonitorInfo:
    """By name or id."""
    require(actor, Permission.VIEW_DASHBOARDS)
    with store.read() as session:
        return MonitorInfo.of(_find(session, ref))


def _find(session, ref: str | int) -> Monitor:
    row = None
    if isinstance(ref, int) or str(ref).isdigit():
        row = session.get(Monitor, int(ref))
    if row is None:
        row = session.exec(select(Monitor).where(Monitor.name == str(ref))).first()
    if row is None:
        raise NotFound(f"There is no monitor '{ref}'.", hint="`workbench monitor list` shows them.")
    return row


def delete_monitor(store: Store, *, actor: Actor, ref: str | int) -> MonitorInfo:
    """Deletes the monitor with its runs and results; its alerts stay in the alert list."""
    require(actor, Permission.MANAGE_MONITORS)
    with store.write() as session:
        row = _find(session, ref)
        info = MonitorInfo.of(row)
        run_ids = select(MonitorRun.id).where(MonitorRun.monitor_id == row.id)
        session.exec(delete(MonitorResult).where(col(MonitorResult.run_id).in_(run_ids)))
        session.exec(delete(MonitorRun).where(MonitorRun.monitor_id == row.id))
        session.delete(row)
        audit.record(session=session, actor=actor, action="monitor.delete", target_type="monitor", target_id=info.id,
                     before={"name": info.name, "fields": info.fields})
        return info


def window_source(info: MonitorInfo) -> EventSource:
    from core.monitoring.sources import source_from_dict

    return source_from_dict(info.current)
