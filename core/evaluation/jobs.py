"""Evaluation runs as jobs of the `eval` kind: the page and the CLI submit, a job process generates and checks.

`submit_evaluation` checks the request and writes the run row (queued) before queueing the job, so a bad request
queues nothing; the job process (`run_job`, registered in core/jobs/kinds.py) runs the same `execute_run`,
reporting each answered case as the job's progress. Cancelling the job (or the run) stops it at the next report.
"""
from __future__ import annotations

from typing import Any

from core.evaluation import runs
from core.governance.roles import Actor
from core.inference.generate import GenerationSettings
from core.storage.db import Store

KIND = "eval"


def submit_evaluation(store: Store, *, actor: Actor, suite: str, models: list[str], judge: str | None = None,
                      baseline: str | None = None, settings: GenerationSettings = runs.DEFAULT_SETTINGS,
                      launcher: str | None = None):
    """(job, run): the queued job and its evaluation run row."""
    from core.jobs import actions

    run = runs.start_run(store, actor=actor, suite=suite, models=models, judge=judge, baseline=baseline,
                         settings=settings)
    job = actions.submit(store, actor=actor, kind=KIND, name=f"Evaluation {run.suite} · {', '.join(run.models)}"[:200],
                         config={"run_id": run.id, "cases": run.total}, launcher=launcher)
    runs.set_job(store, run.id, job.id)
    return job, runs.get_run(store, actor=actor, run_id=run.id, with_results=False)


def run_job(store: Store, job, progress) -> dict[str, Any]:
    """The `eval` kind's function, inside the job process: the run as whoever submitted it."""
    from core.jobs import queue

    actor = queue.launcher_actor(store, job)
    if "counterfactual" in job.config:  # a counterfactual probe (core.evaluation.bias.submit_counterfactual)
        from core.evaluation import bias

        progress(0, job.config.get("cases"), "generating")
        return bias.run_probe_job(store, job, actor)
    run_id = int(job.config["run_id"])
    progress(0, job.config.get("cases"), "generating")
    run = runs.execute_run(store, actor=actor, run_id=run_id,
                           progress=lambda done, total: progress(done, total, "generating"))
    return {"eval_run": run.id, "status": run.status}


def run_of_job(store: Store, *, actor: Actor, job_id: int) -> runs.RunInfo | None:
    from sqlmodel import select

    from core.storage.tables import EvalRun

    with store.read() as session:
        run_id = session.exec(select(EvalRun.id).where(EvalRun.job_id == job_id)).first()
    return None if run_id is None else runs.get_run(store, actor=actor, run_id=run_id)
