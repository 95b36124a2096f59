"""Compare: prompt versions x models on typed input or dataset rows; saved runs with scores, diffs and exports.

Run submits a comparison job (core/compare/jobs.py) and the page watches it in a fragment: progress per cell,
the cells stored so far, Cancel. The tab can be closed meanwhile; reopening the page finds the job again."""
import streamlit as st

from core.governance.roles import Permission
from workbench import auth

actor = auth.require_page(Permission.RUN_INFERENCE)

from core.compare import jobs as compare_jobs  # noqa: E402
from core.compare import runs  # noqa: E402
from core.data import versions as datasets  # noqa: E402
from core.jobs import actions  # noqa: E402
from core.metrics import METRICS  # noqa: E402
from core.models import registry  # noqa: E402
from workbench import services  # noqa: E402
from workbench.ui import compare_view, errors  # noqa: E402
from workbench.ui.text import inert  # noqa: E402

store = services.store()
st.header("Compare")
st.caption("Run several prompt versions with several models on the same input, then read the outputs side by side "
           "with latency, tokens, cost and scores. Each comparison runs as a job: you may close the tab meanwhile. "
           "CLI: `workbench compare run`.")


@st.fragment(run_every=2)
def watch(job_id: int) -> None:
    with errors.shown_to_user():
        job = actions.get(store, actor=actor, job_id=job_id)
        if compare_view.job_panel(store, actor, job):
            st.session_state.pop("compare.job_id", None)
            run = runs.run_of_job(store, actor=actor, job_id=job.id)
            made = (job.result or {}).get("comparison_run") or getattr(run, "id", None)
            if made:
                st.session_state["compare.open_run"] = made
            st.session_state["compare.flash"] = (job.status, made, job.error, getattr(run, "name", None))
            st.rerun(scope="app")


status, made, error, made_name = st.session_state.pop("compare.flash", (None, None, None, None))
if status == "succeeded":
    st.success(f"Saved run {made}" + (f": {inert(made_name)}." if made_name else "."))
elif status:
    st.warning(f"The comparison job {inert(status)}" + (f": {inert(error)}" if error else "."))

