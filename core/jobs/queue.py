"""Submitting, reading, cancelling and resuming jobs; every status change goes through `transition`.

queued -> running -> succeeded | failed | cancelled | interrupted
queued -> cancelled;  interrupted | failed | cancelled -> queued (resume)
"""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.governance import audit
from core.governance.roles import Actor, Permission, Role, require
from core.storage.db import Store
from core.storage.run_owners import live_process
from core.storage.tables import Job, utcnow

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED = (
    "queued", "running", "succeeded", "failed", "cancelled", "interrupted")
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)
ACTIVE = (QUEUED, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)
ALLOWED = {
    QUEUED: {RUNNING, CANCELLED, FAILED},
    RUNNING: {SUCCEEDED, FAILED, CANCELLED, INTERRUPTED},
    FAILED: {QUEUED},
    CANCELLED: {QUEUED},
    INTERRUPTED: {QUEUED},
    SUCCEEDED: set(),
}
# A running job on another host whose heartbeat is older than this is taken for dead.
STALE_AFTER = timedelta(minutes=3)


@dataclass(frozen=True)
class JobInfo:
    id: int
    kind: str
    name: str
    status: str
    config: dict[str, Any]
    run_dir: str
    gpus: int
    devices: list[int] | None
    launcher: str
    external_id: str | None
    pid: int | None
    host: str | None
    step: int
    max_steps: int | None
    attempt: int
    resume: bool
    sweep_id: str | None
    metrics: dict[str, Any]
    error: str | None
    note: str | None
    result: dict[str, Any] | None
    adapter_path: str | None
    model: str | None
    created_at: datetime
    created_by: str
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Job) -> "JobInfo":
        return cls(id=row.id, kind=row.kind, name=row.name, status=row.status, config=dict(row.config or {}),
                   run_dir=row.run_dir, gpus=row.gpus, devices=row.devices, launcher=row.launcher,
                   external_id=row.external_id, pid=row.pid,
                   host=row.host, step=row.step, max_steps=row.max_steps, attempt=row.attempt, resume=row.resume,
                   sweep_id=row.sweep_id, metrics=dict(row.metrics or {}), error=row.error,
                   note=row.note, result=dict(row.result) if row.result else None,
                   adapter_path=row.adapter_path, model=row.model, created_at=row.created_at,
                   created_by=row.created_by, started_at=row.started_at, heartbeat_at=row.heartbeat_at,
                   finished_at=row.finished_at)

    @property
    def progress(self) -> float:
        return min(self.step / self.max_steps, 1.0) if self.max_steps else 0.0

    @property
    def log_path(self) -> Path:
        return Path(self.run_dir) / "log.txt"

    @property
    def metrics_path(self) -> Path:
        return Path(self.run_dir) / "metrics.jsonl"

    def to_dict(self) -> dict[str, Any]:
        """What `jobs show --json` prints; pid only while running, adapter and model once it succeeded."""
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "name": self.name, "status": self.status, "step": self.step,
            "max_steps": self.max_steps, "created_by": self.created_by,
            "created_at": self.created_at.isoformat(timespec="seconds"), "attempt": self.attempt,
            "gpus": self.gpus, "devices": self.devices, "run_dir": self.run_dir, "metrics": self.metrics,
            "launcher": self.launcher, "external_id": self.external_id,
            "error": self.error, "sweep_id": self.sweep_id, "config": self.config,
            "note": self.note, "result": self.result, "progress": round(self.progress, 4),
        }
        if self.status == RUNNING:
            out["pid"] = self.pid
        if self.status == SUCCEEDED:
            out["adapter_path"] = self.adapter_path
            out["model"] = self.model
        return out


def _row(session: Session, job_id: int) -> Job:
    row = session.get(Job, int(job_id))
    if row is None:
        raise NotFound(f"There is no job {job_id}.", hint="See the jobs with `workbench jobs list`.")
    return row


def transition(session: Session, row: Job, status: str, *, actor: Actor | None = None, via: str | None = None,
               **changes) -> Job:
    """The one way a job changes state: checks the move is allowed, stamps times, audits it."""
    if status not in ALLOWED[row.status]:
        raise Conflict(f"Job {row.id} is {row.status}; it cannot become {status}.")
    before = row.status
    row.status = status
    now = utcnow()
    if status == RUNNING:
        row.started_at = row.heartbeat_at = now
        row.finished_at = None
        row.error = None
    elif status in FINISHED:
        row.finished_at = now
    elif status == QUEUED:
        row.finished_at, row.pid, row.cancel_requested = None, None, False
    for key, value in changes.items():
        setattr(row, key, value)
    session.add(row)
    session.flush()
    # A process acting for the launcher (the worker starting it, the job reporting its end): the launcher with
    # their role now, and which process it was.
    who = actor or _launcher(session, row).acting_through(via or f"job:{row.id}")
    audit.record(session=session, actor=who, action=f"job.{status}", target_type="job", target_id=row.id,
                 before={"status": before}, after={"status": status, **{k: _jsonable(v) for k, v in changes.items()
                                                                     if k in ("error", "pid", "model", "step")}})
    return row


