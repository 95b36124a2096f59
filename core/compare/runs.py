"""Comparison runs: N prompt versions x M models over typed inputs or K rows of a dataset version.

Everything is checked before the first token is generated (templates, models, variables, columns, sizes), so
a bad request stores nothing. Then the run row is written (`running`), each model answers all of its
conversations in one batched `complete_chats` call, and its cells are stored with their figures and scores
as soon as it is done; the run ends `succeeded`, or `failed` with the error (cells already made are kept).

A run keeps every setting it ran with (prompt versions pinned to numbers, models, generation settings,
metrics, the variable mapping, the dataset version), so it can be reopened, exported and handed to an
annotation queue: the JSONL export is one self-contained object per cell.

Model outputs are untrusted text: they are stored and exported as plain strings, never interpreted.
"""
from __future__ import annotations

import csv
import difflib
import io
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlmodel import col, func, select

from core.errors import InvalidInput, NotFound, PermissionDenied, WorkbenchError
from core.exports import neutralise_cell
from core.governance import audit
from core.governance.roles import Actor, Permission, Role, require
from core.inference.generate import GenerationSettings
from core.metrics import METRICS, PRESETS
from core.storage import run_owners
from core.storage.db import Store
from core.storage.tables import ComparisonCell, ComparisonRun, utcnow

MAX_COLUMNS = 36  # prompt versions x models
MAX_ROWS = 500  # inputs (typed or dataset rows)
DEFAULT_DATASET_ROWS = 20
EXPORT_FORMATS = ("csv", "jsonl")
EXPORT_FORMAT_VERSION = 1  # bump when the JSONL shape changes, so an annotation queue can tell
STATUSES = ("running", "succeeded", "failed", "cancelled")

Progress = Callable[..., None]  # (cells done, cells in all) or (cells done, cells in all, what it does now)


def _with_note(progress: Progress | None) -> Callable[[int, int, str], None] | None:
    """A progress callable that takes a note, whether or not `progress` does."""
    if progress is None:
        return None
    import inspect

    try:
        inspect.signature(progress).bind(0, 0, "")
        return progress
    except TypeError:
        return lambda done, total, _note: progress(done, total)


# --- results --------------------------------------------------------------------------------------------

def column_label(prompt: str, model: str) -> str:
    """The name of one grid column: a prompt version run by a model."""
    return f"{prompt} · {model}"


@dataclass(frozen=True)
class CellInfo:
    """One output: input row x prompt version x model, with its figures and scores."""

    id: int
    run_id: int
    row_index: int
    prompt: str
    model: str
    variables: dict[str, Any]
    messages: list[dict[str, Any]]
    reference: str | None
    output: str | None
    tokens_in: int | None
    tokens_out: int | None
    latency_s: float | None  # for local models: the wall time of the batch that produced the answer
    cost_usd: float | None
    finish_reason: str | None
    scores: dict[str, float | None]
    error: str | None

    @property
    def column(self) -> str:
        return column_label(self.prompt, self.model)

    @property
    def tokens_per_s(self) -> float | None:
        if self.tokens_out is None or not self.latency_s:
            return None
        return self.tokens_out / self.latency_s

    @property
    def label(self) -> str:
        """How a person picks this cell: row number (from 1) and column."""
        return f"Row {self.row_index + 1} · {self.column}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "run_id": self.run_id, "row_index": self.row_index, "prompt": self.prompt,
                "model": self.model, "variables": self.variables, "messages": self.messages,
                "reference": self.reference, "output": self.output, "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out, "latency_s": self.latency_s, "tokens_per_s": self.tokens_per_s,
                "cost_usd": self.cost_usd, "finish_reason": self.finish_reason, "scores": self.scores,
                "error": self.error}


@dataclass(frozen=True)
class RunInfo:
    id: int
    name: str
    status: str
    prompts: list[str]  # pinned references, NAME@VERSION
    models: list[str]
    settings: dict[str, Any]  # generation settings, metrics, variable map, input mode ...
    dataset_version: str | None
    reference_column: str | None
    rows: int
    error: str | None
    created_at: datetime
    created_by: str
    finished_at: datetime | None
    cell_count: int = 0
    cells: tuple[CellInfo, ...] = field(default=(), repr=False)
    job_id: int | None = None  # the job that ran it

    @property
    def metrics(self) -> list[str]:
        return list(self.settings.get("metrics") or [])

    @property
    def generation(self) -> dict[str, Any]:
        return dict(self.settings.get("generation") or {})

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(prompt, model) of every grid column, in the run's order: prompts outer, models inner."""
        return [(p, m) for p in self.prompts for m in self.models]

    @property
    def source(self) -> str:
        if self.dataset_version:
            return f"{self.dataset_version} ({self.rows} rows)"
        return f"typed input ({self.rows} row{'s' if self.rows != 1 else ''})"

    @property
    def label(self) -> str:
        """One line for pickers: id, name, status and when."""
        return f"#{self.id} {self.name} · {self.status} · {self.created_at:%Y-%m-%d %H:%M}"

    def to_dict(self, *, with_cells: bool = False) -> dict[str, Any]:
        out = {"id": self.id, "name": self.name, "status": self.status, "prompts": self.prompts,
               "models": self.models, "settings": self.settings, "dataset_version": self.dataset_version,
               "reference_column": self.reference_column, "rows": self.rows, "error": self.error,
               "created_at": self.created_at.isoformat(timespec="seconds"), "created_by": self.created_by,
               "finished_at": self.finished_at.isoformat(timespec="seconds") if self.finished_at else None,
               "cells": self.cell_count, "job_id": self.job_id}
        if with_cells:
            out["cells"] = [c.to_dict() for c in self.cells]
        return out


