"""Saved pipeline definitions: create or update, list, read, delete; every change audited with before/after."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, delete, func, select

from core.errors import InvalidInput, NotFound, PermissionDenied, WorkbenchError
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.pipelines.steps import Step, parse_steps
from core.storage.db import Store
from core.storage.tables import Pipeline, PipelineOutput, PipelineRun, utcnow

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class PipelineInfo:
    name: str
    description: str | None
    steps: list[Step]
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    id: int | None = None
    runs: int = 0

    @property
    def steps_json(self) -> list[dict[str, Any]]:
        return [step.to_dict() for step in self.steps]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "steps": self.steps_json, "runs": self.runs,
                "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by,
                "updated_at": self.updated_at.isoformat(timespec="seconds"), "updated_by": self.updated_by}


def validate_pipeline_name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInput(f"'{name}' is not a valid pipeline name: use letters, digits, dots, dashes and "
                           "underscores (up to 128), starting with a letter or digit.")
    return name


def _require_view(actor: Actor) -> None:
    # Pipelines are read and run by those who run models; annotators rate blind and never see them.
    require(actor, Permission.RUN_INFERENCE)


def resolve_templates(store: Store, *, actor: Actor, steps: list[Step]) -> dict[str, Any]:
    """Checks every generate step against the store; returns {step name: PromptVersionInfo it would run}.

    Unknown templates and models, non-chat models and template variables that no input fills are refused
    with one sentence naming the step.
    """
    from core.inference.engines import chat_model_info
    from core.prompts.templates import get_version

    resolved = {}
    for step in steps:
        if step.kind != "generate":
            continue
        try:
            version = get_version(store, actor=actor, ref=step.template)
        except PermissionDenied:
            raise
        except WorkbenchError as exc:
            raise InvalidInput(f"Step '{step.name}' uses template '{step.template}': {exc.message}",
                               hint=exc.hint) from None
        try:
            chat_model_info(store, actor=actor, name=step.model)
        except PermissionDenied:
            raise
        except WorkbenchError as exc:
            raise InvalidInput(f"Step '{step.name}' uses model '{step.model}': {exc.message}", hint=exc.hint) from None
        missing = [v for v in version.variables if v not in step.inputs]
        if missing:
            raise InvalidInput(
                f"Step '{step.name}': template {version.ref} needs {_names(missing, 'variable')}, which no input "
                "fills; map each to a dataset column (column:NAME) or an earlier step (step:NAME).")
        unused = [v for v in step.inputs if v not in version.variables]
        if unused:
            raise InvalidInput(
                f"Step '{step.name}' maps {_names(unused, 'variable')}, which template {version.ref} does not use; "
                f"its variables are {', '.join(version.variables) or 'none'}.")
        resolved[step.name] = version
    return resolved


def _names(names: list[str], noun: str) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"the {noun} {quoted}" if len(names) == 1 else f"the {noun}s {quoted}"


def _info(row: Pipeline, runs: int = 0) -> PipelineInfo:
    return PipelineInfo(name=row.name, description=row.description, steps=[Step.from_dict(s) for s in row.steps],
                        created_at=row.created_at, created_by=row.created_by, updated_at=row.updated_at,
                        updated_by=row.updated_by, id=row.id, runs=runs)


def save_pipeline(store: Store, *, actor: Actor, name: str, steps: list[Step | dict], description: str | None = None
                  ) -> tuple[PipelineInfo, bool]:
    """Creates pipeline `name` or replaces its steps and description; returns (pipeline, changed).

    Every check runs before anything is written: a definition that fails one stores nothing.
    """
    require(actor, Permission.MANAGE_PROMPTS)
    name = validate_pipeline_name(name)
    parsed = parse_steps(steps)
    resolve_templates(store, actor=actor, steps=parsed)
    description = (description or "").strip()[:2000] or None
    steps_json = [step.to_dict() for step in parsed]
    with store.write() as session:
        row = session.exec(select(Pipeline).where(Pipeline.name == name)).first()
        if row is None:
            row = Pipeline(name=name, description=description, steps=steps_json, created_by=actor.name,
                           updated_by=actor.name)
            session.add(row)
            session.flush()
            audit.record(session=session, actor=actor, action="pipeline.create", target_type="pipeline",
                         target_id=name, after={"description": description, "steps": steps_json})
            return _info(row), True
        if row.steps == steps_json and row.description == description:
            return _info(row, _count_runs(session, row.id)), False
        before = {"description": row.description, "steps": row.steps}
        row.steps, row.description = steps_json, description
        row.updated_at, row.updated_by = utcnow(), actor.name
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="pipeline.update", target_type="pipeline", target_id=name,
                     before=before, after={"description": description, "steps": steps_json})
        return _info(row, _count_runs(session, row.id)), True


def _count_runs(session, pipeline_id: int) -> int:
    return session.exec(select(func.count()).select_from(PipelineRun)
                        .where(PipelineRun.pipeline_id == pipeline_id)).one()


def _row(session, name: str) -> Pipeline:
    row = session.exec(select(Pipeline).where(Pipeline.name == name)).first()
    if row is None:
        raise NotFound(f"There is no pipeline named '{name}'.", hint="See them with `workbench pipelines list`.")
    return row


def get_pipeline(store: Store, *, actor: Actor, name: str) -> PipelineInfo:
    _require_view(actor)
    with store.read() as session:
        row = _row(session, (name or "").strip())
        return _info(row, _count_runs(session, row.id))


def list_pipelines(store: Store, *, actor: Actor) -> list[PipelineInfo]:
    _require_view(actor)
    with store.read() as session:
        counts = dict(session.exec(select(PipelineRun.pipeline_id, func.count()).group_by(PipelineRun.pipeline_id)).all())
        return [_info(row, counts.get(row.id, 0)) for row in session.exec(select(Pipeline).order_by(Pipeline.name))]


def delete_pipeline(store: Store, *, actor: Actor, name: str) -> PipelineInfo:
    """Deletes the definition with its runs and their outputs (the audit log keeps the definition)."""
    require(actor, Permission.MANAGE_PROMPTS)
    with store.write() as session:
        row = _row(session, (name or "").strip())
        info = _info(row, _count_runs(session, row.id))
        run_ids = list(session.exec(select(PipelineRun.id).where(PipelineRun.pipeline_id == row.id)).all())
        if run_ids:
            session.exec(delete(PipelineOutput).where(col(PipelineOutput.run_id).in_(run_ids)))
            session.exec(delete(PipelineRun).where(col(PipelineRun.id).in_(run_ids)))
        session.delete(row)
        audit.record(session=session, actor=actor, action="pipeline.delete", target_type="pipeline", target_id=info.name,
                     before={"description": info.description, "steps": info.steps_json, "runs": info.runs})
        return info


def count_pipelines(store: Store) -> int:
    with store.read() as session:
        return session.exec(select(func.count()).select_from(Pipeline)).one()