def _launcher(session: Session, row: Job) -> Actor:
    """Whoever launched the job, with their current role (accounts are disabled, never deleted)."""
    from core.governance.roles import LOCAL_OPERATOR, SYSTEM
    from core.storage.tables import User

    for builtin in (LOCAL_OPERATOR, SYSTEM):
        if row.created_by == builtin.name:
            return builtin
    user = session.exec(select(User).where(User.name == row.created_by)).first()
    if user is None:
        raise NotFound(f"Job {row.id} was launched by '{row.created_by}', who has no account.")
    return Actor(name=user.name, role=Role(user.role), user_id=user.id)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def submit(store: Store, *, actor: Actor, kind: str, name: str, config: dict[str, Any], gpus: int = 0,
           launcher: str = "local", sweep_id: str | None = None) -> JobInfo:
    """Writes the row and the run folder with config.json; the launcher starts it (core/jobs/actions.submit)."""
    from core.jobs.kinds import get_kind

    require(actor, get_kind(kind).permission)
    runs = store.settings.runs_dir
    runs.mkdir(parents=True, exist_ok=True)
    with store.write() as session:
        row = Job(kind=kind, name=name[:200], status=QUEUED, config=config, run_dir="", gpus=gpus,
                  launcher=launcher, sweep_id=sweep_id, created_by=actor.name)
        session.add(row)
        session.flush()
        run_dir = runs / f"job-{row.id:05d}"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        row.run_dir = str(run_dir)
        session.add(row)
        audit.record(session=session, actor=actor, action="job.submit", target_type="job", target_id=row.id,
                     after={"kind": kind, "name": name, "config": config, "gpus": gpus, "launcher": launcher})
        return JobInfo.of(row)


def get_job(store: Store, *, actor: Actor, job_id: int) -> JobInfo:
    _require_view(actor)
    with store.read() as session:
        return JobInfo.of(_row(session, job_id))


def list_jobs(store: Store, *, actor: Actor, status: str | None = None, created_by: str | None = None,
              sweep_id: str | None = None, kind: str | None = None, limit: int = 500) -> list[JobInfo]:
    """Newest first; every user sees everyone's jobs and who launched them (the queue is shared)."""
    _require_view(actor)
    query = select(Job).order_by(col(Job.id).desc()).limit(limit)
    if status:
        if status not in STATUSES:
            raise InvalidInput(f"'{status}' is not a job status; choose one of {', '.join(STATUSES)}.")
        query = query.where(Job.status == status)
    if created_by:
        query = query.where(Job.created_by == created_by)
    if sweep_id:
        query = query.where(Job.sweep_id == sweep_id)
    if kind:
        from core.jobs.kinds import get_kind

        query = query.where(Job.kind == get_kind(kind).name)
    with store.read() as session:
        return [JobInfo.of(r) for r in session.exec(query).all()]


def _require_view(actor: Actor) -> None:
    if not (actor.can(Permission.LAUNCH_JOBS) or actor.can(Permission.RUN_INFERENCE)
            or actor.can(Permission.VIEW_DASHBOARDS)):
        raise PermissionDenied(f"{actor.name} ({actor.role.label}) is not authorised to see jobs.")


def cancel(store: Store, *, actor: Actor, job_id: int, stop=None) -> JobInfo:
    """A queued job is cancelled at once; a running one is marked cancelled and its process group stopped
    (`stop(job)`; core/jobs/actions.cancel passes the job's launcher)."""
    from core.jobs.kinds import get_kind

    with store.write() as session:
        row = _row(session, job_id)
        require(actor, get_kind(row.kind).permission)
        if row.status not in ACTIVE:
            raise Conflict(f"Job {job_id} already {row.status}; only queued or running jobs can be cancelled.")
        row.cancel_requested = True
        was_running = row.status == RUNNING
        snapshot = JobInfo.of(row)
        transition(session, row, CANCELLED, actor=actor, pid=None)
    if stop is None:
        from core.jobs.launcher import launcher_for

        stop = lambda job: launcher_for(job.launcher).stop(store, job)  # noqa: E731 - the job's own launcher
    if was_running or snapshot.launcher != "local":
        stop(snapshot)  # a Ray job is stopped there whether pending or running
    return get_job(store, actor=actor, job_id=job_id)


