"""Pipelines: chain prompt steps (one step's output fills the next step's variable), run them over a dataset
version, and read every step's outputs and figures side by side."""
import streamlit as st

from core.governance.roles import Permission
from workbench import auth

actor = auth.require_page(Permission.RUN_INFERENCE)

from core import pipelines  # noqa: E402
from core.data import versions as datasets  # noqa: E402
from core.errors import NotFound  # noqa: E402
from core.inference.generate import GenerationSettings  # noqa: E402
from core.jobs import actions, queue  # noqa: E402
from core.pipelines import jobs as pipeline_jobs  # noqa: E402
from workbench import services  # noqa: E402
from workbench.ui import errors  # noqa: E402
from workbench.ui import pipelines_view as view  # noqa: E402
from workbench.ui.text import inert  # noqa: E402

store = services.store()
can_edit = actor.can(Permission.MANAGE_PROMPTS)
st.header("Pipelines")
st.caption("Chain steps: a generate step fills a prompt template from dataset columns or earlier steps' outputs and "
           "runs a model over every row in one batch; a metric step scores a text. CLI: `workbench pipelines`.")
view.show_flash()

saved = pipelines.list_pipelines(store, actor=actor)
sets = [d for d in datasets.list_datasets(store, actor=actor) if d.latest]
version = None
if sets:
    d_col, v_col = st.columns([3, 1])
    current = next((p for p in saved if p.name == st.session_state.get(view.SELECTED)), saved[0] if saved else None)
    dataset = d_col.selectbox("Dataset", [d.name for d in sets], key="pipelines.dataset",
                              index=view.default_dataset(sets, current),
                              help="Its columns fill the steps' variables, and runs go over its rows.")
    history = datasets.list_versions(store, actor=actor, name=dataset)
    number = v_col.selectbox("Version", [v.version for v in history], key=f"pipelines.version.{dataset}")
    version = next(v for v in history if v.version == number)
else:
    st.info("No dataset yet: import one on the Data page (or `workbench data import FILE --name NAME`) to map "
            "columns and run a pipeline over it.")

if can_edit:
    with st.expander("Build a pipeline", expanded=not saved or bool(view.draft()), icon=":material/account_tree:"):
        with errors.shown_to_user():
            if saved:
                l_col, b_col = st.columns([3, 1], vertical_alignment="bottom")
                start = l_col.selectbox("Start from a saved pipeline", [p.name for p in saved], key="pipelines.load_name")
                if b_col.button("Load into the editor", key="pipelines.load"):
                    view.load_into_editor(store, actor, start)
            steps = view.draft()
            if steps:
                view.steps_table(steps, key="pipelines.draft_table")
                s_col, up_col, rm_col, _ = st.columns([4, 1, 1, 2], vertical_alignment="bottom")
                picked = s_col.selectbox("Step", range(len(steps)), format_func=lambda i: steps[i]["name"],
                                         key="pipelines.edit_step")
                if up_col.button("Move up", key="pipelines.move_up", disabled=not picked):
                    view.move_up(picked)
                    st.rerun()
                if rm_col.button("Remove", key="pipelines.remove_step"):
                    view.remove_step(picked)
                    st.rerun()
            else:
                st.caption("No step yet: add the first one below, e.g. a generate step that summarises a column.")

            st.markdown("**Add a step**")
            new_step = view.new_step_form(store, actor, steps, version)
            if st.button("Add step", key=view.ADD + "submit", disabled=new_step is None):
                if view.add_step(new_step):
                    st.rerun()
            view.show_add_error()

            st.markdown("**Save**")
            p_col, d_col = st.columns([1, 2])
            pipeline_name = p_col.text_input("Pipeline name", key=view.DRAFT_NAME, placeholder="summarise-then-rate")
            description = d_col.text_input("What it is for (optional)", key=view.DRAFT_DESCRIPTION)
            save_col, clear_col, _ = st.columns([1, 1, 3])
            if save_col.button("Save pipeline", type="primary", key="pipelines.save", disabled=not steps):
                info, changed = pipelines.save_pipeline(store, actor=actor, name=pipeline_name, steps=steps,
                                                        description=description)
                view.done(f"Saved {inert(info.name)}." if changed else f"Nothing changed in {inert(info.name)}.",
                          select=info.name)
            if clear_col.button("Clear the editor", key="pipelines.clear"):
                view.clear_editor()
                st.rerun()

if not saved:
    st.info("No pipeline saved yet. Build one above: add a generate step, then steps that read its output, and save. "
            "From a terminal: `workbench pipelines save NAME --file steps.json`.")
    st.stop()

st.subheader("Run")
names = [p.name for p in saved]
if st.session_state.get(view.SELECTED) not in names:
    st.session_state.pop(view.SELECTED, None)
p_col, x_col = st.columns([5, 1], vertical_alignment="bottom")
chosen = p_col.selectbox("Pipeline", names, key=view.SELECTED)
pipeline = next(p for p in saved if p.name == chosen)
if can_edit and x_col.button("Delete...", key="pipelines.delete", width="stretch"):
    st.session_state[view.DELETING] = chosen
st.caption(f"{inert(pipeline.description or 'No description.')} · updated by {inert(pipeline.updated_by)} on "
           f"{pipeline.updated_at:%Y-%m-%d %H:%M} UTC · {pipeline.runs} run(s)")
view.steps_table(pipeline.steps_json, key="pipelines.steps_table")
if st.session_state.get(view.DELETING) == chosen:
    view.confirm_delete(store, actor, chosen, pipeline.runs)

