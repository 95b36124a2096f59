"""Pieces of the Compare page: pickers, the generation settings form, the grid, summary, chart, diff and downloads.

Model outputs, prompts and dataset cells are untrusted: they appear only in dataframes, st.text, st.json, or in
Markdown after `inert()`; chart labels are HTML-escaped (Plotly renders a little HTML).
"""
from __future__ import annotations

import dataclasses
import html

import pandas as pd
import plotly.express as px
import streamlit as st

from core.compare import runs
from core.errors import InvalidInput
from core.governance.roles import Actor
from core.inference.generate import GenerationSettings
from core.metrics import METRICS, PRESETS
from core.prompts import templates
from core.prompts.templates import PromptVersionInfo
from core.storage.db import Store
from workbench.ui.text import inert

NUMBER = st.column_config.NumberColumn
FIGURES = {
    "tokens_in": NUMBER("Tokens in", format="%d"), "tokens_out": NUMBER("Tokens out", format="%d"),
    "latency_s": NUMBER("Latency (s)", format="%.2f", help="For local models, the wall time of the batch."),
    "tokens_per_s": NUMBER("Tokens/s", format="%.1f"), "cost_usd": NUMBER("Cost (USD)", format="%.5f"),
    "mean_latency_s": NUMBER("Mean latency (s)", format="%.2f"),
    "mean_tokens_per_s": NUMBER("Mean tokens/s", format="%.1f", help="Per answer: its tokens over its latency."),
    "model_tokens_per_s": NUMBER("Model tokens/s", format="%.1f",
                                 help="The model's throughput over the whole run: all its tokens over its wall time."),
    "wins": NUMBER("Wins", format="%d"), "ties": NUMBER("Ties", format="%d"),
}


def _plain(text) -> str:
    return html.escape(str(text), quote=False)


def prompt_versions(store: Store, actor: Actor) -> dict[str, PromptVersionInfo]:
    """Every version of every template, newest first within a template: {NAME@V: version}."""
    found: dict[str, PromptVersionInfo] = {}
    for template in templates.list_templates(store, actor=actor):
        for version in templates.list_versions(store, actor=actor, name=template.name):
            found[version.ref] = version
    return found


def prompt_label(version: PromptVersionInfo) -> str:
    return version.ref + (f" ({', '.join(version.labels)})" if version.labels else "")


def metric_columns(metrics: list[str]) -> dict:
    return {m: NUMBER(METRICS[m].label, format="%.3f", help=METRICS[m].description) for m in metrics}


def settings_form(prefix: str) -> GenerationSettings:
    """A widget per GenerationSettings field, from its default, bounds and help text; greedy by default."""
    from workbench.ui import forms

    return forms.dataclass_form(GenerationSettings, prefix=prefix)


def settings_label(prefix: str) -> str:
    """The expander's title from the settings as they stand (the widgets' values, else the defaults)."""
    defaults = GenerationSettings()
    values = {f.name: st.session_state.get(f"{prefix}.{f.name}", getattr(defaults, f.name))
              for f in dataclasses.fields(GenerationSettings)}
    temperature = float(values["temperature"] or 0.0)
    mode = "greedy" if temperature == 0 else f"temperature {temperature:g}, top-p {float(values['top_p']):g}, " \
                                              f"seed {int(values['seed'])}"
    return f"Generation settings ({mode}, {int(values['max_new_tokens'])} new tokens)"


ROW_MODES = {"first": "First rows", "sample": "Random sample", "filter": "Rows where a column contains",
             "numbers": "Row numbers"}


def row_selection(version, prefix: str) -> tuple[int | None, runs.RowSelection | None]:
    """Widgets for which rows of `version` to run: the first K, a seeded random sample of K, the first K whose
    column contains a text, or rows by number. Returns (rows, selection); selection None when the input is not
    understood (said on the page)."""
    mode = st.radio("Which rows", list(ROW_MODES), format_func=ROW_MODES.get, horizontal=True,
                    key=f"{prefix}.row_mode")
    if mode == "numbers":
        text = st.text_input("Row numbers (from 1)", "1", key=f"{prefix}.row_numbers",
                             help=f"For example 1, 4, 10-12; {version.ref} has {version.rows:,} rows.")
        try:
            return None, runs.RowSelection(row_numbers=runs.parse_row_numbers(text))
        except InvalidInput as exc:
            st.error(inert(exc.message))
            return None, None
    c1, c2, c3 = st.columns([1, 1, 2])
    rows = int(c1.number_input("Rows", 1, min(runs.MAX_ROWS, max(version.rows, 1)), min(version.rows, 20) or 1,
                               key=f"{prefix}.rows"))
    if mode == "sample":
        seed = int(c2.number_input("Seed", 0, 2**31 - 1, 0, key=f"{prefix}.seed",
                                   help="The same seed picks the same rows."))
        return rows, runs.RowSelection(rows=rows, sample_seed=seed)
    if mode == "filter":
        column = c2.selectbox("Column", version.column_names, key=f"{prefix}.filter_column")
        text = c3.text_input("contains", key=f"{prefix}.filter_text", help="Case does not matter.")
        return rows, runs.RowSelection(rows=rows, filter_column=column, filter_text=text)
    return rows, runs.RowSelection(rows=rows)