def _cell_info(row: ComparisonCell) -> CellInfo:
    return CellInfo(id=row.id, run_id=row.run_id, row_index=row.row_index, prompt=row.prompt, model=row.model,
                    variables=dict(row.variables or {}), messages=list(row.messages or []),
                    reference=row.reference, output=row.output, tokens_in=row.tokens_in, tokens_out=row.tokens_out,
                    latency_s=row.latency_s, cost_usd=row.cost_usd, finish_reason=row.finish_reason,
                    scores=dict(row.scores or {}), error=row.error)


def _run_info(row: ComparisonRun, cells: list[ComparisonCell] | None = None, count: int | None = None) -> RunInfo:
    infos: tuple[CellInfo, ...] = ()
    if cells is not None:
        order = {column: n for n, column in enumerate((p, m) for p in row.prompts for m in row.models)}
        infos = tuple(sorted((_cell_info(c) for c in cells),
                             key=lambda c: (c.row_index, order.get((c.prompt, c.model), len(order)), c.id)))
    return RunInfo(id=row.id, name=row.name, status=row.status, prompts=list(row.prompts), models=list(row.models),
                   settings=dict(row.settings or {}), dataset_version=row.dataset_version,
                   reference_column=row.reference_column, rows=row.rows, error=row.error, created_at=row.created_at,
                   created_by=row.created_by, finished_at=row.finished_at,
                   cell_count=len(infos) if cells is not None else (count or 0), cells=infos, job_id=row.job_id)


# --- checking a request ---------------------------------------------------------------------------------

@dataclass
class _Plan:
    prompts: list[Any]  # PromptVersionInfo, in the order asked
    models: list[Any]  # ModelInfo
    rows: list[dict[str, Any]]  # the variables of each input row (every variable any prompt reads)
    references: list[str | None] | None
    metrics: list[str]
    variable_map: dict[str, str]
    dataset_version: str | None
    reference_column: str | None
    source_rows: list[int] | None  # dataset row positions used


def _plain(value: Any, *, missing: Any = "") -> Any:
    """A dataset cell as a JSON-safe Python value; a missing cell becomes `missing`."""
    import numpy as np

    if value is None or value is pd.NA or value is pd.NaT:
        return missing
    if isinstance(value, float) and math.isnan(value):
        return missing
    if isinstance(value, np.ndarray):
        return [_plain(v, missing=None) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v, missing=None) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, missing=None) for k, v in value.items()}
    if isinstance(value, np.generic):
        return _plain(value.item(), missing=missing)
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    return value


def _unique(values: list[str], what: str) -> list[str]:
    cleaned = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    if len(cleaned) != len(values):
        raise InvalidInput(f"Every {what} must be a non-empty name.")
    seen: list[str] = []
    for v in cleaned:
        if v in seen:
            raise InvalidInput(f"'{v}' is chosen twice; choose each {what} once.")
        seen.append(v)
    return seen


def _resolve_metrics(metrics: list[str] | None, has_reference: bool) -> list[str]:
    if metrics is None:
        return (PRESETS["reference"] if has_reference else []) + PRESETS["basic"]
    if isinstance(metrics, str):
        metrics = [metrics]
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise InvalidInput(f"Unknown metric {', '.join(map(repr, unknown))}; valid metrics are {', '.join(METRICS)}.")
    chosen = list(dict.fromkeys(metrics))
    needing = [METRICS[m].label for m in chosen if METRICS[m].needs_reference]
    if needing and not has_reference:
        raise InvalidInput(f"{', '.join(needing)} need{'s' if len(needing) == 1 else ''} a reference; choose a "
                           "reference column, or only metrics without one (length, readability).")
    return chosen


def _variables_needed(prompts: list[Any]) -> list[str]:
    needed: list[str] = []
    for prompt in prompts:
        for name in prompt.variables:
            if name not in needed:
                needed.append(name)
    return needed


def _typed_rows(inputs: Any, prompts: list[Any], reference_column: str | None):
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("Give at least one input: a value for each template variable.")
    if len(inputs) > MAX_ROWS:
        raise InvalidInput(f"There are {len(inputs):,} inputs; a comparison runs on at most {MAX_ROWS}.")
    needed = _variables_needed(prompts)
    rows, references = [], []
    for n, given in enumerate(inputs, start=1):
        if not isinstance(given, dict):
            raise InvalidInput(f"Input {n} must map variable names to values.")
        for prompt in prompts:
            missing = [v for v in prompt.variables if v not in given or given[v] is None]
            if missing:
                where = f"input {n}" if len(inputs) > 1 else "the input"
                raise InvalidInput(f"{prompt.ref} needs a value for {', '.join(map(repr, missing))} in {where}; "
                                   "type one for each variable.")
        rows.append({v: _plain(given[v]) for v in needed})
        if reference_column is not None:
            value = given.get(reference_column)
            references.append(None if value is None or (isinstance(value, str) and not value.strip()) else str(value))
    if reference_column is not None and all(r is None for r in references):
        raise InvalidInput(f"No input has a value for the reference '{reference_column}'; type one or leave the "
                           "reference out.")
    return rows, (references if reference_column is not None else None)


