"""Pieces of the Fine-tune page: the config form generated from FinetuneConfig's fields, the pre-flight report, the
training-example preview, the jobs table, the live charts and log tail, the run overlay and the config diff.

Dataset cells, model names, user names and log lines are untrusted: they appear only in dataframes, st.code,
st.text, or in Markdown after `inert()`; chart labels are HTML-escaped (Plotly renders a little HTML).
"""
from __future__ import annotations

import html
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.finetune.config import FIELDS, PRESET_HELP, PRESETS, FinetuneConfig, label_of
from core.finetune.progress import config_diff, eta_seconds, metric_series  # noqa: F401 - the page shows the diff
from core.jobs.queue import ACTIVE, CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED, JobInfo
from core.storage.tables import utcnow
from workbench.ui import errors, forms, tables
from workbench.ui.text import inert

FIELD_PREFIX = "finetune.field."
PRESET_KEY = "finetune.preset"
CHECKED_KEY = "finetune.checked"  # the config (a dict) the user last asked to check
JOB_KEY = "finetune.job"
TAB_KEY = "finetune.tab"
FLASH_KEY = "finetune.flash"
GOTO_KEY = "finetune.goto_job"
CANCELLING_KEY = "finetune.cancelling"
SECTIONS = list(dict.fromkeys(f.metadata["section"] for f in FIELDS.values()))
# Fields every preset decides: a preset sets these (to its value or the field's default), nothing else.
PRESET_FIELDS = sorted({name for values in PRESETS.values() for name in values})
STATUS_ICONS = {QUEUED: ":material/schedule:", RUNNING: ":material/play_circle:", SUCCEEDED: ":material/check_circle:",
                FAILED: ":material/error:", CANCELLED: ":material/cancel:", INTERRUPTED: ":material/pause_circle:"}
CHARTS = (("learning_rate", "Learning rate"), ("grad_norm", "Grad norm"), ("tokens_per_s", "Tokens/s"),
          ("gpu_memory_gb", "GPU memory (GiB)"),
          # Preference tuning (DPO): chosen minus rejected reward, and the share of pairs ranked right.
          ("reward_margin", "Reward margin (DPO)"), ("reward_accuracy", "Reward accuracy (DPO)"))


def _plain(text) -> str:
    return html.escape(str(text), quote=False)


def key_of(name: str) -> str:
    return FIELD_PREFIX + name


# --- the launch form ----------------------------------------------------------------------------------------

def _preset_value(preset: str, name: str) -> Any:
    value = PRESETS[preset].get(name, FIELDS[name].default)
    return float(value) if FIELDS[name].type == "float" else value


def apply_preset() -> None:
    """Callback of the preset picker: every field a preset decides takes the chosen preset's value."""
    preset = st.session_state[PRESET_KEY]
    for name in PRESET_FIELDS:
        st.session_state[key_of(name)] = _preset_value(preset, name)


def init_form(*, models: list[str], refs: list[str], qlora_possible: bool) -> None:
    """Fills the form's keys that have no value yet (first visit, or after Streamlit dropped them): the preset's
    values, the dataclass defaults, the first model and dataset version. Call before the form is drawn."""
    state = st.session_state
    if state.get(PRESET_KEY) not in PRESETS:
        state[PRESET_KEY] = next(iter(PRESETS))
    preset = state[PRESET_KEY]
    for name, f in FIELDS.items():
        key = key_of(name)
        if name == "base_model":
            if state.get(key) not in models:
                state[key] = models[0]
        elif name == "dataset":
            if state.get(key) not in refs:
                state[key] = refs[0]
        elif name == "eval_dataset":
            if state.get(key) not in ["", *refs]:
                state[key] = ""
        elif key not in state:
            state[key] = _preset_value(preset, name) if name in PRESET_FIELDS else f.default
    if not qlora_possible:
        state[key_of("qlora")] = False


def preset_picker() -> str:
    preset = st.selectbox("Preset", list(PRESETS), key=PRESET_KEY, on_change=apply_preset,
                          format_func=str.capitalize,
                          help="Sets the LoRA rank, learning rate, length of the run, sequence length and batch. "
                               + " ".join(f"{p.capitalize()}: {h}" for p, h in PRESET_HELP.items()))
    st.caption(PRESET_HELP[preset])
    return preset


def _float_step(default: float) -> float:
    """A step of the order of the default: 2e-4 -> 1e-4, 0.05 -> 0.01, 1.0 -> 1.0."""
    if not default:
        return 0.01
    return float(10 ** math.floor(math.log10(abs(default))))