def job_panel(store: Store, actor: Actor, job) -> bool:
    """A running comparison job: progress per cell, what it is doing, the cells made so far, and Cancel.
    Returns True once the job has ended."""
    from core.jobs import actions, queue

    progress = actions.progress(job)
    cells = f"{progress.done}/{progress.total} cells" if progress.total else "starting"
    note = f" · {inert(progress.note)}" if progress.note else ""
    st.progress(progress.fraction, text=f"Job {job.id} {job.status}: {cells}{note}")
    if job.status in queue.FINISHED:
        return True
    if actions.can_cancel(job) and st.button("Cancel this comparison", key=f"compare.cancel.{job.id}"):
        actions.cancel(store, actor=actor, job_id=job.id)
        st.rerun()
    partial = runs.run_of_job(store, actor=actor, job_id=job.id)
    if partial is not None and partial.cells:
        st.caption(f"{len(partial.cells)} cells stored so far (each model's answers are stored when it finishes).")
        grid_table(partial, runs.grid_frame(partial))
    return False


def typed_reference_key(variables: list[str]) -> str:
    """Where a typed reference answer goes in the input row: `reference`, unless a template reads that name."""
    return "reference" if "reference" not in variables else "reference_answer"


def default_metrics(has_reference: bool) -> list[str]:
    return (PRESETS["reference"] if has_reference else []) + PRESETS["basic"]


def run_header(run: runs.RunInfo) -> None:
    st.caption(f"Run {run.id} · {inert(run.status)} · {inert(run.source)} · by {inert(run.created_by)} on "
               f"{run.created_at:%Y-%m-%d %H:%M} UTC · {len(run.cells)} cells")
    if run.status == "failed":
        st.error(f"This run failed: {inert(run.error or 'no reason recorded')}")
    elif run.status == "running":
        st.info("This run is still running (or was interrupted); its cells so far are shown.")
    elif run.status == "cancelled":
        st.warning(f"This run was cancelled: {inert(run.error or '')}")
    with st.expander("Every setting of this run"):
        st.json({"prompts": run.prompts, "models": run.models, "dataset_version": run.dataset_version,
                 "reference_column": run.reference_column, "rows": run.rows, **run.settings}, expanded=True)


def summary_table(report: runs.RunSummary, metrics: list[str]) -> None:
    frame = report.to_frame().drop(columns=["prompt", "model"])
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"column": st.column_config.TextColumn("Prompt · model"), "cells": NUMBER("Cells"),
                                "tokens_in": NUMBER("Tokens in", format="%d"),
                                "tokens_out": NUMBER("Tokens out", format="%d"),
                                "cost_usd": NUMBER("Total cost (USD)", format="%.5f"),
                                **FIGURES, **metric_columns(metrics)})
    st.caption("Answers are generated together (local models decode many at once), so an answer's latency includes "
               "waiting for its batch: compare speed by model tokens/s, the model's tokens over its generating time. "
               "Wins count the rows where a column alone has the best score; ties share it.")


def mean_scores_chart(report: runs.RunSummary, metrics: list[str]) -> None:
    """Mean of each score per prompt x model column, one panel per metric (each on its own scale)."""
    rows = [{"column": _plain(r["column"]), "metric": METRICS[m].label, "mean": r[m]}
            for r in report.rows for m in metrics if r.get(m) is not None]
    if not rows:
        st.caption("No scores to chart.")
        return
    frame = pd.DataFrame(rows)
    figure = px.bar(frame, x="column", y="mean", color="column", facet_col="metric", facet_col_wrap=4,
                    labels={"column": "", "mean": "Mean"}, title="Mean score per prompt · model")
    figure.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    figure.update_yaxes(matches=None, showticklabels=True, rangemode="tozero")
    figure.update_xaxes(showticklabels=False)
    panels = (len(set(frame["metric"])) + 3) // 4
    figure.update_layout(height=120 + 220 * panels, margin=dict(t=60, b=10, l=10, r=10), legend_title_text="")
    st.plotly_chart(figure, width="stretch")


