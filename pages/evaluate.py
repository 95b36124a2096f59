"""Evaluate: suites (imported, or from a dataset version), evaluation runs (jobs) with pass rates and intervals,
flipped cases, outputs side by side, slices by cohort, counterfactual bias probes (jobs), release gates. Viewers
read results and figures (core withholds case text from them); data scientists and admins create and run."""
import streamlit as st

from core.governance.roles import Permission
from workbench import auth

actor = auth.require_page(Permission.VIEW_MODELS)

from core.evaluation import bias, jobs, promptfoo, runs, suites  # noqa: E402
from core.inference.generate import GenerationSettings  # noqa: E402
from core.jobs import actions  # noqa: E402
from core.models import registry  # noqa: E402
from workbench import services  # noqa: E402
from workbench.ui import errors, eval_view  # noqa: E402
from workbench.ui.text import inert  # noqa: E402

store = services.store()
can_run = actor.can(Permission.MANAGE_EVALUATIONS) and actor.can(Permission.RUN_INFERENCE)
st.header("Evaluate")
st.caption("Suites of test cases with checks, evaluation runs of one or more models, release gates. "
           "CLI: `workbench eval ...`.")


@st.fragment(run_every=2)
def watch(job_id: int) -> None:
    with errors.shown_to_user():
        job = actions.get(store, actor=actor, job_id=job_id)
        if eval_view.job_progress(store, actor, job):
            st.session_state.pop("evaluate.job_id", None)
            made = jobs.run_of_job(store, actor=actor, job_id=job.id)
            if made is not None:
                st.session_state["evaluate.run"] = made.id
            st.rerun(scope="app")


@st.fragment(run_every=2)
def watch_probe(job_id: int) -> None:
    with errors.shown_to_user():
        if eval_view.job_progress(store, actor, actions.get(store, actor=actor, job_id=job_id)):
            st.session_state.pop("evaluate.probe_job", None)
            st.session_state["evaluate.probe"] = job_id
            st.rerun(scope="app")


found = []
results, suites_tab, probes_tab, gates_tab, traffic_tab = st.tabs(
    ["Results", "Suites", "Bias probes", "Gates", "Served traffic by cohort"])

with suites_tab, errors.shown_to_user():
    found = suites.list_suites(store, actor=actor)
    if found:
        eval_view.suites_table(found)
        ref = st.selectbox("Suite", [s.ref for s in found], key="evaluate.suite")
        eval_view.cases_table(suites.get_suite(store, actor=actor, ref=ref))
    else:
        st.info("No suite yet. Import a promptfoo file below, or `workbench eval suites create NAME --dataset D@1`.")
    if can_run:
        with st.form("evaluate.import"):
            st.subheader("Import a promptfoo file")
            upload = st.file_uploader("promptfooconfig.yaml", type=["yaml", "yml"])
            name = st.text_input("Suite name")
            if st.form_submit_button("Import") and upload is not None:
                imported = promptfoo.import_text(store, actor=actor, text=upload.getvalue().decode("utf-8", "replace"),
                                                 name=name)
                st.success(f"Imported {imported.suite.case_count} cases as {inert(imported.suite.ref)}.")
                if imported.unsupported:
                    st.warning("Not imported (no matching check): " + inert(", ".join(
                        f"{k} ×{n}" for k, n in imported.skipped.items())))
        eval_view.dataset_suite_form(store, actor)

with results, errors.shown_to_user():
    if can_run and found:
        with st.expander("New evaluation run", expanded=not runs.list_runs(store, actor=actor, limit=1)):
            chat = [m.name for m in registry.list_models(store, actor=actor, task="chat")]
            suite_ref = st.selectbox("Suite", [s.ref for s in found], key="evaluate.run_suite")
            models = st.multiselect("Models (the first is the baseline)", chat, default=chat[:1], key="evaluate.models")
            judge = st.selectbox("Judge (for rubric and pairwise checks)", ["(none)"] + chat, key="evaluate.judge")
            tokens = st.number_input("Max new tokens", 1, 2048, 128, key="evaluate.tokens")
            if st.button("Run", type="primary", disabled=not models or "evaluate.job_id" in st.session_state):
                job, run = jobs.submit_evaluation(store, actor=actor, suite=suite_ref, models=models,
                                                  judge=None if judge == "(none)" else judge,
                                                  settings=GenerationSettings(max_new_tokens=int(tokens)))
                st.session_state["evaluate.job_id"] = job.id
    if "evaluate.job_id" in st.session_state:
        watch(st.session_state["evaluate.job_id"])
    done = runs.list_runs(store, actor=actor)
    if not done:
        st.info("No evaluation run yet." + (" Start one above." if can_run else ""))
    else:
        ids = [r.id for r in done]
        chosen = st.session_state.get("evaluate.run")
        run_id = st.selectbox("Run", ids, index=ids.index(chosen) if chosen in ids else 0,
                              format_func=lambda i: next(r.label for r in done if r.id == i), key="evaluate.run_pick")
        report = runs.report(store, actor=actor, run_id=run_id)
        if report["error"]:
            st.warning(inert(report["error"]))
        eval_view.pass_rate_chart(report)
        eval_view.check_table(report)
        eval_view.score_chart(report)
        eval_view.flipped(report)
        st.subheader("Outputs side by side")
        eval_view.case_outputs(report, key="evaluate.case")
        variables = sorted({k for c in report["cases"] for k in c["variables"]})
        if variables and report["models"]:
            st.subheader("Slice by cohort")
            c1, c2 = st.columns(2)
            by = c1.selectbox("Cohort variable", variables, key="evaluate.slice_by")
            model = c2.selectbox("Model", [m["model"] for m in report["models"]], key="evaluate.slice_model")
            eval_view.slice_table(bias.slice_run(store, actor=actor, run_id=run_id, model=model, by=by))

with probes_tab, errors.shown_to_user():
    if can_run and found:
        chat = [m.name for m in registry.list_models(store, actor=actor, task="chat")]
        submitted = eval_view.probe_form(store, actor, [s.ref for s in found], chat)
        if submitted is not None:
            st.session_state["evaluate.probe_job"] = submitted
    if "evaluate.probe_job" in st.session_state:
        watch_probe(st.session_state["evaluate.probe_job"])
    eval_view.probe_results(store, actor, st.session_state.get("evaluate.probe"))

with gates_tab, errors.shown_to_user():
    eval_view.gate_results(store, actor)

with traffic_tab, errors.shown_to_user():
    st.caption("A metric of served traffic (events) by a metadata key such as segment, with 95% intervals and the "
               "largest disparity between groups.")
    c1, c2 = st.columns(2)
    metric = c1.selectbox("Metric", ["feedback_score", "latency_s", "cost", "tokens_out"], key="evaluate.traffic_metric")
    key = c2.text_input("Metadata key", "segment", key="evaluate.traffic_by")
    if actor.can(Permission.VIEW_DASHBOARDS) and key.strip():
        report = bias.slice_events(store, actor=actor, by=key.strip(), metric=metric)
        if report.groups:
            eval_view.slice_table(report)
        else:
            st.info("No served event carries that metric and key yet.")