def _field_input(name: str, *, models: list[str], refs: list[str], qlora_possible: bool) -> Any:
    """The kit's widget for a FinetuneConfig field (workbench/ui/forms.py: bounds, choices and help from the
    field's metadata); the page adds the choices known at run time and the QLoRA note."""
    f = FIELDS[name]
    disabled = name == "qlora" and not qlora_possible
    value = forms.field_input(
        f, key=key_of(name), label=label_of(name),
        options={"base_model": models, "dataset": refs, "eval_dataset": ["", *refs]}.get(name),
        format_func=(lambda ref: ref or "None: hold out a share of the training data") if name == "eval_dataset" else None,
        disabled=disabled, step=_float_step(f.default) if f.type == "float" else None)
    if disabled:
        st.caption("QLoRA needs a CUDA GPU and this machine has none.")
    return value


def config_form(*, models: list[str], refs: list[str], qlora_possible: bool) -> dict[str, Any]:
    """One widget per FinetuneConfig field, grouped by section, advanced ones folded away; returns the values."""
    values: dict[str, Any] = {}
    for section in SECTIONS:
        names = [n for n, f in FIELDS.items() if f.metadata["section"] == section]
        basic = [n for n in names if not FIELDS[n].metadata.get("advanced")]
        advanced = [n for n in names if FIELDS[n].metadata.get("advanced")]
        with st.container(border=True):
            st.markdown(f"**{section}**")
            for group, folded in ((basic, False), (advanced, True)):
                if not group:
                    continue
                with st.expander(f"{section}: more settings") if folded else st.container():
                    columns = st.columns(3)
                    for index, name in enumerate(group):
                        with columns[index % 3]:
                            values[name] = _field_input(name, models=models, refs=refs, qlora_possible=qlora_possible)
    return values


def config_json(config: FinetuneConfig) -> str:
    """What `workbench finetune run --config FILE` reads."""
    return json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"


# --- pre-flight -----------------------------------------------------------------------------------------------

def checks(result) -> None:
    for check in result.checks:
        show = {"error": st.error, "warning": st.warning}.get(check.level, st.info)
        show(inert(check.message))
    if result.ok and not any(c.level == "warning" for c in result.checks):
        st.success("Every check passed.")


def _duration(minutes: float) -> str:
    if minutes < 1:
        return "< 1 min"
    if minutes < 90:
        return f"~{minutes:.0f} min"
    return f"~{minutes / 60:.1f} h"


def estimate(values: dict[str, Any], *, gpu: bool) -> None:
    if not values:
        st.caption("No estimate: it needs a usable base model and training dataset.")
        return
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Optimizer steps", f"{values['steps']:,}")
    c2.metric("Time", _duration(values["minutes"]))
    c3.metric("GPU memory" if gpu else "Memory", f"{values['memory_gb']:.1f} GiB")
    c4.metric("Trained tokens", tables.human_count(values["trained_tokens"]))
    truncated = values.get("truncated_share") or 0
    st.caption(("Estimate" if values.get("how") == "measured" else "Rough guess")
               + f"; it assumes {inert(values['assumes'])}."
               + (f" About {truncated:.0%} of the examples are longer than the max sequence length." if truncated
                  else ""))


def _example_rows(frame: pd.DataFrame, report, conversation_of, count: int) -> list[tuple[int, list[dict]]]:
    found = []
    for index, (_, row) in enumerate(frame.iterrows()):
        messages = conversation_of(row, report)
        if messages:
            found.append((index + 1, messages))
        if len(found) >= count or index >= 500:
            break
    return found


def preview(store, actor, config: FinetuneConfig, *, count: int = 3) -> None:
    """The first few training examples as the base model reads them: its chat template applied to the context,
    then the reply it learns to write (the loss covers only the assistant's tokens)."""
    from core.data import versions
    from core.finetune.examples import conversation_of, resolve_format
    from core.inference import engines

    with errors.shown_to_user():
        version = versions.get_version(store, actor=actor, ref=config.dataset)
        frame = versions.load_frame(store, actor=actor, version=version)
        report = resolve_format(frame, config)
        found = _example_rows(frame, report, conversation_of, count)
        if not found:
            st.info("No row of this dataset fits the format, so there is nothing to preview.")
            return
        st.caption(f"{report.format.replace('_', '/')} format from column(s) "
                   f"{', '.join(inert(c) for c in report.columns.values())}. The model reads the context below, "
                   "rendered with its chat template; the loss is computed only on the assistant's replies.")
        for number, messages in found:
            last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
            context = engines.chat_prompt_text(store, actor=actor, model=config.base_model,
                                               messages=messages[:last]) if last else ""
            with st.container(border=True):
                st.markdown(f"**Row {number:,}** of {inert(version.ref)}")
                st.caption("Context (no loss)")
                st.code(context if context is not None else "(an endpoint applies its own chat template)",
                        language="text", wrap_lines=True)
                st.caption("Learns to write (trained)")
                st.code(messages[last]["content"], language="text", wrap_lines=True)


