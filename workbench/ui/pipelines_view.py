"""Pieces of the Pipelines page: the step editor's state, step tables, per-step figures, value charts, prompts.

Session state holds only small values: the draft's steps as plain dicts, names and ids.
"""
from __future__ import annotations

import html

import pandas as pd
import plotly.express as px
import streamlit as st

from core.errors import WorkbenchError
from core.governance.roles import Actor
from core.metrics import METRICS
from core.pipelines import KINDS, RunInfo, Step, check_steps, delete_pipeline, get_pipeline
from core.storage.db import Store
from workbench.ui import errors, tables
from workbench.ui.text import inert

DRAFT = "pipelines.draft_steps"  # list of step dicts being edited
DRAFT_NAME = "pipelines.draft_name"
DRAFT_DESCRIPTION = "pipelines.draft_description"
ADD_ERROR = "pipelines.add_error"
FLASH = "pipelines.flash"
SELECTED = "pipelines.selected"
DELETING = "pipelines.deleting"
ADD = "pipelines.add."  # prefix of the add-a-step widgets
RESET_ADD = "pipelines.add_reset"
GENERATION = "pipelines.add_generation"  # part of the source pickers' keys


# --- the draft --------------------------------------------------------------------------------------------

def draft() -> list[dict]:
    return list(st.session_state.get(DRAFT, []))


def load_into_editor(store: Store, actor: Actor, name: str) -> None:
    """Copies a saved pipeline into the editor (call before the editor's name and description render)."""
    info = get_pipeline(store, actor=actor, name=name)
    st.session_state[DRAFT] = info.steps_json
    st.session_state[DRAFT_NAME] = info.name
    st.session_state[DRAFT_DESCRIPTION] = info.description or ""
    st.session_state[RESET_ADD] = True


def clear_editor() -> None:
    st.session_state[DRAFT] = []
    st.session_state[DRAFT_NAME] = ""
    st.session_state[DRAFT_DESCRIPTION] = ""
    st.session_state[RESET_ADD] = True


def remove_step(index: int) -> None:
    steps = draft()
    if 0 <= index < len(steps):
        del steps[index]
    st.session_state[DRAFT] = steps
    st.session_state[RESET_ADD] = True


def move_up(index: int) -> None:
    steps = draft()
    if 0 < index < len(steps):
        steps[index - 1], steps[index] = steps[index], steps[index - 1]
    st.session_state[DRAFT] = steps
    st.session_state[RESET_ADD] = True


def add_step(step: dict) -> bool:
    """Appends `step` when it passes the checks that need no store; else keeps the sentence to show."""
    steps = draft()
    try:
        made = Step.from_dict(step)
        check_steps([Step.from_dict(s) for s in steps] + [made])
    except WorkbenchError as exc:
        st.session_state[ADD_ERROR] = exc.message
        return False
    st.session_state[DRAFT] = steps + [made.to_dict()]
    st.session_state.pop(ADD_ERROR, None)
    st.session_state[RESET_ADD] = True
    return True


def reset_add_form() -> None:
    """After the draft changed (before the fields render): empties the name and forgets the source choices."""
    if st.session_state.pop(RESET_ADD, False):
        st.session_state[ADD + "name"] = ""
        # The sources on offer changed: new widget keys let the mappings start from their defaults again (the
        # browser keeps a widget's old value when only its state is deleted).
        st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1


def _source_key(what: str, version) -> str:
    """Source pickers start afresh when the draft's steps or the dataset version (their options) change."""
    return f"{ADD}{what}.{st.session_state.get(GENERATION, 0)}.{version.ref if version else ''}"


def _help(field_name: str) -> str:
    """The step field's help text, from the Step dataclass (one help text, one place)."""
    return Step.__dataclass_fields__[field_name].metadata["help"]


