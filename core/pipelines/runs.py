"""Running a saved pipeline over the first rows of a dataset version, step by step, and reading the results.

Each generate step renders its template for every row and sends ALL rows to the model in one
`complete_chats` call (batched locally, a few requests at a time for an endpoint); each metric step scores all
rows in one `score_pairs` call. A row whose input is missing or whose earlier step failed is skipped in the
steps that need it, with the reason in that cell, and the other rows go on. Every cell is stored with its
tokens, latency, value and error; the run keeps the definition as it ran (template versions pinned) and
per-step figures.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from core.errors import InvalidInput, NotFound, WorkbenchError
from core.exports import neutralise_cell
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.inference.generate import GenerationSettings
from core.pipelines.definitions import get_pipeline, resolve_templates
from core.pipelines.steps import Step
from core.storage import run_owners
from core.storage.db import Store
from core.storage.tables import Pipeline, PipelineOutput, PipelineRun, utcnow

MAX_ROWS = 500
DEFAULT_ROWS = 20
EXPORT_FORMATS = ("csv", "jsonl")
Progress = Callable[[float, str], None]  # (share done 0-1, what is happening)
_NUMBER_RE = re.compile(r"[-+]?\d+(?:\.\d+)?")
_ERROR_CHARS = 2000


@dataclass(frozen=True)
class StepOutput:
    """One step's result for one input row."""

    row_index: int
    step_index: int
    step_name: str
    output: str | None
    value: float | None
    tokens_in: int | None
    tokens_out: int | None
    latency_s: float | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "value": self.value, "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out, "latency_s": self.latency_s, "error": self.error}


@dataclass(frozen=True)
class RunInfo:
    id: int
    pipeline: str
    steps: list[dict[str, Any]]  # the definition as it ran, template versions pinned
    dataset_version: str
    rows: int
    settings: dict[str, Any]
    status: str  # running, succeeded, failed
    summary: dict[str, Any]  # {"steps": {step name: figures}, "latency_s": ...}
    error: str | None
    created_at: datetime
    created_by: str
    finished_at: datetime | None
    outputs: tuple[StepOutput, ...] = field(default=(), repr=False)

    @property
    def step_names(self) -> list[str]:
        return [s["name"] for s in self.steps]

    def step_figures(self, name: str) -> dict[str, Any]:
        return dict((self.summary or {}).get("steps", {}).get(name, {}))

    def to_dict(self, *, with_outputs: bool = False) -> dict[str, Any]:
        data = {"id": self.id, "pipeline": self.pipeline, "steps": self.steps, "dataset_version": self.dataset_version,
                "rows": self.rows, "settings": self.settings, "status": self.status, "summary": self.summary,
                "error": self.error, "created_at": self.created_at.isoformat(timespec="seconds"),
                "created_by": self.created_by,
                "finished_at": self.finished_at.isoformat(timespec="seconds") if self.finished_at else None}
        if with_outputs:
            data["outputs"] = [{"row": o.row_index, "step": o.step_name, **o.to_dict()} for o in self.outputs]
        return data


# --- running ----------------------------------------------------------------------------------------------

def _cell(value: Any) -> Any:
    """A dataset cell as a template sees it: plain Python, None when missing."""
    if value is None:
        return None
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        import pandas as pd

        if not isinstance(value, (list, dict)) and pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _first_number(text: str | None) -> float | None:
    match = _NUMBER_RE.search(text or "")
    return float(match.group(0)) if match else None


