"""What fine-tuning and evaluation cost: hours per job (GPU hours for jobs on GPUs, else CPU hours), priced per
hour from the settings (WORKBENCH_GPU_HOUR_USD, WORKBENCH_CPU_HOUR_USD)."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import EvalRun, Job


def _hours(start: datetime | None, end: datetime | None) -> float:
    if not start or not end:
        return 0.0
    return max(0.0, (end - start).total_seconds() / 3600)


def job_spend(store: Store, *, actor: Actor, since: datetime | None = None,
              until: datetime | None = None) -> list[dict]:
    """Per kind of work (fine-tune, evaluation...): finished runs in the period, their hours and price."""
    require(actor, Permission.VIEW_DASHBOARDS)
    settings = store.settings
    totals: dict[str, dict] = {}

    def add(kind: str, hours: float, gpus: int) -> None:
        entry = totals.setdefault(kind, {"kind": kind, "runs": 0, "gpu_hours": 0.0, "cpu_hours": 0.0, "cost": 0.0})
        entry["runs"] += 1
        if gpus:
            entry["gpu_hours"] += hours * gpus
            entry["cost"] += hours * gpus * settings.gpu_hour_usd
        else:
            entry["cpu_hours"] += hours
            entry["cost"] += hours * settings.cpu_hour_usd

    with store.read() as session:
        jobs = select(Job).where(Job.finished_at.is_not(None))
        runs = select(EvalRun).where(EvalRun.finished_at.is_not(None))
        if since:
            jobs, runs = jobs.where(Job.finished_at >= since), runs.where(EvalRun.finished_at >= since)
        if until:
            jobs, runs = jobs.where(Job.finished_at < until), runs.where(EvalRun.finished_at < until)
        for job in session.exec(jobs):
            add(job.kind, _hours(job.started_at or job.created_at, job.finished_at), job.gpus or 0)
        for run in session.exec(runs):
            if run.job_id is None:  # an evaluation run as a job is already counted with the jobs
                add("evaluation", _hours(run.created_at, run.finished_at), 0)
    return sorted(totals.values(), key=lambda e: -e["cost"])