# --- jobs -----------------------------------------------------------------------------------------------------

def job_label(job: JobInfo) -> str:
    # No status here: a picker's labels are not redrawn while the job moves on, the table and job view say it.
    return f"Job {job.id} · {job.name} · by {job.created_by}"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _elapsed(job: JobInfo) -> str:
    if not job.started_at:
        return ""
    seconds = ((job.finished_at or utcnow()) - job.started_at).total_seconds()
    return clock(seconds)


def clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def jobs_table_live(store, actor, filters: dict, *, live: bool) -> None:
    """The jobs table; while a shown job is queued or running it is read again every 2 s, like the live panel
    below it, so both show the same step."""
    from core.jobs import queue

    def draw() -> None:
        jobs_table(queue.list_jobs(store, actor=actor, **filters))

    if live:
        st.fragment(draw, run_every=2)()
    else:
        draw()


def jobs_table(jobs: list[JobInfo]) -> None:
    from core.jobs import actions as job_actions

    figures = {job.id: job_actions.progress(job) for job in jobs}
    tables.show([{
        "Job": job.id, "Name": job.name, "Status": job.status,
        "Progress": figures[job.id].fraction if job.max_steps else None,
        "Step": f"{job.step:,} / {job.max_steps:,}" if job.max_steps else f"{job.step:,}",
        "Launched by": job.created_by, "Created (UTC)": _when(job.created_at), "Run time": _elapsed(job),
        "Eval loss": job.metrics.get("eval_loss"), "Adapter": job.model or "",
    } for job in jobs], column_config={
        "Job": st.column_config.NumberColumn("Job", format="%d"),
        "Progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent"),
        "Eval loss": st.column_config.NumberColumn("Eval loss", format="%.4f"),
    })


def status_line(job: JobInfo) -> None:
    st.markdown(f"{STATUS_ICONS.get(job.status, '')} **Job {job.id}: {job.status}** · {inert(job.name)}")
    parts = [f"launched by {inert(job.created_by)} on {_when(job.created_at)} UTC"]
    if job.attempt > 1:
        parts.append(f"attempt {job.attempt}")
    if job.devices:
        parts.append("GPU " + ", ".join(map(str, job.devices)))
    elif job.status == RUNNING:
        parts.append("on CPU")
    if job.started_at and job.status not in ACTIVE:  # while it runs, the live progress line says it
        parts.append(f"run time {_elapsed(job)}")
    st.caption(" · ".join(parts))


def progress(job: JobInfo, rows: list[dict]) -> None:
    """The live progress bar: the same figures as the jobs table (core.jobs.actions.progress), the pace from the
    training log."""
    from core.jobs import actions as job_actions

    if job.status == QUEUED:
        st.progress(0.0, text="Queued: it starts when a GPU (or, without one, the CPU) is free.")
        return
    if not job.max_steps:
        if job.status == RUNNING:
            st.progress(0.0, text="Preparing the data and loading the model...")
        return
    figures = job_actions.progress(job)
    text = f"Step {figures.done:,} of {figures.total:,}"
    if job.status == RUNNING:
        text += f" · {_elapsed(job)} elapsed"
        if (eta := eta_seconds(job, rows)) is not None:
            text += f" · about {clock(eta)} left"
    st.progress(figures.fraction, text=text)


def _figure(title: str, y_title: str, height: int = 260) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=_plain(title), xaxis_title="Step", yaxis_title=_plain(y_title), height=height,
                         margin=dict(t=40, b=10, l=10, r=10),
                         legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"))
    return figure


def loss_figure(rows: list[dict]) -> go.Figure | None:
    figure = _figure("Loss", "Loss")
    for metric, name, mode in (("loss", "Training loss", "lines"), ("eval_loss", "Eval loss", "lines+markers")):
        steps, values = metric_series(rows, metric)
        if steps:
            figure.add_trace(go.Scatter(x=steps, y=values, name=name, mode=mode))
    return figure if figure.data else None