@dataclass(frozen=True)
class RowSelection:
    """Which rows of a dataset version a comparison reads: the first `rows`, a seeded random sample of `rows`
    (`sample_seed`), the first `rows` whose `filter_column` contains `filter_text` (case-insensitive), or the
    rows numbered `row_numbers` (from 1, in that order)."""

    rows: int | None = None
    sample_seed: int | None = None
    filter_column: str | None = None
    filter_text: str | None = None
    row_numbers: tuple[int, ...] | None = None

    @property
    def mode(self) -> str:
        if self.row_numbers:
            return "numbers"
        if self.filter_column:
            return "filter"
        return "sample" if self.sample_seed is not None else "first"

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "sample_seed": self.sample_seed, "filter_column": self.filter_column,
                "filter_text": self.filter_text, "row_numbers": list(self.row_numbers) if self.row_numbers else None}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "RowSelection":
        values = dict(values or {})
        numbers = values.get("row_numbers")
        return cls(rows=values.get("rows"), sample_seed=values.get("sample_seed"),
                   filter_column=values.get("filter_column"), filter_text=values.get("filter_text"),
                   row_numbers=tuple(numbers) if numbers else None)

    def describe(self) -> str:
        if self.mode == "numbers":
            return f"rows {', '.join(str(n) for n in self.row_numbers)}"
        if self.mode == "filter":
            return f"first {self.rows or DEFAULT_DATASET_ROWS} rows whose {self.filter_column} contains " \
                   f"'{self.filter_text or ''}'"
        if self.mode == "sample":
            return f"{self.rows or DEFAULT_DATASET_ROWS} random rows (seed {self.sample_seed})"
        return f"first {self.rows or DEFAULT_DATASET_ROWS} rows"


def parse_row_numbers(text: str) -> tuple[int, ...]:
    """"1, 4, 10-12" -> (1, 4, 10, 11, 12): row numbers from 1, as people type them."""
    numbers: list[int] = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            span = range(int(low), int(high) + 1) if dash else [int(low)]
        except ValueError:
            raise InvalidInput(f"'{part}' is not a row number or a range like 10-12.") from None
        if dash and not len(span):
            raise InvalidInput(f"The range '{part}' is empty; write the lower number first.")
        numbers.extend(n for n in span if n not in numbers)
    if not numbers:
        raise InvalidInput("Type at least one row number, e.g. 1, 4, 10-12.")
    return tuple(numbers)


def _positions(frame: pd.DataFrame, selection: RowSelection, count: int, ref: str) -> list[int]:
    """The row positions (from 0) a selection picks out of a version's frame."""
    total = len(frame)
    if selection.mode == "numbers":
        numbers = list(selection.row_numbers)
        if len(numbers) > MAX_ROWS:
            raise InvalidInput(f"{len(numbers)} row numbers are chosen; a comparison runs on at most {MAX_ROWS}.")
        outside = [n for n in numbers if not isinstance(n, int) or not 1 <= n <= total]
        if outside:
            raise InvalidInput(f"{ref} has rows 1 to {total}; there is no row {outside[0]}.")
        return [n - 1 for n in numbers]
    if selection.mode == "filter":
        if selection.filter_column not in frame.columns:
            raise InvalidInput(f"'{selection.filter_column}' is not a column of {ref}.")
        text = (selection.filter_text or "").strip().lower()
        values = frame[selection.filter_column].astype("string").fillna("").str.lower()
        matching = [int(i) for i in values.index[values.str.contains(text, regex=False)]] if text else \
            list(range(total))
        if not matching:
            raise InvalidInput(f"No row of {ref} has '{selection.filter_text}' in {selection.filter_column}.")
        return matching[:count]
    if selection.mode == "sample":
        import numpy as np

        chosen = np.random.default_rng(int(selection.sample_seed)).choice(total, size=min(count, total),
                                                                           replace=False)
        return sorted(int(i) for i in chosen)
    return list(range(min(count, total)))


def _read_rows(store: Store, actor: Actor, version, columns: list[str], head: int | None) -> pd.DataFrame:
    """Only the columns a comparison reads, and with `head` only the first rows (read batch by batch through
    pyarrow, not the whole file)."""
    import pyarrow.parquet as pq

    from core.data import versions

    require(actor, Permission.VIEW_DATA_ROWS)
    path = versions.object_path(store.settings.datasets_dir, version.sha256)
    if not path.exists():
        raise NotFound(f"The file of {version.ref} is missing from the workbench home ({path}).")
    parquet = pq.ParquetFile(path)
    if head is None:
        return parquet.read(columns=columns).to_pandas()
    import pyarrow as pa

    batches, rows = [], 0
    for batch in parquet.iter_batches(batch_size=max(head, 64), columns=columns):
        batches.append(batch)
        rows += batch.num_rows
        if rows >= head:
            break
    return pa.Table.from_batches(batches).slice(0, head).to_pandas()  # a version has at least one row