def grid_controls(run: runs.RunInfo) -> dict:
    """Sort and filter pickers; returns the keyword arguments of `runs.grid_frame`."""
    if not run.metrics:
        return {}
    labels = [runs.column_label(p, m) for p, m in run.columns]
    none = "(input order)"
    c1, c2, c3 = st.columns([2, 3, 1], vertical_alignment="bottom")
    sort_metric = c1.selectbox("Sort rows by", [none, *run.metrics], key=f"compare.sort_metric.{run.id}",
                               format_func=lambda m: m if m == none else METRICS[m].label)
    sort_column = c2.selectbox("of column", labels, key=f"compare.sort_column.{run.id}")
    descending = c3.toggle("Best first", value=True, key=f"compare.sort_desc.{run.id}")
    kwargs: dict = {}
    if sort_metric != none:
        higher = METRICS[sort_metric].higher_is_better
        kwargs.update(sort_metric=sort_metric, sort_column=sort_column, descending=descending == higher)
    c1, c2, c3 = st.columns([2, 3, 1], vertical_alignment="bottom")
    filter_metric = c1.selectbox("Show only rows where", ["(all rows)", *run.metrics],
                                 key=f"compare.filter_metric.{run.id}",
                                 format_func=lambda m: m if m.startswith("(") else METRICS[m].label)
    if not filter_metric.startswith("("):
        values = runs.cells_frame(run)[filter_metric].dropna()
        low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        if low == high:
            high = low + 1.0
        chosen = c2.slider("lies between", low, high, (low, high), key=f"compare.filter_range.{run.id}.{filter_metric}")
        where = c3.selectbox("in", ["any column", *labels], key=f"compare.filter_column.{run.id}")
        kwargs.update(filter_metric=filter_metric, score_range=chosen,
                      filter_column=None if where == "any column" else where)
    return kwargs


def grid_table(run: runs.RunInfo, grid: pd.DataFrame) -> None:
    config = {"row": NUMBER("Row", format="%d", width="small", pinned=True),
              "input": st.column_config.TextColumn("Input", width="medium"),
              "reference": st.column_config.TextColumn("Reference", width="medium")}
    for label in grid.columns[3 if "reference" in grid.columns else 2:]:
        config[label] = st.column_config.TextColumn(label, width="large")
    st.dataframe(grid, hide_index=True, width="stretch", column_config=config, row_height=96)
    st.caption(f"{len(grid)} of {run.rows} rows. Outputs are shown as plain text.")


def cells_table(run: runs.RunInfo, rows: list[int]) -> None:
    frame = runs.cells_frame(run)
    frame = frame[frame["row"].isin(rows)].drop(columns=["cell_id", "prompt", "model", "input", "reference"])
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"row": NUMBER("Row", format="%d"), "column": st.column_config.TextColumn("Prompt · model"),
                                "output": st.column_config.TextColumn("Output"), **FIGURES,
                                **metric_columns(run.metrics)})


def inline_diff(segments: list[tuple[str, str]]) -> str:
    """Markdown of a word diff: every piece of text made inert first, then ~~deleted~~ and **inserted** markers."""
    parts = []
    for op, text in segments:
        words = text.strip()
        if not words:
            continue
        shown = " ".join(inert(word) for word in words.split())
        parts.append(shown if op == "equal" else f"~~{shown}~~" if op == "delete" else f"**{shown}**")
    return " ".join(parts)


def diff_view(run: runs.RunInfo) -> None:
    cells = {cell.id: cell for cell in run.cells}
    if len(cells) < 2:
        st.caption("A diff needs two cells.")
        return
    ids = list(cells)
    c1, c2 = st.columns(2)
    first = c1.selectbox("Cell A", ids, key=f"compare.diff_a.{run.id}", format_func=lambda i: cells[i].label)
    second = c2.selectbox("Cell B", ids, index=1, key=f"compare.diff_b.{run.id}", format_func=lambda i: cells[i].label)
    a, b = cells[first], cells[second]
    c1.text(a.output or "")
    c2.text(b.output or "")
    segments = runs.word_diff(a.output, b.output)
    changed = [{"Change": "only in A" if op == "delete" else "only in B", "Words": " ".join(text.split())}
               for op, text in segments if op != "equal"]
    if not changed:
        st.caption("The two outputs have the same words.")
        return
    st.markdown(inline_diff(segments))
    st.dataframe(pd.DataFrame(changed), hide_index=True, width="stretch",
                 column_config={"Change": st.column_config.TextColumn(width="small")})


def downloads(store: Store, actor: Actor, run: runs.RunInfo) -> None:
    """CSV and JSONL downloads, made (and recorded in the audit log) when clicked."""
    row = st.container(horizontal=True)
    for fmt, label in (("csv", "Download CSV"), ("jsonl", "Download JSONL")):
        row.download_button(label, lambda fmt=fmt: runs.export_bytes(store, actor=actor, run_id=run.id, fmt=fmt)[0],
                              file_name=f"comparison-{run.id}.{fmt}", key=f"compare.download.{fmt}",
                              mime="text/csv" if fmt == "csv" else "application/jsonl", on_click="ignore",
                              help="CSV neutralises spreadsheet formulas; JSONL has one object per cell with every "
                                   "setting, ready for an annotation queue.")
