"""Comparisons as jobs of the `compare` kind: the page and the CLI submit, a job process generates.

`submit_comparison` checks the whole request first (a bad one queues nothing, with the same sentence a direct
run gives), then queues a job whose config is the request as JSON. The job process (`run_job`, registered in
core/jobs/kinds.py) calls the same `run_comparison` with the job's id, reporting each finished cell as the job's
progress; the comparison run row it writes carries the job id, so a page can show the cells stored so far.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from core.compare import runs
from core.governance.roles import Actor
from core.inference.generate import GenerationSettings
from core.jobs import actions, queue
from core.storage.db import Store

KIND = "compare"


def _request(*, prompts, models, inputs, dataset_version, rows, variable_map, reference_column, settings, metrics,
             name, selection) -> dict[str, Any]:
    generation = asdict(settings)
    generation["stop"] = list(settings.stop)
    return {"prompts": list(prompts), "models": list(models), "inputs": inputs, "dataset_version": dataset_version,
            "rows": rows, "variable_map": dict(variable_map or {}), "reference_column": reference_column,
            "settings": generation, "metrics": None if metrics is None else list(metrics), "name": name,
            "selection": selection.to_dict() if selection is not None else None}


def _arguments(config: dict[str, Any]) -> dict[str, Any]:
    values = dict(config)
    generation = dict(values.pop("settings") or {})
    generation["stop"] = tuple(generation.get("stop") or ())
    selection = values.pop("selection", None)
    return {**values, "settings": GenerationSettings(**generation),
            "selection": runs.RowSelection.from_dict(selection) if selection else None}


def submit_comparison(store: Store, *, actor: Actor, prompts: list[str], models: list[str],
                      inputs: list[dict[str, Any]] | None = None, dataset_version: str | None = None,
                      rows: int | None = None, variable_map: dict[str, str] | None = None,
                      reference_column: str | None = None, settings: GenerationSettings = GenerationSettings(),
                      metrics: list[str] | None = None, name: str | None = None,
                      selection: runs.RowSelection | None = None, launcher: str | None = None) -> queue.JobInfo:
    """Checks the request (as `runs.run_comparison` does) and queues it as a job; returns the job at once."""
    title, cells = runs.check_comparison(store, actor=actor, prompts=prompts, models=models, inputs=inputs,
                                         dataset_version=dataset_version, rows=rows, variable_map=variable_map,
                                         reference_column=reference_column, settings=settings, metrics=metrics,
                                         name=name, selection=selection)
    config = _request(prompts=prompts, models=models, inputs=inputs, dataset_version=dataset_version, rows=rows,
                      variable_map=variable_map, reference_column=reference_column, settings=settings,
                      metrics=metrics, name=title, selection=selection)
    config["cells"] = cells
    return actions.submit(store, actor=actor, kind=KIND, name=title, config=config, launcher=launcher)


def run_job(store: Store, job: queue.JobInfo, progress) -> dict[str, Any]:
    """The `compare` kind's function, inside the job process: the comparison as whoever submitted it."""
    actor = queue.launcher_actor(store, job)
    config = {k: v for k, v in job.config.items() if k != "cells"}
    progress(0, job.config.get("cells"), "starting")
    run = runs.run_comparison(store, actor=actor, **_arguments(config), progress=progress, job_id=job.id)
    return {"comparison_run": run.id, "cells": len(run.cells)}


def active_job(store: Store, *, actor: Actor) -> queue.JobInfo | None:
    """This user's newest comparison job still running or queued."""
    return actions.active_job(store, actor=actor, kind=KIND)
