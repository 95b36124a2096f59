"""The job actions the pages and the CLI both call, for every kind and every launcher.

submit -> the row, the run folder and the launcher's start; cancel / resume / logs go to the job's own launcher;
refresh reconciles every launcher (a process that died becomes interrupted); progress is the one reading of a
job's figures that the jobs table, the live panel and `workbench jobs show` share; can_cancel / can_resume come
from the transition table (queue.ALLOWED) and the kind.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.governance.roles import Actor
from core.jobs import queue
from core.jobs.kinds import get_kind
from core.jobs.launcher import launcher_for
from core.storage.db import Store
from core.storage.tables import utcnow


def default_launcher(store: Store) -> str:
    """"ray" when the settings name a Ray cluster, else "local"."""
    return "ray" if store.settings.ray_address else "local"


def submit(store: Store, *, actor: Actor, kind: str, name: str, config: dict[str, Any], gpus: int = 0,
           launcher: str | None = None, sweep_id: str | None = None) -> queue.JobInfo:
    """Queues a job of `kind` and hands it to its launcher; a launcher that refuses it fails it at once."""
    chosen = launcher or default_launcher(store)
    runner = launcher_for(chosen)
    if chosen == "ray":
        from core.jobs import ray_launcher

        ray_launcher.check_address(store.settings.ray_address, store.settings.ray_token)
    job = queue.submit(store, actor=actor, kind=get_kind(kind).name, name=name, config=config, gpus=gpus,
                       launcher=chosen, sweep_id=sweep_id)
    try:
        runner.start(store, job)
    except Exception as exc:
        queue.finish_unstarted(store, job.id, str(exc))
        raise
    return queue.get_job(store, actor=actor, job_id=job.id)


def refresh(store: Store) -> list[int]:
    """Marks jobs whose process is gone (locally or on the Ray cluster) as interrupted; returns their ids. Reads
    first and writes only when a job died, so a page can call it on every refresh."""
    lost = launcher_for("local").reconcile(store)
    lost += launcher_for("ray").reconcile(store)
    return lost


def get(store: Store, *, actor: Actor, job_id: int) -> queue.JobInfo:
    refresh(store)
    return queue.get_job(store, actor=actor, job_id=job_id)


def list_jobs(store: Store, *, actor: Actor, kind: str | None = None, status: str | None = None,
              created_by: str | None = None, limit: int = 500) -> list[queue.JobInfo]:
    """Jobs of every kind (or one), newest first, after a refresh."""
    refresh(store)
    return queue.list_jobs(store, actor=actor, kind=kind, status=status, created_by=created_by, limit=limit)


def active_job(store: Store, *, actor: Actor, kind: str) -> queue.JobInfo | None:
    """This user's newest job of `kind` still running or queued: a page follows it instead of starting a second."""
    for status in (queue.RUNNING, queue.QUEUED):
        found = queue.list_jobs(store, actor=actor, kind=kind, status=status, created_by=actor.name, limit=1)
        if found:
            return found[0]
    return None


def cancel(store: Store, *, actor: Actor, job_id: int) -> queue.JobInfo:
    """Cancels a queued or running job of any kind; its launcher stops the process."""
    job = queue.get_job(store, actor=actor, job_id=job_id)
    runner = launcher_for(job.launcher)
    return queue.cancel(store, actor=actor, job_id=job_id, stop=lambda snapshot: runner.stop(store, snapshot))


def resume(store: Store, *, actor: Actor, job_id: int) -> queue.JobInfo:
    """Queues a stopped job of a resumable kind again where it ran (local worker, Ray cluster, in process)."""
    refresh(store)
    job = queue.resume(store, actor=actor, job_id=job_id)
    launcher_for(job.launcher).start(store, job)
    return queue.get_job(store, actor=actor, job_id=job_id)


def logs(store: Store, *, actor: Actor, job_id: int, tail: int | None = None) -> str:
    """The job's output (its log file, or Ray's logs); `tail` keeps the last N lines."""
    job = queue.get_job(store, actor=actor, job_id=job_id)
    text = launcher_for(job.launcher).logs(store, job)
    if tail:
        return "\n".join(text.splitlines()[-tail:])
    return text


def wait(store: Store, *, actor: Actor, job_id: int, timeout_s: float | None = None, poll_s: float = 1.0,
         on_update: Callable[[queue.JobInfo], None] | None = None) -> queue.JobInfo:
    """Returns when the job has finished (or `timeout_s` passed); `on_update(job)` sees each poll."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        job = get(store, actor=actor, job_id=job_id)
        if on_update:
            on_update(job)
        if job.status in queue.FINISHED or (deadline is not None and time.monotonic() > deadline):
            return job
        if job.status == queue.QUEUED and job.launcher == "local":
            launcher_for("local").start(store, job)  # a worker that exited meanwhile is started again
        time.sleep(poll_s)


def can_cancel(job: queue.JobInfo) -> bool:
    return queue.CANCELLED in queue.ALLOWED[job.status]


def can_resume(job: queue.JobInfo) -> bool:
    return get_kind(job.kind).resumable and queue.QUEUED in queue.ALLOWED[job.status]


def allowed_actions(job: queue.JobInfo, actor: Actor) -> list[str]:
    """What `actor` may do with `job` now: some of "cancel", "resume"."""
    if not actor.can(get_kind(job.kind).permission):
        return []
    return [name for name, ok in (("cancel", can_cancel(job)), ("resume", can_resume(job))) if ok]


@dataclass(frozen=True)
class JobProgress:
    """How far a job is: the one reading the jobs table, the live panel and the CLI all show."""

    done: int
    total: int | None
    fraction: float  # 0..1; 1 once succeeded
    note: str | None
    seconds_per_step: float | None
    eta_s: float | None  # seconds left at the rate so far; None when unknown

    @property
    def text(self) -> str:
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        return f"{count} · {self.note}" if self.note else count

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "total": self.total, "fraction": round(self.fraction, 4), "note": self.note,
                "seconds_per_step": self.seconds_per_step, "eta_s": self.eta_s}


def progress(job: queue.JobInfo, *, now: datetime | None = None) -> JobProgress:
    """Steps (or cells, rows) done of the total, from the job row the process updates on each heartbeat."""
    fraction = 1.0 if job.status == queue.SUCCEEDED else job.progress
    per_step = eta = None
    if job.started_at and job.step > 0:
        end = job.finished_at or job.heartbeat_at or now or utcnow()
        elapsed = (end - job.started_at).total_seconds()
        if elapsed > 0:
            per_step = elapsed / job.step
            if job.status == queue.RUNNING and job.max_steps:
                eta = max(job.max_steps - job.step, 0) * per_step
    return JobProgress(done=job.step, total=job.max_steps, fraction=fraction, note=job.note,
                       seconds_per_step=per_step, eta_s=eta)