def _dataset_rows(store: Store, actor: Actor, ref: str, rows: int | None, variable_map: dict[str, str],
                  prompts: list[Any], reference_column: str | None, selection: RowSelection | None = None):
    from core.data import versions

    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput("Choose a dataset version, written NAME@N.")
    version = versions.get_version(store, actor=actor, ref=ref.strip())
    count = min(version.rows, DEFAULT_DATASET_ROWS) if rows is None else rows
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_ROWS:
        raise InvalidInput(f"The number of rows must be between 1 and {MAX_ROWS}.")
    if version.rows == 0:
        raise InvalidInput(f"{version.ref} has no rows.")
    count = min(count, version.rows)
    columns = version.column_names
    needed = _variables_needed(prompts)
    unknown = [v for v in variable_map if v not in needed]
    if unknown:
        raise InvalidInput(f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not a variable of "
                           f"the chosen prompts (they read {', '.join(needed) or 'no variables'}).")
    for name, column in variable_map.items():
        if column not in columns:
            raise InvalidInput(f"Variable '{name}' is mapped to '{column}', which is not a column of "
                               f"{version.ref} (columns: {', '.join(columns)}).")
    unmapped = [name for name in needed if variable_map.get(name, name) not in columns]
    if unmapped:
        many = len(unmapped) > 1
        raise InvalidInput(f"Template variable{'s' if many else ''} {', '.join(map(repr, unmapped))} "
                           f"{'have' if many else 'has'} no column of the same name in {version.ref}; map "
                           f"{'them' if many else 'it'} to one of: {', '.join(columns)}.")
    mapping = {name: variable_map.get(name, name) for name in needed}
    if reference_column is not None and reference_column not in columns:
        raise InvalidInput(f"The reference column '{reference_column}' is not a column of {version.ref} "
                           f"(columns: {', '.join(columns)}).")
    selection = selection or RowSelection(rows=count)
    wanted = list(dict.fromkeys([*mapping.values(), *([reference_column] if reference_column else []),
                                 *([selection.filter_column] if selection.filter_column in columns else [])]))
    whole = _read_rows(store, actor, version, wanted, head=count if selection.mode == "first" else None)
    positions = _positions(whole, selection, count, version.ref)
    frame = whole.iloc[positions]
    rows_out = [{name: _plain(record[column]) for name, column in mapping.items()}
                for record in frame.to_dict(orient="records")]
    references = None
    if reference_column is not None:
        references = [_plain(v, missing=None) for v in frame[reference_column].tolist()]
        references = [None if v is None else str(v) for v in references]
    return version.ref, rows_out, references, mapping, positions


def _plan(store: Store, actor: Actor, *, prompts, models, inputs, dataset_version, rows, variable_map,
          reference_column, metrics, selection: RowSelection | None = None) -> _Plan:
    from core.inference import engines
    from core.prompts import templates

    require(actor, Permission.RUN_INFERENCE)
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise InvalidInput("Choose at least one prompt version.")
    if not isinstance(models, (list, tuple)) or not models:
        raise InvalidInput("Choose at least one chat model.")
    prompt_refs, model_names = _unique(list(prompts), "prompt version"), _unique(list(models), "model")
    if len(prompt_refs) * len(model_names) > MAX_COLUMNS:
        raise InvalidInput(f"{len(prompt_refs)} prompt versions x {len(model_names)} models make "
                           f"{len(prompt_refs) * len(model_names)} columns; a comparison has at most {MAX_COLUMNS}.")
    resolved = [templates.get_version(store, actor=actor, ref=ref) for ref in prompt_refs]
    pinned = [p.ref for p in resolved]
    if len(set(pinned)) != len(pinned):
        twice = next(r for r in pinned if pinned.count(r) > 1)
        raise InvalidInput(f"Two of the chosen references point to the same version, {twice}; choose it once.")
    model_infos = [engines.chat_model_info(store, actor=actor, name=name) for name in model_names]
    if (inputs is None) == (dataset_version is None):
        raise InvalidInput("Give either typed inputs or a dataset version, not both and not neither.")
    if reference_column is not None and (not isinstance(reference_column, str) or not reference_column.strip()):
        reference_column = None
    variable_map = dict(variable_map or {})
    if inputs is not None:
        if rows is not None:
            raise InvalidInput("The number of rows applies to a dataset version; typed inputs run as given.")
        if variable_map:
            raise InvalidInput("A variable mapping applies to a dataset version; typed inputs name the variables.")
        if selection is not None and selection.mode != "first":
            raise InvalidInput("Sampling, filtering and row numbers apply to a dataset version.")
        row_values, references = _typed_rows(inputs, resolved, reference_column)
        source_ref, mapping, source_rows = None, {}, None
    else:
        source_ref, row_values, references, mapping, source_rows = _dataset_rows(
            store, actor, dataset_version, rows, variable_map, resolved, reference_column, selection)
    chosen = _resolve_metrics(metrics, reference_column is not None)
    return _Plan(prompts=resolved, models=model_infos, rows=row_values, references=references, metrics=chosen,
                 variable_map=mapping, dataset_version=source_ref, reference_column=reference_column,
                 source_rows=source_rows)


def _default_name(plan: _Plan) -> str:
    prompts = ", ".join(p.ref for p in plan.prompts)
    models = ", ".join(m.name for m in plan.models)
    source = plan.dataset_version or "typed input"
    name = f"{prompts} × {models} on {source}"
    return name if len(name) <= 200 else name[:199] + "…"


# --- running --------------------------------------------------------------------------------------------

@dataclass
class _Prepared:
    plan: _Plan
    conversations: list[tuple[int, Any, list[dict]]]
    title: str
    run_settings: dict[str, Any]


def _prepare(store: Store, actor: Actor, *, prompts, models, inputs, dataset_version, rows, variable_map,
             reference_column, settings, metrics, name, selection) -> _Prepared:
    """Checks a request and renders every conversation: a template that fails on some row stops the run before
    anything is stored."""
    if not isinstance(settings, GenerationSettings):
        raise InvalidInput("The generation settings are missing.")
    plan = _plan(store, actor, prompts=prompts, models=models, inputs=inputs, dataset_version=dataset_version,
                 rows=rows, variable_map=variable_map, reference_column=reference_column, metrics=metrics,
                 selection=selection)
    conversations: list[tuple[int, Any, list[dict]]] = []
    for prompt in plan.prompts:
        for index, values in enumerate(plan.rows):
            try:
                messages = prompt.messages({k: values[k] for k in prompt.variables})
            except InvalidInput as exc:
                raise InvalidInput(f"{prompt.ref} on row {index + 1}: {exc.message}", hint=exc.hint) from None
            conversations.append((index, prompt, messages))
    title = (name or "").strip()[:200] or _default_name(plan)
    generation = asdict(settings)
    generation["stop"] = list(settings.stop)
    run_settings = {
        "generation": generation, "metrics": plan.metrics, "variable_map": plan.variable_map,
        "input_mode": "dataset" if plan.dataset_version else "typed", "source_rows": plan.source_rows,
        "requested_prompts": list(prompts), "format_version": EXPORT_FORMAT_VERSION,
    }
    if selection is not None and plan.dataset_version:
        run_settings["row_selection"] = selection.to_dict()
    return _Prepared(plan=plan, conversations=conversations, title=title, run_settings=run_settings)


