"""Annotation projects whose outputs two models make on the spot: jobs of the `annotate` kind.

One code path for generation and one for items. The job runs the same comparison the Compare page runs
(`core.compare.runs.run_comparison`: batched generation per model, cells stored with their figures, progress per
cell, cancel through the job's progress callable), with its `job_id`, then makes the project from that saved run
(`core.feedback.sources.GeneratedSource`, which reads the run's pairs with the comparison source's own code). A
kind of its own rather than the `compare` kind: the compare kind's function would have to know about annotation
projects (a hook from compare into feedback), its result would not name the project, and submitting it would not
check the project's schema, name and annotators first. This kind composes the two public calls, checks the whole
request before anything is queued (a bad one queues nothing), and needs the feedback permission.

A dataset's prompt column becomes the user message through a one-line prompt template, `annotation-prompt`
(`{{ prompt }}`), saved once (unchanged versions are not saved again), so the comparison run, the items and the
results name a prompt version exactly as for any other comparison.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import select

from core.errors import Conflict, InvalidInput
from core.feedback import projects, sources
from core.feedback.schema import Question, check_questions
from core.governance.roles import Actor, Permission, require
from core.inference.generate import GenerationSettings
from core.jobs import actions, queue
from core.storage.db import Store
from core.storage.tables import AnnotationProject

KIND = "annotate"
PROMPT_TEMPLATE = "annotation-prompt"
PROMPT_VARIABLE = "prompt"
DEFAULT_ROWS = 50


@dataclass(frozen=True)
class GenerateRequest:
    """What the project-creation form and `workbench feedback generate` ask for."""

    name: str
    models: tuple[str, ...]  # two registered chat models or adapters
    dataset_version: str
    questions: tuple[Question, ...]
    annotators: tuple[str, ...]
    prompt_column: str | None = None  # the prompt as it stands in a column, or
    prompt: str | None = None  # a prompt version whose variables read columns (variable_map, else same name)
    variable_map: dict[str, str] = field(default_factory=dict)
    rows: int = DEFAULT_ROWS  # a seeded sample of this many rows
    seed: int = 0  # the sample, each item's response order and the annotators' side shuffles
    settings: GenerationSettings = GenerationSettings()
    per_item: int = 1
    overlap: float | None = None
    guidelines: str | None = None
    description: str | None = None
    allow_markdown: bool = False

    def to_config(self) -> dict[str, Any]:
        generation = asdict(self.settings)
        generation["stop"] = list(self.settings.stop)
        return {"name": self.name, "models": list(self.models), "dataset_version": self.dataset_version,
                "questions": [q.to_dict() for q in self.questions], "annotators": list(self.annotators),
                "prompt_column": self.prompt_column, "prompt": self.prompt, "variable_map": dict(self.variable_map),
                "rows": self.rows, "seed": self.seed, "settings": generation, "per_item": self.per_item,
                "overlap": self.overlap, "guidelines": self.guidelines, "description": self.description,
                "allow_markdown": self.allow_markdown}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "GenerateRequest":
        values = dict(config)
        generation = dict(values.pop("settings") or {})
        generation["stop"] = tuple(generation.get("stop") or ())
        values.pop("template", None)
        return cls(**{**values, "models": tuple(values["models"]), "annotators": tuple(values["annotators"]),
                      "questions": tuple(Question.from_dict(q) for q in values["questions"]),
                      "settings": GenerationSettings(**generation)})


def _comparison(request: GenerateRequest, template: str) -> dict[str, Any]:
    """The comparison the job runs: one prompt version x the two models over a seeded sample of rows."""
    from core.compare import runs

    variable_map = {PROMPT_VARIABLE: request.prompt_column} if request.prompt_column else dict(request.variable_map)
    return {"prompts": [template], "models": list(request.models), "dataset_version": request.dataset_version,
            "rows": request.rows, "variable_map": variable_map, "settings": request.settings, "metrics": [],
            "name": f"annotation project {request.name}: {' vs '.join(request.models)}",
            "selection": runs.RowSelection(rows=request.rows, sample_seed=request.seed)}


def _template(store: Store, actor: Actor, request: GenerateRequest) -> str:
    """The pinned prompt version: the user's, or the prompt column's one-line template (saved when it is new)."""
    from core.prompts import templates

    if request.prompt_column:
        version, _ = templates.save_version(
            store, actor=actor, name=PROMPT_TEMPLATE, body="{{ %s }}" % PROMPT_VARIABLE,
            description="A dataset's prompt column as the user message, for annotation projects whose outputs two "
                        "models make on the spot (Feedback page, `workbench feedback generate`).")
        return version.ref
    return templates.get_version(store, actor=actor, ref=request.prompt).ref


def check_request(store: Store, *, actor: Actor, request: GenerateRequest) -> tuple[str, int]:
    """Checks everything a job would find wrong (project, schema, annotators, models, rows, prompt) without
    generating; returns the pinned prompt version and how many answers the job will make."""
    from core.compare import runs

    require(actor, Permission.MANAGE_FEEDBACK)
    require(actor, Permission.RUN_INFERENCE)
    name = projects.validate_name(request.name)
    models = [m.strip() for m in request.models if isinstance(m, str) and m.strip()]
    if len(models) != 2 or models[0] == models[1]:
        raise InvalidInput("Choose two different models to answer the prompts.")
    if bool(request.prompt_column) == bool(request.prompt):
        raise InvalidInput("Give the dataset's prompt column, or a prompt version whose variables read its columns "
                           "(one of the two).")
    if request.prompt_column and request.variable_map:
        raise InvalidInput("A variable mapping goes with a prompt version, not with a prompt column.")
    if not isinstance(request.rows, int) or isinstance(request.rows, bool) or not 1 <= request.rows <= runs.MAX_ROWS:
        raise InvalidInput(f"The number of prompts to sample must be between 1 and {runs.MAX_ROWS}.")
    if request.per_item < 1:
        raise InvalidInput("Each item needs at least one annotator (per item 1 or more).")
    check_questions(list(request.questions), responses=2)
    with store.read() as session:
        if session.exec(select(AnnotationProject.id).where(AnnotationProject.name == name)).first() is not None:
            raise Conflict(f"An annotation project named '{name}' exists already.")
        people = projects.resolve_annotators(session, list(request.annotators))
    projects.plan_assignments(1, people, per_item=request.per_item, overlap=request.overlap)
    if request.prompt_column:
        from core.data import versions

        version = versions.get_version(store, actor=actor, ref=request.dataset_version)
        if request.prompt_column not in version.column_names:
            raise InvalidInput(f"{version.ref} has no column '{request.prompt_column}'; its columns are "
                               f"{', '.join(version.column_names)}.")
    template = _template(store, actor, request)
    _, cells = runs.check_comparison(store, actor=actor, **_comparison(request, template))
    return template, cells


def submit(store: Store, *, actor: Actor, request: GenerateRequest, launcher: str | None = None) -> queue.JobInfo:
    """Checks the request and queues the job; returns the job at once (its result names the project)."""
    template, cells = check_request(store, actor=actor, request=request)
    config = {**request.to_config(), "template": template, "cells": cells}
    return actions.submit(store, actor=actor, kind=KIND, name=f"Annotation project {request.name}: "
                          f"{' vs '.join(request.models)}", config=config, launcher=launcher)


def run_job(store: Store, job: queue.JobInfo, progress) -> dict[str, Any]:
    """The `annotate` kind's function, inside the job process, as whoever submitted it: generate, then make the
    project. A cancelled job stops at the next answer (the comparison run keeps what was made; no project)."""
    from core.compare import runs

    actor = queue.launcher_actor(store, job)
    request = GenerateRequest.from_config({k: v for k, v in job.config.items() if k != "cells"})
    template = job.config["template"]
    cells = job.config.get("cells")
    progress(0, cells, "starting")
    run = runs.run_comparison(store, actor=actor, **_comparison(request, template), progress=progress,
                              job_id=job.id)
    progress(len(run.cells), len(run.cells), "making the annotation project")
    source = sources.GeneratedSource(run_id=run.id, job_id=job.id, models=tuple(request.models),
                                     dataset_version=run.dataset_version or request.dataset_version,
                                     prompt=template, prompt_column=request.prompt_column, rows=request.rows,
                                     seed=request.seed)
    project = projects.create_project(
        store, actor=actor, name=request.name, source=source, questions=list(request.questions),
        annotators=list(request.annotators), per_item=request.per_item, overlap=request.overlap,
        guidelines=request.guidelines, description=request.description, allow_markdown=request.allow_markdown,
        seed=request.seed)
    return {"annotation_project": project.name, "items": project.items, "comparison_run": run.id}


def active_job(store: Store, *, actor: Actor) -> queue.JobInfo | None:
    """This user's newest annotate job still running or queued."""
    return actions.active_job(store, actor=actor, kind=KIND)