def _format_value(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


class _Cells:
    """Every finished step's cells, and how a later step reads a source for one row."""

    def __init__(self, frame):
        self.frame = frame
        self.by_step: dict[str, list[dict[str, Any]]] = {}
        self.kind: dict[str, str] = {}

    def read(self, source: str, row: int) -> tuple[Any, str | None]:
        """(value, None) or (None, the reason the row is skipped)."""
        kind, name = source.split(":", 1)
        if kind == "column":
            value = _cell(self.frame[name].iloc[row])
            return (value, None) if value is not None else (None, f"Skipped: the row has no value in column '{name}'.")
        cell = self.by_step[name][row]
        if cell.get("error"):
            return None, f"Skipped: step '{name}' failed on this row."
        value = cell.get("output") if self.kind[name] == "generate" else _format_value(cell.get("value"))
        if value is None:
            return None, f"Skipped: step '{name}' gave no value for this row."
        return value, None


def _step_settings(base: GenerationSettings, step: Step) -> GenerationSettings:
    overrides = {k: (tuple(v) if k == "stop" else v) for k, v in step.settings.items()}
    return replace(base, **overrides)


def _run_generate(store: Store, actor: Actor, step: Step, version, settings: GenerationSettings, cells: _Cells,
                  rows: int, report: Callable[[float], None]) -> tuple[list[dict], dict[str, Any], str | None]:
    from core.inference import engines

    out: list[dict[str, Any]] = [{} for _ in range(rows)]
    conversations, waiting = [], []
    for row in range(rows):
        variables, reason = {}, None
        for variable, source in step.inputs.items():
            value, reason = cells.read(source, row)
            if reason:
                break
            variables[variable] = value
        if reason:
            out[row] = {"error": reason}
            continue
        try:
            conversations.append(version.messages(variables))
            waiting.append(row)
        except InvalidInput as exc:
            out[row] = {"error": exc.message}
    failure, load_s = None, 0.0
    started = time.perf_counter()
    if conversations:
        try:
            # A local model is loaded (once per process) before the clock starts, so tokens/s is generation only.
            if engines.chat_model_info(store, actor=actor, name=step.model).kind != "openai":
                engines.chat_model_for(store, actor=actor, name=step.model)
            load_s = time.perf_counter() - started
            started = time.perf_counter()
            generations = engines.complete_chats(store, actor=actor, model=step.model, conversations=conversations,
                                                 settings=settings, progress=lambda done, total: report(done / total))
        except WorkbenchError as exc:
            failure = f"Step '{step.name}' failed: {exc.message}"
            for row in waiting:
                out[row] = {"error": f"The model failed: {exc.message}"}
        else:
            for row, generation in zip(waiting, generations):
                out[row] = {"output": generation.output, "tokens_in": generation.tokens_in,
                            "tokens_out": generation.tokens_out, "latency_s": generation.latency_s,
                            "value": _first_number(generation.output) if step.numeric else None}
    wall = time.perf_counter() - started
    answered = [c for c in out if "output" in c]
    tokens_out = sum(c["tokens_out"] or 0 for c in answered)
    figures = {
        "kind": "generate", "template": version.ref, "model": step.model, "rows": rows, "answered": len(answered),
        "errors": sum(1 for c in out if c.get("error")),
        "tokens_in": sum(c["tokens_in"] or 0 for c in answered), "tokens_out": tokens_out,
        "mean_tokens_out": tokens_out / len(answered) if answered else None,
        "tokens_per_s": tokens_out / wall if answered and wall > 0 else None,
        "latency_s": round(wall, 4), "load_s": round(load_s, 4),
    }
    if step.numeric:
        figures.update(_value_figures([c.get("value") for c in answered]))
    return out, figures, failure


def _value_figures(values: list[float | None]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    return {"values": len(present), "mean_value": sum(present) / len(present) if present else None,
            "min_value": min(present) if present else None, "max_value": max(present) if present else None}


def _run_metric(step: Step, cells: _Cells, rows: int) -> tuple[list[dict], dict[str, Any]]:
    from core.metrics import METRICS, score_pairs

    out: list[dict[str, Any]] = [{} for _ in range(rows)]
    outputs, references, scored = [], [], []
    for row in range(rows):
        text, reason = cells.read(step.output, row)
        reference = None
        if not reason and step.reference:
            reference, reason = cells.read(step.reference, row)
        if reason:
            out[row] = {"error": reason}
            continue
        outputs.append(str(text))
        references.append(None if reference is None else str(reference))
        scored.append(row)
    started = time.perf_counter()
    if scored:
        values = score_pairs(outputs, references if step.reference else None, [step.metric])[step.metric]
        for row, value in zip(scored, values):
            out[row] = {"value": value}
    wall = time.perf_counter() - started
    metric = METRICS[step.metric]
    figures = {"kind": "metric", "metric": step.metric, "label": metric.label, "scale": metric.scale, "rows": rows,
               "errors": sum(1 for c in out if c.get("error")), "latency_s": round(wall, 4),
               **_value_figures([c.get("value") for c in out])}
    return out, figures


def _check_columns(steps: list[Step], columns: list[str], ref: str) -> None:
    for step in steps:
        for name in step.reads_columns:
            if name not in columns:
                raise InvalidInput(f"Step '{step.name}' reads column '{name}', which dataset version {ref} does not "
                                   f"have; its columns are {', '.join(columns)}.")


def _snapshot(steps: list[Step], versions: dict) -> list[dict[str, Any]]:
    return [{**step.to_dict(), "template": versions[step.name].ref} if step.kind == "generate" else step.to_dict()
            for step in steps]


def check_pipeline_run(store: Store, *, actor: Actor, name: str, dataset_version: str,
                       rows: int = DEFAULT_ROWS) -> tuple[str, int]:
    """The checks `run_pipeline` makes before its first step, without running or storing anything; returns the
    pipeline's name and how many rows it will run on."""
    require(actor, Permission.RUN_INFERENCE)
    from core.data import versions as data_versions

    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_ROWS:
        raise InvalidInput(f"Rows must be a whole number from 1 to {MAX_ROWS}; got {rows}.")
    pipeline = get_pipeline(store, actor=actor, name=name)
    resolve_templates(store, actor=actor, steps=pipeline.steps)
    version = data_versions.get_version(store, actor=actor, ref=dataset_version)
    if version.rows == 0:
        raise InvalidInput(f"Dataset version {version.ref} has no rows to run the pipeline on.")
    _check_columns(pipeline.steps, [str(c) for c in version.column_names], version.ref)
    return pipeline.name, min(rows, version.rows)


def run_of_job(store: Store, *, actor: Actor, job_id: int) -> RunInfo | None:
    """The run a pipeline job made (with the steps stored so far), or None before it has started."""
    require(actor, Permission.RUN_INFERENCE)
    with store.read() as session:
        found = session.exec(select(PipelineRun.id).where(PipelineRun.job_id == int(job_id))).first()
    return None if found is None else get_run(store, actor=actor, run_id=found)


def run_pipeline(store: Store, *, actor: Actor, name: str, dataset_version: str, rows: int = DEFAULT_ROWS,
                 settings: GenerationSettings | None = None, progress: Progress | None = None,
                 job_id: int | None = None) -> RunInfo:
    """Runs pipeline `name` over the first `rows` rows (at most 500) of `dataset_version`; returns the run.

    `settings` are the generation settings of every generate step, under each step's own overrides. Problems
    found before the first step (a template or model gone, a column the dataset lacks) store nothing; a step
    whose model fails marks its cells and the run failed, and the later steps still run on what they can.
    """
    require(actor, Permission.RUN_INFERENCE)
    from core.data import versions as data_versions
    from core.jobs.run import JobCancelled

    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_ROWS:
        raise InvalidInput(f"Rows must be a whole number from 1 to {MAX_ROWS}; got {rows}.")
    settings = settings or GenerationSettings()
    pipeline = get_pipeline(store, actor=actor, name=name)
    templates = resolve_templates(store, actor=actor, steps=pipeline.steps)
    version = data_versions.get_version(store, actor=actor, ref=dataset_version)
    frame = data_versions.load_frame(store, actor=actor, version=version).head(rows).reset_index(drop=True)
    if frame.empty:
        raise InvalidInput(f"Dataset version {version.ref} has no rows to run the pipeline on.")
    _check_columns(pipeline.steps, [str(c) for c in frame.columns], version.ref)
    step_settings = {s.name: _step_settings(settings, s) for s in pipeline.steps if s.kind == "generate"}
    generation = {**asdict(settings), "stop": list(settings.stop)}
    run_settings = {"generation": generation, "rows_requested": rows,
                    "templates": {s.name: {"requested": s.template, "ran": templates[s.name].ref}
                                  for s in pipeline.steps if s.kind == "generate"}}
    snapshot = _snapshot(pipeline.steps, templates)
    with store.write() as session:
        run = PipelineRun(pipeline_id=pipeline.id, steps=snapshot, dataset_version=version.ref, rows=len(frame),
                          settings=run_settings, status="running", summary={"steps": {}}, created_by=actor.name,
                          job_id=job_id, **run_owners.this_process())
        session.add(run)
        session.flush()
        run_id = run.id
        audit.record(session=session, actor=actor, action="pipeline.run", target_type="pipeline_run", target_id=run_id,
                     after={"pipeline": pipeline.name, "dataset_version": version.ref, "rows": len(frame),
                            "templates": {k: v["ran"] for k, v in run_settings["templates"].items()}})

    total = len(pipeline.steps)
    cells = _Cells(frame)
    figures: dict[str, Any] = {}
    failures: list[str] = []
    started = time.perf_counter()
    try:
        for index, step in enumerate(pipeline.steps):
            label = f"Step {index + 1} of {total}: {step.name}"

            def report(share: float, index=index, label=label) -> None:
                if progress:
                    progress(min(1.0, (index + share) / total), label)

            report(0.0)
            if step.kind == "generate":
                out, figures[step.name], failure = _run_generate(store, actor, step, templates[step.name],
                                                                 step_settings[step.name], cells, len(frame), report)
                if failure:
                    failures.append(failure)
            else:
                out, figures[step.name] = _run_metric(step, cells, len(frame))
            cells.by_step[step.name], cells.kind[step.name] = out, step.kind
            _store_step(store, run_id, index, step.name, out, figures)
        if progress:
            progress(1.0, "Done")
    except JobCancelled:
        _finish(store, run_id, "cancelled", figures, time.perf_counter() - started,
                "Cancelled before every step ran; the steps finished are kept.")
        raise
    except BaseException as exc:
        # A WorkbenchError keeps its sentence; a stop (Ctrl-C, or the page rerun by the user mid-run) is said so.
        message = exc.message if isinstance(exc, WorkbenchError) else \
            f"Unexpected failure ({type(exc).__name__})." if isinstance(exc, Exception) else \
            "Stopped before it finished."
        _finish(store, run_id, "failed", figures, time.perf_counter() - started, message)
        raise
    _finish(store, run_id, "failed" if failures else "succeeded", figures, time.perf_counter() - started,
            " ".join(failures) or None)
    return get_run(store, actor=actor, run_id=run_id)


def _store_step(store: Store, run_id: int, index: int, name: str, out: list[dict], figures: dict) -> None:
    with store.write() as session:
        for row, cell in enumerate(out):
            error = cell.get("error")
            session.add(PipelineOutput(
                run_id=run_id, row_index=row, step_index=index, step_name=name, output=cell.get("output"),
                value=cell.get("value"), tokens_in=cell.get("tokens_in"), tokens_out=cell.get("tokens_out"),
                latency_s=cell.get("latency_s"), error=error[:_ERROR_CHARS] if error else None))
        run = session.get(PipelineRun, run_id)
        run.summary = {"steps": dict(figures)}
        session.add(run)


def _finish(store: Store, run_id: int, status: str, figures: dict, wall: float, error: str | None) -> None:
    with store.write() as session:
        run = session.get(PipelineRun, run_id)
        run.status, run.finished_at = status, utcnow()
        run.summary = {"steps": dict(figures), "latency_s": round(wall, 4)}
        run.error = error[:_ERROR_CHARS] if error else None
        session.add(run)


# --- reading ----------------------------------------------------------------------------------------------

def _fail_orphans(store: Store) -> None:
    """A run whose process died (killed, restarted) reads as failed, not as running for ever."""
    run_owners.fail_orphans(store, PipelineRun, action="pipeline.interrupted", target_type="pipeline_run")


def _info(run: PipelineRun, pipeline: str, outputs: list[PipelineOutput] = ()) -> RunInfo:
    return RunInfo(
        id=run.id, pipeline=pipeline, steps=list(run.steps), dataset_version=run.dataset_version, rows=run.rows,
        settings=dict(run.settings or {}), status=run.status, summary=dict(run.summary or {}), error=run.error,
        created_at=run.created_at, created_by=run.created_by, finished_at=run.finished_at,
        outputs=tuple(StepOutput(row_index=o.row_index, step_index=o.step_index, step_name=o.step_name,
                                 output=o.output, value=o.value, tokens_in=o.tokens_in, tokens_out=o.tokens_out,
                                 latency_s=o.latency_s, error=o.error) for o in outputs))


def list_runs(store: Store, *, actor: Actor, name: str | None = None, limit: int = 50) -> list[RunInfo]:
    """Newest first, without outputs; only the runs of pipeline `name` when given."""
    require(actor, Permission.RUN_INFERENCE)
    _fail_orphans(store)
    query = select(PipelineRun, Pipeline.name).join(Pipeline, Pipeline.id == PipelineRun.pipeline_id)
    if name:
        get_pipeline(store, actor=actor, name=name)  # an unknown name is NotFound, not an empty list
        query = query.where(Pipeline.name == name.strip())
    query = query.order_by(col(PipelineRun.id).desc()).limit(max(1, min(int(limit), 1000)))
    with store.read() as session:
        return [_info(run, pipeline) for run, pipeline in session.exec(query).all()]


def get_run(store: Store, *, actor: Actor, run_id: int) -> RunInfo:
    """One run with every stored cell."""
    require(actor, Permission.RUN_INFERENCE)
    _fail_orphans(store)
    with store.read() as session:
        found = session.exec(select(PipelineRun, Pipeline.name).join(Pipeline, Pipeline.id == PipelineRun.pipeline_id)
                             .where(PipelineRun.id == run_id)).first()
        if found is None:
            raise NotFound(f"There is no pipeline run {run_id}.", hint="See them with `workbench pipelines runs`.")
        outputs = session.exec(select(PipelineOutput).where(PipelineOutput.run_id == run_id)
                               .order_by(PipelineOutput.row_index, PipelineOutput.step_index)).all()
        return _info(found[0], found[1], outputs)


def run_inputs(store: Store, *, actor: Actor, run: RunInfo):
    """The dataset columns the run's steps read, for its rows (needs the right to see dataset rows)."""
    from core.data import versions as data_versions

    columns = list(dict.fromkeys(c for step in run.steps for c in Step.from_dict(step).reads_columns))
    version = data_versions.get_version(store, actor=actor, ref=run.dataset_version)
    frame = data_versions.load_frame(store, actor=actor, version=version)
    return frame.head(run.rows).reset_index(drop=True)[[c for c in columns if c in frame.columns]]


def step_prompt(store: Store, *, actor: Actor, run: RunInfo, row_index: int, step_name: str) -> list[dict[str, str]]:
    """The chat messages a generate step sent for one row, rebuilt from the pinned template, the dataset row and
    the stored outputs of the earlier steps."""
    from core.prompts.templates import get_version

    spec = next((s for s in run.steps if s["name"] == step_name), None)
    if spec is None or spec["kind"] != "generate":
        raise InvalidInput(f"Run {run.id} has no generate step named '{step_name}'.")
    if not 0 <= row_index < run.rows:
        raise InvalidInput(f"Run {run.id} has rows 0 to {run.rows - 1}; there is no row {row_index}.")
    step = Step.from_dict(spec)
    frame = run_inputs(store, actor=actor, run=run).iloc[[row_index]].reset_index(drop=True)
    cells = _Cells(frame)
    for other in run.steps:
        cells.kind[other["name"]] = other["kind"]
        cells.by_step[other["name"]] = [{}]
    for o in run.outputs:
        if o.row_index == row_index:
            cells.by_step[o.step_name] = [o.to_dict()]
    variables = {}
    for variable, source in step.inputs.items():
        value, reason = cells.read(source, 0)
        if reason:
            raise InvalidInput(f"Row {row_index} of step '{step_name}' was not sent to the model: {reason}")
        variables[variable] = value
    return get_version(store, actor=actor, ref=step.template).messages(variables)


def outputs_frame(run: RunInfo, *, inputs=None, detail: bool = False):
    """One row per input row, one column per step, side by side.

    A generate step's column holds its answer (and `STEP value` the number read from it, for numeric steps), a
    metric step's column its value; `STEP error` says why a cell is empty, where a step has errors. `inputs`
    (see `run_inputs`) puts the dataset columns the steps read in front. `detail` adds tokens and latency.
    """
    import pandas as pd

    by_cell = {(o.row_index, o.step_name): o for o in run.outputs}
    data: dict[str, list] = {"row": list(range(run.rows))}
    if inputs is not None:
        step_names = set(run.step_names)
        for column in inputs.columns:
            data[f"{column} (input)" if column in step_names or column == "row" else str(column)] = \
                [_cell(v) for v in inputs[column].tolist()][:run.rows]
    for spec in run.steps:
        name = spec["name"]
        cells = [by_cell.get((row, name)) for row in range(run.rows)]
        if spec["kind"] == "generate":
            data[name] = [c.output if c else None for c in cells]
            if spec.get("numeric"):
                data[f"{name} value"] = [c.value if c else None for c in cells]
            if detail:
                data[f"{name} tokens in"] = [c.tokens_in if c else None for c in cells]
                data[f"{name} tokens out"] = [c.tokens_out if c else None for c in cells]
                data[f"{name} latency s"] = [c.latency_s if c else None for c in cells]
        else:
            data[name] = [c.value if c else None for c in cells]
        if detail or any(c is not None and c.error for c in cells):
            data[f"{name} error"] = [c.error if c else None for c in cells]
    frame = pd.DataFrame(data)
    for spec in run.steps:
        if spec["kind"] == "metric" or spec.get("numeric"):
            column = spec["name"] if spec["kind"] == "metric" else f"{spec['name']} value"
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Float64")
    return frame


def export_file_name(run: RunInfo, fmt: str) -> str:
    return f"pipeline-{run.pipeline}-run-{run.id}.{fmt}"


def export_run(run: RunInfo, fmt: str, *, inputs=None) -> bytes:
    """The run's cells as CSV (one row per input row, spreadsheet formulas neutralised) or JSONL (one object per
    input row with every step's output, value, tokens, latency and error)."""
    fmt = (fmt or "").lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"'{fmt}' is not an export format for a run; choose csv or jsonl.")
    if fmt == "csv":
        frame = outputs_frame(run, inputs=inputs, detail=True)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([neutralise_cell(str(c)) for c in frame.columns])
        for record in frame.itertuples(index=False):
            writer.writerow(["" if _cell(v) is None else neutralise_cell(_cell(v)) for v in record])
        return buffer.getvalue().encode("utf-8")
    by_row: dict[int, dict[str, Any]] = {row: {} for row in range(run.rows)}
    for o in run.outputs:
        by_row.setdefault(o.row_index, {})[o.step_name] = o.to_dict()
    lines = []
    input_rows = inputs.to_dict(orient="records") if inputs is not None else None
    for row in range(run.rows):
        record = {"run": run.id, "pipeline": run.pipeline, "dataset_version": run.dataset_version, "row": row}
        if input_rows is not None and row < len(input_rows):
            record["inputs"] = {str(k): _cell(v) for k, v in input_rows[row].items()}
        record["steps"] = {name: by_row[row].get(name) for name in run.step_names}
        lines.append(json.dumps(record, ensure_ascii=False, default=str))
    return ("\n".join(lines) + "\n").encode("utf-8")