def check_comparison(store: Store, *, actor: Actor, prompts: list[str], models: list[str],
                     inputs: list[dict[str, Any]] | None = None, dataset_version: str | None = None,
                     rows: int | None = None, variable_map: dict[str, str] | None = None,
                     reference_column: str | None = None, settings: GenerationSettings = GenerationSettings(),
                     metrics: list[str] | None = None, name: str | None = None,
                     selection: RowSelection | None = None) -> tuple[str, int]:
    """Checks a comparison request as `run_comparison` would, without generating or storing anything; returns
    the run's name and how many cells it will make."""
    prepared = _prepare(store, actor, prompts=prompts, models=models, inputs=inputs, dataset_version=dataset_version,
                        rows=rows, variable_map=variable_map, reference_column=reference_column, settings=settings,
                        metrics=metrics, name=name, selection=selection)
    return prepared.title, len(prepared.conversations) * len(prepared.plan.models)


def run_comparison(store: Store, *, actor: Actor, prompts: list[str], models: list[str],
                   inputs: list[dict[str, Any]] | None = None, dataset_version: str | None = None,
                   rows: int | None = None, variable_map: dict[str, str] | None = None,
                   reference_column: str | None = None, settings: GenerationSettings = GenerationSettings(),
                   metrics: list[str] | None = None, name: str | None = None,
                   selection: RowSelection | None = None, progress: Progress | None = None,
                   job_id: int | None = None) -> RunInfo:
    """Runs every prompt version with every model on every input and stores the grid; returns the run with cells.

    `inputs`: typed rows, each a dict of variable -> value (plus the reference under `reference_column`, if
    one is named). `dataset_version`: NAME@N, its first `rows` rows (20 by default; `selection` samples,
    filters or picks rows by number instead), each template variable read from the column `variable_map` names
    (by default the column of the same name). `metrics` default to the reference metrics (when there is a
    reference) plus length and readability. `progress(done, total, note)` hears of every finished cell; a
    JobCancelled raised from it (the job was cancelled) ends the run as cancelled, keeping the cells made.
    Pages and the CLI submit this as a job (core/compare/jobs.py); `job_id` names it.
    """
    from core.inference import engines

    progress = _with_note(progress)
    prepared = _prepare(store, actor, prompts=prompts, models=models, inputs=inputs, dataset_version=dataset_version,
                        rows=rows, variable_map=variable_map, reference_column=reference_column, settings=settings,
                        metrics=metrics, name=name, selection=selection)
    plan, conversations, title, run_settings = (prepared.plan, prepared.conversations, prepared.title,
                                                prepared.run_settings)
    with store.write() as session:
        run = ComparisonRun(name=title, status="running", prompts=[p.ref for p in plan.prompts],
                            models=[m.name for m in plan.models], settings=run_settings,
                            dataset_version=plan.dataset_version, reference_column=plan.reference_column,
                            rows=len(plan.rows), created_by=actor.name, job_id=job_id,
                            **run_owners.this_process())
        session.add(run)
        session.flush()
        run_id = run.id
        audit.record(session=session, actor=actor, action="comparison.run", target_type="comparison_run",
                     target_id=run_id, after={"name": title, "prompts": run.prompts, "models": run.models,
                                              "dataset_version": plan.dataset_version, "rows": len(plan.rows),
                                              "settings": run_settings})
    total = len(conversations) * len(plan.models)
    from core.jobs.run import JobCancelled

    try:
        for number, model in enumerate(plan.models):
            offset = number * len(conversations)
            what = f"model {number + 1} of {len(plan.models)}: {model.name}"
            report = (lambda done, _all, offset=offset, what=what: progress(offset + done, total, what)) \
                if progress else None
            started = time.perf_counter()
            if model.kind != "openai":  # load first (once per process), so that the timing below is generation only
                if progress:
                    progress(offset, total, f"loading {model.name}")
                engines.chat_model_for(store, actor=actor, name=model.name)
            loaded = time.perf_counter()
            generations = engines.complete_chats(store, actor=actor, model=model.name,
                                                 conversations=[c[2] for c in conversations],
                                                 settings=settings, progress=report)
            ended = time.perf_counter()
            _store_cells(store, run_id, plan, model, conversations, generations, ended - loaded, ended - started)
            if progress:
                progress(offset + len(conversations), total, f"{what} done")
    except JobCancelled:
        _finish(store, actor, run_id, "cancelled", "Cancelled before every cell was made; the cells made are kept.")
        raise
    except BaseException as exc:
        message = exc.message if isinstance(exc, WorkbenchError) else \
            f"Unexpected failure ({type(exc).__name__}); see the workbench log."
        _finish(store, actor, run_id, "failed", message[:2000])
        raise
    _finish(store, actor, run_id, "succeeded", None)
    return get_run(store, actor=actor, run_id=run_id)