if version is None:
    st.info("Import a dataset on the Data page to run this pipeline over it.")
else:
    r_col, t_col, temp_col = st.columns(3)
    rows = r_col.number_input("Rows (from the top)", 1, max(1, min(pipelines.MAX_ROWS, version.rows)),
                              min(pipelines.DEFAULT_ROWS, max(1, version.rows)), key="pipelines.rows")
    max_new_tokens = t_col.number_input("Max new tokens", 1, 8192, 128, key="pipelines.max_new_tokens",
                                        help="For every generate step that does not set its own.")
    temperature = temp_col.number_input("Temperature", 0.0, 2.0, 0.0, 0.1, key="pipelines.temperature",
                                        help="0 means greedy decoding: the same answers every run.")
    busy = "pipelines.job_id" in st.session_state
    if st.button(f"Run over {version.ref}", type="primary", key="pipelines.start", disabled=busy,
                 help="One pipeline run at a time: wait for the running one or cancel it." if busy else None):
        with errors.shown_to_user():
            settings = GenerationSettings(max_new_tokens=int(max_new_tokens), temperature=float(temperature))
            job = pipeline_jobs.submit_pipeline_run(store, actor=actor, name=chosen, dataset_version=version.ref,
                                                    rows=int(rows), settings=settings)
            st.session_state["pipelines.job_id"] = job.id
            st.rerun()


@st.fragment(run_every=2)
def watch(job_id: int) -> None:
    """The running pipeline job: progress, the step it is on, Cancel; the results open when it ends."""
    with errors.shown_to_user():
        job = actions.get(store, actor=actor, job_id=job_id)
        progress = actions.progress(job)
        note = f" · {inert(progress.note)}" if progress.note else ""
        st.progress(progress.fraction, text=f"Job {job.id} {job.status}: {progress.fraction:.0%}{note}")
        if job.status in queue.FINISHED:
            st.session_state.pop("pipelines.job_id", None)
            made = (job.result or {}).get("pipeline_run")
            if made:
                st.session_state["pipelines.open_run"] = made
            st.session_state["pipelines.job_flash"] = (job.status, made, job.error)
            st.rerun(scope="app")
        if actions.can_cancel(job) and st.button("Cancel this run", key=f"pipelines.cancel.{job.id}"):
            actions.cancel(store, actor=actor, job_id=job.id)
            st.rerun()


running = pipeline_jobs.active_job(store, actor=actor)
if running is not None:
    st.session_state["pipelines.job_id"] = running.id
if "pipelines.job_id" in st.session_state:
    watch(st.session_state["pipelines.job_id"])
status, made, error = st.session_state.pop("pipelines.job_flash", (None, None, None))
if made:
    finished = pipelines.get_run(store, actor=actor, run_id=made)
    (st.success if finished.status == "succeeded" else st.warning)(
        f"Run {finished.id}: {finished.status} over {finished.rows} row(s) of {inert(finished.dataset_version)}.")
elif status:
    st.warning(f"The pipeline job {inert(status)}" + (f": {inert(error)}" if error else "."))

st.subheader("Results")
runs = pipelines.list_runs(store, actor=actor, name=chosen)
if not runs:
    st.info("No run of this pipeline yet: choose a dataset version and the rows above, then press Run.")
    st.stop()
labels = {r.id: view.run_label(r) for r in runs}
opened = st.session_state.pop("pipelines.open_run", None)
if opened in labels:
    st.session_state["pipelines.run_id"] = opened
if st.session_state.get("pipelines.run_id") not in labels:
    st.session_state.pop("pipelines.run_id", None)
run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="pipelines.run_id")
with errors.shown_to_user():
    run = pipelines.get_run(store, actor=actor, run_id=run_id)
    if run.status == "failed":
        st.error(inert(run.error or "The run failed."))
    elif run.status == "running":
        st.info("This run has not finished: it is still running, or its process stopped.")
    view.figures(run)
    inputs = None
    if actor.can(Permission.VIEW_DATA_ROWS):
        try:
            inputs = pipelines.run_inputs(store, actor=actor, run=run)
        except NotFound as exc:
            st.caption(inert(exc.message) + " The inputs are left out.")
    frame = pipelines.outputs_frame(run, inputs=inputs)
    view.outputs(frame, key=f"pipelines.outputs.{run.id}")
    view.value_charts(run, frame)

    generate_steps = [s["name"] for s in run.steps if s["kind"] == "generate"]
    if generate_steps:
        with st.expander("What a step sent to the model", icon=":material/chat:"):
            g_col, row_col = st.columns([2, 1])
            step_name = g_col.selectbox("Step", generate_steps, key="pipelines.prompt_step")
            row = row_col.number_input("Row", 0, max(0, run.rows - 1), 0, key="pipelines.prompt_row")
            with errors.shown_to_user():
                view.messages(pipelines.step_prompt(store, actor=actor, run=run, row_index=int(row), step_name=step_name))

    csv_col, jsonl_col, _ = st.columns([1, 1, 2])
    for column, fmt in ((csv_col, "csv"), (jsonl_col, "jsonl")):
        column.download_button(f"Download {fmt.upper()}", pipelines.export_run(run, fmt, inputs=inputs),
                               file_name=pipelines.export_file_name(run, fmt), key=f"pipelines.download.{fmt}",
                               mime="text/csv" if fmt == "csv" else "application/jsonl",
                               help="CSV neutralises cells a spreadsheet would run as formulas." if fmt == "csv" else
                               "One JSON object per input row with every step's output, value, tokens and latency.")
