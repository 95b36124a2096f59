"""Compare: prompt versions x models on typed input or dataset rows; saved runs with scores, diffs and exports."""
import streamlit as st

from core.governance.roles import Permission
from workbench import auth

actor = auth.require_page(Permission.RUN_INFERENCE)

from core.compare import runs  # noqa: E402
from core.data import versions as datasets  # noqa: E402
from core.metrics import METRICS  # noqa: E402
from core.models import registry  # noqa: E402
from workbench import services  # noqa: E402
from workbench.ui import compare_view, errors  # noqa: E402
from workbench.ui.text import inert  # noqa: E402

store = services.store()
st.header("Compare")
st.caption("Run several prompt versions with several models on the same input, then read the outputs side by side "
           "with latency, tokens, cost and scores. CLI: `workbench compare run`.")

with errors.shown_to_user():
    choices = compare_view.prompt_versions(store, actor)
    chat_models = [m.name for m in registry.list_models(store, actor=actor, task="chat")]
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
                    c1, c2 = st.columns([3, 1])
                    ref = c1.selectbox("Dataset version", found, key="compare.dataset")
                    version = datasets.get_version(store, actor=actor, ref=ref)
                    rows = c2.number_input("Rows (from the first)", 1, min(runs.MAX_ROWS, max(version.rows, 1)),
                                           min(version.rows, 20) or 1, key=f"compare.rows.{ref}")
                    columns = version.column_names
                    mapping = {name: st.selectbox(f"{name} ←", columns, key=f"compare.map.{ref}.{name}",
                                                  index=columns.index(name) if name in columns else 0)
                               for name in variables}
                    reference = st.selectbox("Reference column (optional)", ["(none)", *columns],
                                             key=f"compare.reference.{ref}")
                    request = dict(dataset_version=ref, rows=int(rows), variable_map=mapping,
                                   reference_column=None if reference == "(none)" else reference)
            has_reference = request.get("reference_column") is not None
            metrics = st.multiselect("Metrics", list(METRICS), default=compare_view.default_metrics(has_reference),
                                     format_func=lambda m: METRICS[m].label, key=f"compare.metrics.{has_reference}")
            with st.expander("Generation settings (greedy, 128 new tokens)"):
                settings = compare_view.settings_form("compare.gen")
            name = st.text_input("Name of the run (optional)", key="compare.name")
            if st.button("Run", type="primary", key="compare.run", disabled=not (picked and models and request)):
                bar = st.progress(0.0, text="Loading the models...")
                run = runs.run_comparison(store, actor=actor, prompts=picked, models=models, settings=settings,
                                          metrics=metrics, name=name or None, **request,
                                          progress=lambda done, total: bar.progress(done / total,
                                                                                    text=f"{done}/{total} cells"))
                bar.empty()
                st.session_state["compare.selected_run"] = run.id
                st.success(f"Saved run {run.id}: {inert(run.name)}.")

with errors.shown_to_user():
    saved = runs.list_runs(store, actor=actor)
    st.subheader("Saved runs")
    if not saved:
        st.info("No comparison run yet. Choose prompt versions and models above and press Run.")
        st.stop()
    labels = {r.id: r.label for r in saved}
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