def _store_cells(store: Store, run_id: int, plan: _Plan, model, conversations, generations, generating: float,
                 wall: float) -> None:
    """Saves a model's cells; `generating` is the time its answers took, `wall` that plus loading the model."""
    from core.inference import engines
    from core.metrics import score_pairs

    outputs = [g.output for g in generations]
    references = None if plan.references is None else [plan.references[index] for index, _, _ in conversations]
    scores = score_pairs(outputs, references, plan.metrics) if plan.metrics else {}
    with store.write() as session:
        for n, ((index, prompt, messages), generation) in enumerate(zip(conversations, generations)):
            session.add(ComparisonCell(
                run_id=run_id, row_index=index, prompt=prompt.ref, model=model.name, variables=plan.rows[index],
                messages=messages, reference=None if references is None else references[n],
                output=generation.output, tokens_in=generation.tokens_in, tokens_out=generation.tokens_out,
                latency_s=round(generation.latency_s, 6),
                cost_usd=engines.cost_usd(model, generation.tokens_in, generation.tokens_out),
                finish_reason=generation.finish_reason,
                scores={metric: values[n] for metric, values in scores.items()}))
        # Answers are generated together (continuous batching, concurrent requests), so their latencies overlap:
        # the model's throughput is its tokens over the time the whole batch took, without loading the model.
        run = session.get(ComparisonRun, run_id)
        timing = dict(run.settings.get("model_timing") or {})
        timing[model.name] = {"seconds": round(generating, 4), "wall_seconds": round(wall, 4),
                              "tokens_out": sum(g.tokens_out for g in generations), "answers": len(generations)}
        run.settings = {**run.settings, "model_timing": timing}
        session.add(run)


def _finish(store: Store, actor: Actor, run_id: int, status: str, error: str | None) -> None:
    with store.write() as session:
        run = session.get(ComparisonRun, run_id)
        if run is None:
            return
        run.status, run.error, run.finished_at = status, error, utcnow()
        session.add(run)
        if status == "failed":
            audit.record(session=session, actor=actor, action="comparison.fail", target_type="comparison_run",
                         target_id=run_id, detail=error)


# --- reading --------------------------------------------------------------------------------------------

def _fail_orphans(store: Store) -> None:
    """A run whose process died (killed, restarted) reads as failed, not as running for ever."""
    run_owners.fail_orphans(store, ComparisonRun, action="comparison.interrupted", target_type="comparison_run")


def list_runs(store: Store, *, actor: Actor, limit: int = 200) -> list[RunInfo]:
    """Newest first, without their cells (cell_count says how many)."""
    require(actor, Permission.RUN_INFERENCE)
    _fail_orphans(store)
    with store.read() as session:
        rows = session.exec(select(ComparisonRun).order_by(col(ComparisonRun.created_at).desc(),
                                                           col(ComparisonRun.id).desc()).limit(limit)).all()
        counts = dict(session.exec(select(ComparisonCell.run_id, func.count())
                                   .where(col(ComparisonCell.run_id).in_([r.id for r in rows]))
                                   .group_by(ComparisonCell.run_id)).all()) if rows else {}
        return [_run_info(r, count=counts.get(r.id, 0)) for r in rows]


def count_runs(store: Store) -> int:
    with store.read() as session:
        return session.exec(select(func.count()).select_from(ComparisonRun)).one()


def _parse_id(run_id: Any) -> int:
    text = str(run_id).strip().lstrip("#")
    if not text.isdigit():
        raise InvalidInput(f"'{run_id}' is not a comparison run id; run ids are numbers (see `workbench compare list`).")
    return int(text)


def get_run(store: Store, *, actor: Actor, run_id: int | str) -> RunInfo:
    """The run with all its cells, ordered by row, then prompt, then model."""
    require(actor, Permission.RUN_INFERENCE)
    number = _parse_id(run_id)
    _fail_orphans(store)
    with store.read() as session:
        run = session.get(ComparisonRun, number)
        if run is None:
            raise NotFound(f"There is no comparison run {number}.", hint="`workbench compare list` shows them.")
        cells = session.exec(select(ComparisonCell).where(ComparisonCell.run_id == number)).all()
        return _run_info(run, cells=list(cells))


def run_of_job(store: Store, *, actor: Actor, job_id: int) -> RunInfo | None:
    """The run a comparison job made (with the cells stored so far), or None before it has started."""
    require(actor, Permission.RUN_INFERENCE)
    with store.read() as session:
        run = session.exec(select(ComparisonRun).where(ComparisonRun.job_id == int(job_id))).first()
        if run is None:
            return None
        cells = session.exec(select(ComparisonCell).where(ComparisonCell.run_id == run.id)).all()
        return _run_info(run, cells=list(cells))


def delete_run(store: Store, *, actor: Actor, run_id: int | str) -> RunInfo:
    """Deletes a run and its cells: its creator or an admin."""
    require(actor, Permission.RUN_INFERENCE)
    number = _parse_id(run_id)
    with store.write() as session:
        run = session.get(ComparisonRun, number)
        if run is None:
            raise NotFound(f"There is no comparison run {number}.")
        if run.created_by != actor.name and actor.role is not Role.ADMIN:
            raise PermissionDenied(f"Run {number} belongs to {run.created_by}; only they or an admin may delete it.")
        info = _run_info(run)
        for cell in session.exec(select(ComparisonCell).where(ComparisonCell.run_id == number)).all():
            session.delete(cell)
        session.flush()
        session.delete(run)
        audit.record(session=session, actor=actor, action="comparison.delete", target_type="comparison_run",
                     target_id=number, before={"name": info.name, "prompts": info.prompts, "models": info.models})
    return info