def metric_figure(rows: list[dict], metric: str, title: str) -> go.Figure | None:
    steps, values = metric_series(rows, metric)
    if not steps:
        return None
    figure = _figure(title, title)
    figure.add_trace(go.Scatter(x=steps, y=values, name=title, mode="lines"))
    figure.update_layout(showlegend=False)
    return figure


def metric_charts(rows: list[dict], *, key: str) -> None:
    """Loss and eval loss, then learning rate, grad norm, tokens/s and GPU memory, per step."""
    if not rows:
        st.caption("No training step has been logged yet.")
        return
    figures = [f for f in [loss_figure(rows), *(metric_figure(rows, m, t) for m, t in CHARTS)] if f is not None]
    for start in range(0, len(figures), 2):
        columns = st.columns(2)
        for offset, figure in enumerate(figures[start:start + 2]):
            columns[offset].plotly_chart(figure, width="stretch", key=f"{key}.chart.{start + offset}")


def log_tail(path: Path, lines: int = 30, max_bytes: int = 64_000) -> str | None:
    """The last `lines` lines of a (possibly large, still growing) log file; None when there is none yet."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(size - max_bytes, 0))
            data = handle.read()
    except FileNotFoundError:
        return None
    text = data.decode("utf-8", errors="replace")
    if size > max_bytes:
        text = text.split("\n", 1)[-1]  # the first line was cut
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])


def log_view(job: JobInfo) -> None:
    from core.finetune.logview import readable_lines

    raw = log_tail(job.log_path, lines=2000, max_bytes=256_000)
    view = readable_lines(raw or "", last=30)
    st.caption("The log's last steps, evaluations, checkpoints, messages and warnings that matter"
               + (f" ({view.hidden:,} lines of library warnings and progress bars left out)" if view.hidden else "")
               + f"; `workbench jobs logs {job.id}` prints the whole log.")
    st.code(view.text or "(nothing logged yet)", language="text")
    if raw:
        with st.expander("Raw log (last 200 lines)", icon=":material/notes:"):
            st.code(log_tail(job.log_path, lines=200), language="text")


FINAL_METRICS = (("train_loss", "Training loss", "{:.4f}"), ("eval_loss", "Eval loss", "{:.4f}"),
                 ("steps", "Steps", "{:,}"), ("trained_tokens", "Trained tokens", "{:,}"),
                 ("tokens_per_s", "Tokens/s", "{:,.1f}"), ("runtime_s", "Training time", None),
                 ("peak_gpu_memory_gb", "Peak GPU memory (GiB)", "{:.1f}"),
                 ("reward_margin", "Reward margin (DPO)", "{:.3f}"), ("reward_accuracy", "Reward accuracy (DPO)",
                                                                       "{:.0%}"))


def final_metrics(job: JobInfo) -> None:
    shown = [(label, job.metrics[key], fmt) for key, label, fmt in FINAL_METRICS
             if isinstance(job.metrics.get(key), (int, float))]
    if not shown:
        return
    columns = st.columns(len(shown))
    for column, (label, value, fmt) in zip(columns, shown):
        column.metric(label, clock(value) if fmt is None else fmt.format(value))
    extra = {k: v for k, v in job.metrics.items() if k in ("resumed_from", "target_modules") and v}
    if extra:
        st.caption(" · ".join(f"{k.replace('_', ' ')}: {inert(', '.join(v) if isinstance(v, list) else v)}"
                              for k, v in extra.items()))


# --- comparing runs -------------------------------------------------------------------------------------------

def loss_overlay(runs: dict[str, list[dict]]) -> None:
    """Training loss (lines) and eval loss (dashed, with markers) of several runs on one chart."""
    figure = _figure("Loss of the chosen runs", "Loss", height=380)
    for index, (label, rows) in enumerate(runs.items()):
        colour = _PALETTE[index % len(_PALETTE)]
        steps, values = metric_series(rows, "loss")
        if steps:
            figure.add_trace(go.Scatter(x=steps, y=values, name=_plain(f"{label} loss"), mode="lines",
                                        line=dict(color=colour)))
        steps, values = metric_series(rows, "eval_loss")
        if steps:
            figure.add_trace(go.Scatter(x=steps, y=values, name=_plain(f"{label} eval"), mode="lines+markers",
                                        line=dict(color=colour, dash="dash")))
    if not figure.data:
        st.caption("None of these runs has logged a loss yet.")
        return
    st.plotly_chart(figure, width="stretch", key="finetune.compare.chart")


_PALETTE = ("#3b5bdb", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#1098ad", "#f08c00", "#495057")


# --- one job: actions, live view, outcome ----------------------------------------------------------------------

def _forget_cancel() -> None:
    st.session_state.pop(CANCELLING_KEY, None)


def done(message: str) -> None:
    """Reruns the page so the table and the job view show the change, then shows `message` (already inert)."""
    st.session_state[FLASH_KEY] = message
    st.rerun()


@st.dialog("Cancel a fine-tune", on_dismiss=_forget_cancel)
def confirm_cancel(store, actor, job: JobInfo) -> None:
    from core.jobs import actions as job_actions

    st.markdown(f"Cancel **job {job.id}** ({inert(job.name)}), launched by {inert(job.created_by)}?")
    st.caption("A running job's processes are stopped within seconds and its GPU is freed. Its complete "
               "checkpoints stay, so Resume can continue from the last one.")
    c1, c2 = st.columns(2)
    if c1.button("Cancel the job", type="primary", key="finetune.cancel.confirm", width="stretch"):
        with errors.shown_to_user():
            job_actions.cancel(store, actor=actor, job_id=job.id)
            _forget_cancel()
            done(f"Cancelled job {job.id}.")
    if c2.button("Keep it", key="finetune.cancel.keep", width="stretch"):
        _forget_cancel()
        st.rerun()


def actions(store, actor, job: JobInfo) -> None:
    """Cancel (asks first) and Resume, for the roles that may launch jobs."""
    from core.jobs import actions as job_actions

    allowed = job_actions.allowed_actions(job, actor)
    may_cancel, may_resume = "cancel" in allowed, "resume" in allowed
    if not (may_cancel or may_resume):
        return
    row = st.container(horizontal=True)
    if may_cancel and row.button("Cancel", key=f"finetune.cancel.{job.id}", icon=":material/stop_circle:"):
        st.session_state[CANCELLING_KEY] = job.id
    if may_resume and row.button("Resume", key=f"finetune.resume.{job.id}", icon=":material/replay:",
                                help="Queues the job again; it continues from its last complete checkpoint."):
        with errors.shown_to_user():
            job_actions.resume(store, actor=actor, job_id=job.id)  # the same call as `workbench jobs resume`
            done(f"Job {job.id} is queued again; it continues from its last complete checkpoint.")
    if st.session_state.get(CANCELLING_KEY) == job.id and may_cancel:
        confirm_cancel(store, actor, job)


def outcome(store, actor, job: JobInfo) -> None:
    """The adapter and final metrics of a finished run, or why it stopped."""
    from core.governance.roles import Permission
    from core.models import registry

    if job.status == SUCCEEDED:
        st.success(f"The adapter is registered as **{inert(job.model)}**." if job.model else "The run finished.")
        base = job.config.get("base_model")
        if job.model and actor.can(Permission.RUN_INFERENCE) and registry.is_registered(store, job.model):
            # The Compare page's model picker reads this key: base and adapter, side by side.
            st.session_state["compare.models"] = [m for m in (base, job.model) if registry.is_registered(store, m)]
            from workbench.ui import links

            links.page_link("compare", "Try it: the base model and the adapter side by side on the Compare page")
        elif job.model and not registry.is_registered(store, job.model):
            st.caption(f"{inert(job.model)} is no longer in the model registry.")
        final_metrics(job)
    elif job.status in (FAILED, INTERRUPTED) and job.error:
        st.error(inert(job.error))
    elif job.status == CANCELLED:
        st.info("This job was cancelled." + (" Resume continues from its last complete checkpoint."
                                              if actor.can(Permission.LAUNCH_JOBS) else ""))


def _live(store, actor, job_id: int, seen_status: str) -> None:
    from core.finetune.train import read_metrics
    from core.jobs import actions as job_actions

    # A process that died without a word becomes 'interrupted' (locally or on Ray), never stays 'running'.
    job = job_actions.get(store, actor=actor, job_id=job_id)
    if job.status != seen_status:
        st.rerun()  # the whole page: table, buttons and outcome follow the new state (and refreshing stops)
    rows = read_metrics(job.run_dir)
    progress(job, rows)
    metric_charts(rows, key=f"finetune.live.{job.id}")
    log_view(job)


def job_view(store, actor, job: JobInfo, *, live: bool) -> None:
    """Status, actions and outcome; progress, charts and log lines refresh every 2 s while the job is queued or
    running and `live` (its tab is open)."""
    with st.container(border=True):
        status_line(job)
        actions(store, actor, job)
        outcome(store, actor, job)
        if job.status in ACTIVE and live:
            st.fragment(_live, run_every=2)(store, actor, job.id, job.status)
        else:
            _live(store, actor, job.id, job.status)