def resume(store: Store, *, actor: Actor, job_id: int) -> JobInfo:
    """Queues a stopped job again; its process continues from the last complete checkpoint."""
    from core.jobs.kinds import get_kind

    with store.write() as session:
        row = _row(session, job_id)
        kind = get_kind(row.kind)
        require(actor, kind.permission)
        if not kind.resumable:
            raise Conflict(f"Job {job_id} is a {kind.label.lower()}, which cannot be resumed; submit it again.")
        if row.status not in (INTERRUPTED, FAILED, CANCELLED):
            raise Conflict(f"Job {job_id} is {row.status}; only interrupted, failed or cancelled jobs can be resumed.")
        transition(session, row, QUEUED, actor=actor, resume=True, error=None)
        return JobInfo.of(row)


# --- used by the worker and the job process --------------------------------------------------------------

def claim(store: Store, job_id: int, *, pid: int, devices: list[int] | None) -> JobInfo | None:
    """Marks a queued job running with its process; None if someone else took or cancelled it meanwhile."""
    with store.write() as session:
        row = _row(session, job_id)
        if row.status != QUEUED:
            return None
        transition(session, row, RUNNING, via="worker", pid=pid, host=socket.gethostname(), devices=devices,
                   attempt=row.attempt + 1)
        return JobInfo.of(row)


def heartbeat(store: Store, job_id: int, *, step: int | None = None, max_steps: int | None = None,
              metrics: dict[str, Any] | None = None, note: str | None = None) -> bool:
    """Records progress; returns False when the job is no longer running (cancelled), so the process stops."""
    with store.write() as session:
        row = _row(session, job_id)
        if row.status != RUNNING:
            return False
        row.heartbeat_at = utcnow()
        if step is not None:
            row.step = step
        if max_steps is not None:
            row.max_steps = max_steps
        if metrics:
            row.metrics = {**(row.metrics or {}), **metrics}
        if note is not None:
            row.note = note[:200]
        session.add(row)
        return True


def finish(store: Store, job_id: int, status: str, **changes) -> JobInfo | None:
    """The job process reports its end; ignored when the job was cancelled in the meantime."""
    with store.write() as session:
        row = _row(session, job_id)
        if row.status != RUNNING:
            return None
        transition(session, row, status, pid=None, **changes)
        return JobInfo.of(row)


def finish_unstarted(store: Store, job_id: int, error: str) -> None:
    """A job whose launcher refused it is failed at once, not left queued."""
    with store.write() as session:
        row = _row(session, job_id)
        if row.status == QUEUED:
            transition(session, row, FAILED, error=error[:2000])


def process_alive(pid: int | None, job_id: int) -> bool:
    """Whether `pid` is still this job's process (a reused pid running something else does not count)."""
    try:
        process = live_process(pid)
        cmdline = " ".join(process.cmdline()) if process else ""
    except Exception:  # noqa: BLE001 - NoSuchProcess, AccessDenied: not ours to count as alive
        return False
    return f"--job {job_id}" in cmdline or f"--job={job_id}" in cmdline


def reconcile(store: Store) -> list[int]:
    """Marks running jobs whose process is gone as interrupted (at start-up and on every worker tick).

    Looks first and writes only when a job died, so pages can call it on every refresh."""
    host = socket.gethostname()
    now = utcnow()

    def dead(row: Job) -> bool:
        if row.host == host:
            return not process_alive(row.pid, row.id)
        return row.heartbeat_at is None or now - row.heartbeat_at > STALE_AFTER

    with store.read() as session:
        suspects = [r.id for r in session.exec(select(Job).where(Job.status == RUNNING, Job.launcher == "local")).all()
                    if dead(r)]
    lost = []
    if not suspects:
        return lost
    with store.write() as session:
        for row in session.exec(select(Job).where(col(Job.id).in_(suspects), Job.status == RUNNING)).all():
            if dead(row):  # again, under the write lock: it may have finished meanwhile
                transition(session, row, INTERRUPTED, pid=None,
                           error=_lost_message(row.kind))
                lost.append(row.id)
    return lost


def _lost_message(kind: str) -> str:
    from core.jobs.kinds import KINDS

    if kind in KINDS and KINDS[kind].resumable:
        return ("The training process stopped without finishing (killed, or the machine restarted); resume "
                "continues from the last complete checkpoint.")
    return "The job's process stopped without finishing (killed, or the machine restarted); submit it again."


def actor_named(store: Store, name: str) -> Actor:
    """The user `name` with their current role (the CLI's local operator and the workbench itself included)."""
    from core.governance.roles import LOCAL_OPERATOR, SYSTEM
    from core.governance.users import get_user

    for builtin in (LOCAL_OPERATOR, SYSTEM):  # no accounts of their own
        if name == builtin.name:
            return builtin
    return get_user(store, name).as_actor()


def launcher_actor(store: Store, job: JobInfo) -> Actor:
    """The user a job acts as when it registers its adapter: whoever launched it, with their current role, through
    the job's process."""
    return actor_named(store, job.created_by).acting_through(f"job:{job.id}")


def pid_is_self(job: JobInfo) -> bool:
    return job.pid == os.getpid()