# --- views of a run -------------------------------------------------------------------------------------

def input_text(variables: dict[str, Any], limit: int = 300) -> str:
    """A row's input as one line: `name: value; ...`, cut at `limit` characters."""
    text = "; ".join(f"{k}: {v}" for k, v in variables.items())
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def cells_frame(run: RunInfo) -> pd.DataFrame:
    """One row per cell: where it sits, the output, its figures and one column per metric."""
    records = []
    for c in run.cells:
        record = {"cell_id": c.id, "row": c.row_index + 1, "prompt": c.prompt, "model": c.model, "column": c.column,
                  "input": input_text(c.variables), "reference": c.reference, "output": c.output,
                  "tokens_in": c.tokens_in, "tokens_out": c.tokens_out, "latency_s": c.latency_s,
                  "tokens_per_s": c.tokens_per_s, "cost_usd": c.cost_usd, "finish_reason": c.finish_reason}
        for metric in run.metrics:
            record[metric] = c.scores.get(metric)
        records.append(record)
    columns = ["cell_id", "row", "prompt", "model", "column", "input", "reference", "output", "tokens_in",
               "tokens_out", "latency_s", "tokens_per_s", "cost_usd", "finish_reason", *run.metrics]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for metric in run.metrics:
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce")
    return frame


def grid_frame(run: RunInfo, *, sort_metric: str | None = None, sort_column: str | None = None,
               descending: bool = True, score_range: tuple[float, float] | None = None,
               filter_metric: str | None = None, filter_column: str | None = None) -> pd.DataFrame:
    """One row per input and one output column per prompt x model, as on screen.

    Rows can be sorted by one column's score (`sort_metric` of `sort_column`) and kept only where a score
    lies in `score_range` (`filter_metric`; in `filter_column`, or in any column when it is None).
    """
    frame = cells_frame(run)
    labels = [column_label(p, m) for p, m in run.columns]
    index = sorted(frame["row"].unique().tolist()) if len(frame) else []
    grid = pd.DataFrame({"row": index})
    first = frame.drop_duplicates("row").set_index("row")
    grid["input"] = [first.at[r, "input"] for r in index]
    if run.reference_column:
        grid["reference"] = [first.at[r, "reference"] for r in index]
    for label in labels:
        outputs = frame[frame["column"] == label].set_index("row")["output"]
        grid[label] = [outputs.get(r) for r in index]
    keep = pd.Series(True, index=grid.index)
    if filter_metric is not None and score_range is not None:
        _check_metric(run, filter_metric)
        low, high = score_range
        chosen = frame if filter_column is None else frame[frame["column"] == _check_column(run, filter_column)]
        inside = chosen[(chosen[filter_metric] >= low) & (chosen[filter_metric] <= high)]["row"].unique()
        keep = grid["row"].isin(inside)
    if sort_metric is not None:
        _check_metric(run, sort_metric)
        column = _check_column(run, sort_column or labels[0])
        values = frame[frame["column"] == column].set_index("row")[sort_metric]
        grid["_key"] = [values.get(r) for r in index]
        grid = grid.sort_values("_key", ascending=not descending, na_position="last", kind="stable").drop(columns="_key")
        keep = keep.loc[grid.index]
    return grid[keep].reset_index(drop=True)


def _check_metric(run: RunInfo, metric: str) -> str:
    if metric not in run.metrics:
        raise InvalidInput(f"Run {run.id} has no '{metric}' scores (it has: {', '.join(run.metrics) or 'none'}).")
    return metric


def _check_column(run: RunInfo, column: str) -> str:
    labels = [column_label(p, m) for p, m in run.columns]
    if column not in labels:
        raise InvalidInput(f"Run {run.id} has no column '{column}'.")
    return column


@dataclass(frozen=True)
class RunSummary:
    """The summary row of every grid column: mean scores, speed, cost and win counts by one metric."""

    run_id: int
    metric: str | None  # the metric that decides wins; None when the run has no scores
    rows: list[dict[str, Any]]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "win_metric": self.metric, "columns": self.rows}


def _mean(values) -> float | None:
    present = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(present) / len(present) if present else None


def _throughput(run: RunInfo, model: str) -> float | None:
    """Tokens per second the model generated over the whole run (all its answers, all prompt versions)."""
    timing = (run.settings.get("model_timing") or {}).get(model)
    if not timing or not timing.get("seconds"):
        return None
    return timing["tokens_out"] / timing["seconds"]


def default_win_metric(run: RunInfo) -> str | None:
    """The first reference metric of the run, else its first metric."""
    for metric in run.metrics:
        if METRICS[metric].needs_reference:
            return metric
    return run.metrics[0] if run.metrics else None