with errors.shown_to_user():
    choices = compare_view.prompt_versions(store, actor)
    chat_models = [m.name for m in registry.list_models(store, actor=actor, task="chat")]
    running = compare_jobs.active_job(store, actor=actor)
    if running is not None:
        st.session_state["compare.job_id"] = running.id
    if not choices:
        st.info("No prompt template yet. Write one on the Prompts page, or from a terminal: "
                "`workbench prompts save NAME --body 'Summarise: {{ text }}'`.")
    elif not chat_models:
        st.info("No chat model is registered. Run `workbench init` to install the bundled one, or register a model "
                "on the Models page.")
    else:
        with st.container(border=True):
            st.subheader("New comparison")
            picked = st.multiselect("Prompt versions", list(choices), format_func=lambda r: compare_view.prompt_label(choices[r]),
                                    key="compare.prompts")
            # "Try it" on the Fine-tune page puts base and adapter here; otherwise the first model is chosen.
            if "compare.models" not in st.session_state:
                st.session_state["compare.models"] = chat_models[:1]
            st.session_state["compare.models"] = [m for m in st.session_state["compare.models"] if m in chat_models]
            models = st.multiselect("Models", chat_models, key="compare.models")
            variables = list(dict.fromkeys(v for ref in picked for v in choices[ref].variables))
            modes = ["Typed input", "Dataset rows"] if actor.can(Permission.VIEW_DATA_ROWS) else ["Typed input"]
            mode = st.radio("Input", modes, horizontal=True, key="compare.mode")
            request: dict = {}
            if mode == "Typed input":
                typed = {name: st.text_area(name, key=f"compare.var.{name}", height=80) for name in variables}
                row = {name: value for name, value in typed.items() if value.strip()}
                reference = st.text_input("Reference answer (optional)", key="compare.reference_text",
                                          help="Turns on BLEU, chrF, ROUGE and exact match.")
                reference_key = compare_view.typed_reference_key(variables)
                if reference.strip():
                    row[reference_key] = reference
                request = dict(inputs=[row], reference_column=reference_key if reference.strip() else None)
            else:
                found = [d.latest.ref for d in datasets.list_datasets(store, actor=actor) if d.latest]
                if not found:
                    st.info("No dataset yet: import one on the Data page, or type the input.")
                else:
                    ref = st.selectbox("Dataset version", found, key="compare.dataset")
                    version = datasets.get_version(store, actor=actor, ref=ref)
                    rows, selection = compare_view.row_selection(version, f"compare.rows.{ref}")
                    if selection is None:
                        request = {}
                    columns = version.column_names
                    mapping = {name: st.selectbox(f"{name} ←", columns, key=f"compare.map.{ref}.{name}",
                                                  index=columns.index(name) if name in columns else 0)
                               for name in variables}
                    reference = st.selectbox("Reference column (optional)", ["(none)", *columns],
                                             key=f"compare.reference.{ref}")
                    if selection is not None:
                        request = dict(dataset_version=ref, rows=rows, variable_map=mapping, selection=selection,
                                       reference_column=None if reference == "(none)" else reference)
            has_reference = request.get("reference_column") is not None
            metrics = st.multiselect("Metrics", list(METRICS), default=compare_view.default_metrics(has_reference),
                                     format_func=lambda m: METRICS[m].label, key=f"compare.metrics.{has_reference}")
            # A stable key: the title follows the values, and the expander stays open while they are edited.
            with st.expander(compare_view.settings_label("compare.gen"), key="compare.gen.expander"):
                settings = compare_view.settings_form("compare.gen")
            if st.session_state.pop("compare.reset_name", False):
                st.session_state["compare.name"] = ""  # a new run starts with an empty name
            name = st.text_input("Name of the run (optional)", key="compare.name")
            busy = "compare.job_id" in st.session_state
            has_input = bool(request)
            request.update(prompts=picked, models=models, settings=settings, metrics=metrics, name=name or None)
            if st.button("Run", type="primary", key="compare.run",
                         disabled=busy or not (picked and models and has_input),
                         help="One comparison at a time: wait for the running one or cancel it." if busy else None):
                job = compare_jobs.submit_comparison(store, actor=actor, **request)
                st.session_state["compare.job_id"] = job.id
                st.session_state["compare.reset_name"] = True
                st.rerun()
    if "compare.job_id" in st.session_state:
        watch(st.session_state["compare.job_id"])

with errors.shown_to_user():
    saved = runs.list_runs(store, actor=actor)
    st.subheader("Saved runs")
    if not saved:
        st.info("No comparison run yet. Choose prompt versions and models above and press Run.")
        st.stop()
    labels = {r.id: r.label for r in saved}
    opened = st.session_state.pop("compare.open_run", None)
    if opened in labels:
        st.session_state["compare.selected_run"] = opened
    if st.session_state.get("compare.selected_run") not in labels:
        st.session_state.pop("compare.selected_run", None)
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="compare.selected_run")
    run = runs.get_run(store, actor=actor, run_id=run_id)
    compare_view.run_header(run)
    if run.cells:
        st.markdown("**Summary per prompt · model**")
        win_metric = st.selectbox("Wins by", run.metrics, key=f"compare.win_metric.{run.id}",
                                  format_func=lambda m: METRICS[m].label) if run.metrics else None
        report = runs.summary(run, metric=win_metric)
        compare_view.summary_table(report, run.metrics)
        compare_view.mean_scores_chart(report, run.metrics)
        st.markdown("**Outputs**")
        grid = runs.grid_frame(run, **compare_view.grid_controls(run))
        compare_view.grid_table(run, grid)
        with st.expander("Figures of every cell"):
            compare_view.cells_table(run, grid["row"].tolist())
        st.markdown("**Word diff between two cells**")
        compare_view.diff_view(run)
        compare_view.downloads(store, actor, run)
