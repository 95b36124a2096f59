"""Pipeline runs as jobs of the `pipeline` kind: the page and the CLI submit, a job process runs the steps.

`submit_pipeline_run` makes the checks a run makes before its first step (a bad request queues nothing), then
queues a job whose config is the request. The job process (`run_job`, registered in core/jobs/kinds.py) calls
the same `run_pipeline` with the job id; progress counts row x step cells, with the step as the note.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from core.governance.roles import Actor
from core.inference.generate import GenerationSettings
from core.jobs import actions, queue
from core.pipelines import runs
from core.storage.db import Store

KIND = "pipeline"


def submit_pipeline_run(store: Store, *, actor: Actor, name: str, dataset_version: str,
                        rows: int = runs.DEFAULT_ROWS, settings: GenerationSettings | None = None,
                        launcher: str | None = None) -> queue.JobInfo:
    """Checks the request as `runs.run_pipeline` does before its first step and queues it; returns the job."""
    pipeline, count = runs.check_pipeline_run(store, actor=actor, name=name, dataset_version=dataset_version,
                                              rows=rows)
    settings = settings or GenerationSettings()
    config = {"name": pipeline, "dataset_version": dataset_version, "rows": rows,
              "settings": {**asdict(settings), "stop": list(settings.stop)}, "row_count": count}
    return actions.submit(store, actor=actor, kind=KIND, name=f"{pipeline} on {dataset_version}"[:200],
                          config=config, launcher=launcher)


def run_job(store: Store, job: queue.JobInfo, progress) -> dict[str, Any]:
    """The `pipeline` kind's function, inside the job process, as whoever submitted it."""
    actor = queue.launcher_actor(store, job)
    config = dict(job.config)
    generation = dict(config["settings"])
    generation["stop"] = tuple(generation.get("stop") or ())
    units = 1000  # per mille of the run: steps differ in size, the share the run reports is what is known

    def report(share: float, label: str) -> None:
        progress(int(round(share * units)), units, label)

    run = runs.run_pipeline(store, actor=actor, name=config["name"], dataset_version=config["dataset_version"],
                            rows=config["rows"], settings=GenerationSettings(**generation), progress=report,
                            job_id=job.id)
    return {"pipeline_run": run.id, "status": run.status}


def active_job(store: Store, *, actor: Actor) -> queue.JobInfo | None:
    """This user's newest pipeline job still running or queued."""
    return actions.active_job(store, actor=actor, kind=KIND)