def summary(run: RunInfo, *, metric: str | None = None) -> RunSummary:
    """Per prompt x model column: cells, mean of each score, mean latency and tokens/s, tokens, total cost, the
    model's throughput over the run, and how many rows it won by `metric` (alone: `wins`; sharing the best value:
    `ties`)."""
    metric = default_win_metric(run) if metric is None else _check_metric(run, metric)
    by_column: dict[tuple[str, str], list[CellInfo]] = {column: [] for column in run.columns}
    for cell in run.cells:
        by_column.setdefault((cell.prompt, cell.model), []).append(cell)
    wins = {column: 0 for column in by_column}
    ties = {column: 0 for column in by_column}
    if metric is not None:
        better = max if METRICS[metric].higher_is_better else min
        by_row: dict[int, list[tuple[tuple[str, str], float]]] = {}
        for cell in run.cells:
            value = cell.scores.get(metric)
            if value is not None:
                by_row.setdefault(cell.row_index, []).append(((cell.prompt, cell.model), float(value)))
        for entries in by_row.values():
            if len(by_column) < 2:
                break
            best = better(v for _, v in entries)
            leaders = [column for column, v in entries if v == best]
            for column in leaders:
                if len(leaders) == 1:
                    wins[column] += 1
                else:
                    ties[column] += 1
    rows = []
    for (prompt, model), cells in by_column.items():
        row: dict[str, Any] = {"column": column_label(prompt, model), "prompt": prompt, "model": model,
                               "cells": len(cells)}
        for name in run.metrics:
            row[name] = _mean(c.scores.get(name) for c in cells)
        row.update({
            "mean_latency_s": _mean(c.latency_s for c in cells),
            "mean_tokens_per_s": _mean(c.tokens_per_s for c in cells),
            "tokens_in": sum(c.tokens_in or 0 for c in cells),
            "tokens_out": sum(c.tokens_out or 0 for c in cells),
            "cost_usd": sum(c.cost_usd or 0.0 for c in cells),
            "model_tokens_per_s": _throughput(run, model),
            "wins": wins.get((prompt, model), 0),
            "ties": ties.get((prompt, model), 0),
        })
        rows.append(row)
    return RunSummary(run_id=run.id, metric=metric, rows=rows)


_WORD = re.compile(r"\s*\S+")


def word_diff(a_text: str | None, b_text: str | None) -> list[tuple[str, str]]:
    """Word-level diff of two texts as (op, text) segments, op being "equal", "delete" (only in a) or "insert"
    (only in b). Words compare without their surrounding whitespace; each segment keeps the whitespace before
    its words, so joining the equal and delete segments gives `a_text` back (trailing whitespace aside)."""
    a_words, b_words = _WORD.findall(a_text or ""), _WORD.findall(b_text or "")
    matcher = difflib.SequenceMatcher(a=[w.strip() for w in a_words], b=[w.strip() for w in b_words], autojunk=False)
    segments: list[tuple[str, str]] = []

    def add(op: str, text: str) -> None:
        if not text:
            return
        if segments and segments[-1][0] == op:
            segments[-1] = (op, segments[-1][1] + text)
        else:
            segments.append((op, text))

    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            add("equal", "".join(a_words[i1:i2]))
        else:
            if op in ("delete", "replace"):
                add("delete", "".join(a_words[i1:i2]))
            if op in ("insert", "replace"):
                add("insert", "".join(b_words[j1:j2]))
    return segments


# --- exports --------------------------------------------------------------------------------------------

def _record(run: RunInfo, cell: CellInfo) -> dict[str, Any]:
    """One cell as a self-contained object: everything an annotation queue needs to show and trace it."""
    template, _, version = cell.prompt.rpartition("@")
    source_rows = run.settings.get("source_rows")
    return {
        "format_version": EXPORT_FORMAT_VERSION, "kind": "comparison_cell",
        "run_id": run.id, "run_name": run.name, "cell_id": cell.id, "row_index": cell.row_index,
        "source_row": source_rows[cell.row_index] if source_rows and cell.row_index < len(source_rows) else None,
        "prompt": cell.prompt, "prompt_template": template, "prompt_version": int(version) if version.isdigit() else None,
        "model": cell.model, "variables": cell.variables, "messages": cell.messages, "output": cell.output,
        "reference": cell.reference, "scores": cell.scores, "tokens_in": cell.tokens_in, "tokens_out": cell.tokens_out,
        "latency_s": cell.latency_s, "tokens_per_s": cell.tokens_per_s, "cost_usd": cell.cost_usd,
        "finish_reason": cell.finish_reason, "error": cell.error,
        "generation": run.generation, "metrics": run.metrics, "dataset_version": run.dataset_version,
        "reference_column": run.reference_column, "variable_map": run.settings.get("variable_map") or {},
        "run_status": run.status, "created_at": run.created_at.isoformat(timespec="seconds"),
        "created_by": run.created_by,
    }


CSV_COLUMNS = ("run_id", "run_name", "cell_id", "row_index", "source_row", "prompt", "model", "variables", "messages",
               "reference", "output", "tokens_in", "tokens_out", "latency_s", "tokens_per_s", "cost_usd",
               "finish_reason", "error", "generation", "dataset_version", "reference_column")


def export_run(run: RunInfo, fmt: str = "csv") -> bytes:
    """The run's cells as CSV (one row per cell, spreadsheet formulas neutralised, nested values as JSON text,
    one column per metric) or JSONL (one self-contained object per cell, with every setting)."""
    fmt = (fmt or "").lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"'{fmt}' is not an export format for runs; choose csv or jsonl.")
    records = [_record(run, cell) for cell in run.cells]
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *run.metrics])
    for r in records:
        values = [r[c] for c in CSV_COLUMNS] + [r["scores"].get(m) for m in run.metrics]
        writer.writerow([neutralise_cell(json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v)
                         if v is not None else "" for v in values])
    return buffer.getvalue().encode("utf-8")


def export_bytes(store: Store, *, actor: Actor, run_id: int | str, fmt: str) -> tuple[bytes, str]:
    """The export of a saved run and a file name for it; recorded in the audit log."""
    run = get_run(store, actor=actor, run_id=run_id)
    content = export_run(run, fmt)
    fmt = fmt.lower().lstrip(".")
    with store.write() as session:
        audit.record(session=session, actor=actor, action="comparison.export", target_type="comparison_run",
                     target_id=run.id, after={"format": fmt, "cells": len(run.cells)})
    return content, f"comparison-{run.id}.{fmt}"