def new_step_form(store: Store, actor: Actor, steps: list[dict], version) -> dict | None:
    """The add-a-step fields; returns the step they describe (checked when added), or None when nothing to add.

    Sources offered: the earlier steps' outputs (latest first) and the columns of the chosen dataset version.
    """
    from core.models import registry
    from core.prompts import templates

    reset_add_form()
    k_col, n_col = st.columns([1, 2])
    kind = k_col.radio("Kind", KINDS, horizontal=True, key=ADD + "kind", help=_help("kind"))
    name = n_col.text_input("Step name", key=ADD + "name", placeholder="summary" if not steps else "rating",
                            help=_help("name"))
    earlier = [f"step:{s['name']}" for s in steps]
    columns = [f"column:{c}" for c in version.column_names] if version else []
    new_step = None
    if kind == "generate":
        found = templates.list_templates(store, actor=actor)
        chat_models = [m.name for m in registry.list_models(store, actor=actor, task="chat")]
        if not found:
            st.info("No prompt template yet: write one on the Prompts page first.")
        elif not chat_models:
            st.info("No chat model is registered: add one on the Models page first.")
        else:
            t_col, tv_col, m_col = st.columns([2, 1, 2])
            template = t_col.selectbox("Template", [t.name for t in found], key=ADD + "template", help=_help("template"))
            numbers = templates.list_versions(store, actor=actor, name=template)
            labelled = {v.version: f"{v.version} ({', '.join(v.labels)})" if v.labels else str(v.version)
                        for v in numbers}
            number = tv_col.selectbox("Version", list(labelled), format_func=labelled.get,
                                      key=ADD + f"version.{template}")
            chosen_version = next(v for v in numbers if v.version == number)
            model = m_col.selectbox("Model", chat_models, key=ADD + "model", help=_help("model"))
            options = earlier[::-1] + columns
            inputs = {}
            if chosen_version.variables and not options:
                st.warning("Choose a dataset version above: the template's variables are filled from its "
                           "columns or from earlier steps.")
            for variable in chosen_version.variables:
                default = next((o for o in (f"column:{variable}", f"step:{variable}") if o in options),
                               options[0] if options else None)
                inputs[variable] = st.selectbox(inert(f"{{{{ {variable} }}}}") + " ←", options, format_func=source_label,
                                                index=options.index(default) if default else None,
                                                key=_source_key(f"input.{variable}", version))
            o_col, x_col = st.columns(2)
            numeric = o_col.checkbox("The answer is a number (e.g. a 1-5 rating)", key=ADD + "numeric",
                                     help=_help("numeric"))
            max_new = x_col.number_input("Max new tokens for this step (0: the run's setting)", 0, 8192, 0,
                                         key=ADD + "max_new_tokens", help=_help("settings"))
            new_step = {"name": name, "kind": "generate", "template": chosen_version.ref, "model": model,
                        "inputs": inputs, "numeric": numeric,
                        "settings": {"max_new_tokens": int(max_new)} if max_new else {}}
    else:
        m_col, o_col, r_col = st.columns(3)
        metric = m_col.selectbox("Metric", list(METRICS), format_func=lambda m: METRICS[m].label,
                                 key=ADD + "metric", help=_help("metric"))
        options = earlier[::-1] + columns
        output = o_col.selectbox("Score", options, format_func=source_label, key=_source_key("output", version),
                                 help=_help("output"))
        reference = None
        if METRICS[metric].needs_reference:
            reference = r_col.selectbox("Against the reference", columns + earlier,
                                        format_func=source_label, key=_source_key("reference", version),
                                        help=_help("reference"))
        st.caption(inert(METRICS[metric].description))
        new_step = {"name": name, "kind": "metric", "metric": metric, "output": output, "reference": reference}
    return new_step


def default_dataset(sets: list, pipeline) -> int:
    """Index of the first dataset whose latest version has every column `pipeline` reads (0 when none has)."""
    if pipeline is None:
        return 0
    wanted = {c for step in pipeline.steps for c in step.reads_columns}
    return next((n for n, d in enumerate(sets) if wanted <= set(d.latest.column_names)), 0)


def show_add_error() -> None:
    if message := st.session_state.pop(ADD_ERROR, None):
        st.error(inert(message))


def done(message: str, *, select: str | None = None) -> None:
    """Reruns so pickers include what was just saved, then shows `message` (already inert)."""
    st.session_state[FLASH] = message
    if select:
        st.session_state[SELECTED] = select
    st.rerun()


def show_flash() -> None:
    if FLASH in st.session_state:
        st.success(st.session_state.pop(FLASH))


# --- showing steps ----------------------------------------------------------------------------------------

def describe(step: dict) -> str:
    if step["kind"] == "generate":
        extra = ", numeric" if step.get("numeric") else ""
        settings = ", ".join(f"{k}={v}" for k, v in (step.get("settings") or {}).items())
        return f"{step['template']} on {step['model']}{extra}" + (f" ({settings})" if settings else "")
    label = METRICS[step["metric"]].label if step.get("metric") in METRICS else step.get("metric")
    return f"{label}" + (f" against {step['reference']}" if step.get("reference") else "")


def reads(step: dict) -> str:
    if step["kind"] == "generate":
        return ", ".join(f"{variable} ← {source}" for variable, source in (step.get("inputs") or {}).items())
    return step.get("output") or ""


def steps_table(steps: list[dict], *, key: str) -> None:
    tables.show([{"#": n, "Step": s["name"], "Kind": s["kind"], "Does": describe(s), "Reads": reads(s)}
                 for n, s in enumerate(steps, start=1)], key=key)


def source_label(source: str) -> str:
    kind, _, name = source.partition(":")
    return f"column {name}" if kind == "column" else f"output of step {name}"


# --- a run ------------------------------------------------------------------------------------------------

def _num(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def figures(run: RunInfo) -> None:
    """Each step's headline figures, then every figure in a small table."""
    columns = st.columns(min(4, max(1, len(run.steps))))
    for n, step in enumerate(run.steps):
        f = run.step_figures(step["name"])
        with columns[n % len(columns)]:
            if f.get("kind") == "generate":
                headline = f.get("mean_value") if "mean_value" in f else f.get("mean_tokens_out")
                what = "mean value" if "mean_value" in f else "mean tokens out"
                st.metric(inert(f"{step['name']}: {what}"), _num(headline, 2),
                          help=f"{f.get('answered', 0)} answered, {_num(f.get('tokens_per_s'))} tokens/s, "
                               f"{_num(f.get('latency_s'), 2)} s in all, {f.get('errors', 0)} errors")
            elif f.get("kind") == "metric":
                st.metric(inert(f"{step['name']}: mean {f.get('label', step.get('metric'))}"),
                          _num(f.get("mean_value"), 2),
                          help=f"{f.get('values', 0)} rows scored, {f.get('errors', 0)} skipped; {f.get('scale', '')}")
            else:
                st.metric(inert(step["name"]), "not run")
    rows = []
    for step in run.steps:
        f = run.step_figures(step["name"])
        rows.append({"Step": step["name"], "Kind": step["kind"], "What": describe(step),
                     "Rows with a result": f.get("answered", f.get("values")), "Errors": f.get("errors"),
                     "Mean value": f.get("mean_value"), "Mean tokens out": f.get("mean_tokens_out"),
                     "Tokens/s": f.get("tokens_per_s"), "Latency (s)": f.get("latency_s")})
    tables.show(rows, key=f"pipelines.figures.{run.id}", column_config={
        "Mean value": st.column_config.NumberColumn(format="%.2f"),
        "Mean tokens out": st.column_config.NumberColumn(format="%.1f"),
        "Tokens/s": st.column_config.NumberColumn(format="%.1f"),
        "Latency (s)": st.column_config.NumberColumn(format="%.2f")})


def outputs(frame: pd.DataFrame, *, key: str) -> None:
    """The cells side by side; answers are untrusted text, shown as text in the grid."""
    config = {column: st.column_config.TextColumn(width="medium") for column in frame.columns
              if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column])}
    st.dataframe(frame, hide_index=True, width="stretch", key=key, column_config=config, height=min(600, 38 + 35 * len(frame)))


def value_columns(run: RunInfo) -> list[tuple[str, str]]:
    """(column in outputs_frame, chart title) of every step with numbers."""
    found = []
    for step in run.steps:
        if step["kind"] == "metric":
            label = METRICS[step["metric"]].label if step["metric"] in METRICS else step["metric"]
            found.append((step["name"], f"{step['name']}: {label}"))
        elif step.get("numeric"):
            found.append((f"{step['name']} value", f"{step['name']}: number in the answer"))
    return found


def value_distribution(frame: pd.DataFrame, column: str, *, title: str) -> None:
    """Histogram of one step's values across the rows."""
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    if values.empty:
        st.caption(f"{inert(title)}: no values.")
        return
    figure = px.histogram(pd.DataFrame({"value": values.astype(float)}), x="value",
                          nbins=min(30, max(5, values.nunique())), title=html.escape(title, quote=False))
    figure.add_vline(x=float(values.mean()), line_dash="dash", line_color="#e03131", annotation_text="mean")
    figure.update_layout(height=260, xaxis_title="Value", yaxis_title="Rows", bargap=0.05,
                         margin=dict(t=40, b=10, l=10, r=10))
    st.plotly_chart(figure, width="stretch", key=f"pipelines.chart.{column}")


def value_charts(run: RunInfo, frame: pd.DataFrame) -> None:
    """A histogram per step with numbers (metric steps, numeric generate steps), two to a row."""
    charted = value_columns(run)
    if not charted:
        return
    columns = st.columns(min(2, len(charted)))
    for n, (column, title) in enumerate(charted):
        with columns[n % len(columns)]:
            value_distribution(frame, column, title=title)


def messages(chat: list[dict]) -> None:
    for message in chat:
        st.caption(message["role"].capitalize())
        st.text(message["content"])


def run_label(run: RunInfo) -> str:
    return (f"Run {run.id} · {run.dataset_version} · {run.rows} rows · {run.status} · "
            f"{run.created_at:%Y-%m-%d %H:%M} by {run.created_by}")


# --- deleting ---------------------------------------------------------------------------------------------

def _forget_deletion() -> None:
    st.session_state.pop(DELETING, None)


@st.dialog("Delete a pipeline", on_dismiss=_forget_deletion)
def confirm_delete(store: Store, actor: Actor, name: str, runs: int) -> None:
    st.markdown(f"Delete **{inert(name)}**" + (f" and its {runs} run(s)?" if runs else "?"))
    st.caption("The audit log keeps the definition.")
    c1, c2 = st.columns(2)
    if c2.button("Cancel", key="pipelines.delete.cancel", width="stretch"):
        _forget_deletion()
        st.rerun()
    if c1.button("Delete", type="primary", key="pipelines.delete.confirm", width="stretch"):
        with errors.shown_to_user():
            delete_pipeline(store, actor=actor, name=name)
            _forget_deletion()
            st.session_state.pop(SELECTED, None)
            done(f"Deleted {inert(name)}.")
