"""Pieces of the Evaluate page: suite and run tables, pass rates with intervals, flipped cases, outputs side by side,
slices and gate results. Every text from a suite, a model or a user is shown inert (dataframes, st.text, inert())."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.evaluation import gates, runs
from core.governance.roles import Actor, Permission
from core.storage.db import Store
from workbench.ui.text import inert


def suites_table(found) -> None:
    st.dataframe(pd.DataFrame([{"suite": s.ref, "cases": s.case_count, "checks": ", ".join(c["label"] for c in s.checks),
                                "prompt": s.prompt or "", "from": s.dataset_version or s.source, "by": s.created_by}
                               for s in found]), hide_index=True, width="stretch")


def cases_table(suite) -> None:
    st.dataframe(pd.DataFrame([{"case": c.position + 1, "variables": json.dumps(c.variables, ensure_ascii=False),
                                "reference": c.reference or "", "own checks": ", ".join(x["label"] for x in c.checks)}
                               for c in suite.cases]), hide_index=True, width="stretch")


def job_progress(store: Store, actor: Actor, job) -> bool:
    """A running evaluation job: progress per answered case and Cancel. True once it has ended."""
    from core.jobs import actions, queue

    progress = actions.progress(job)
    done = f"{progress.done}/{progress.total} answers" if progress.total else "starting"
    st.progress(progress.fraction, text=f"Job {job.id} {inert(job.status)}: {done}")
    if job.status in queue.FINISHED:
        return True
    if actions.can_cancel(job) and st.button("Cancel this evaluation", key=f"evaluate.cancel.{job.id}"):
        actions.cancel(store, actor=actor, job_id=job.id)
        st.rerun()
    return False


def _interval(pair) -> str:
    low, high = pair
    return "" if low is None else f"{low:.0%}–{high:.0%}"


def check_table(report: dict) -> None:
    """Pass rate and mean value per check and model, with 95% bootstrap intervals."""
    rows = []
    for model in report["models"]:
        overall = model.get("pass_rate") or {}
        rows.append({"model": model["model"], "check": "all checks (case passes)", "passed": None, "failed": None,
                     "pass rate": overall.get("value"), "95% CI": _interval((overall.get("low"), overall.get("high"))),
                     "mean": None, "mean 95% CI": ""})
        for check in model["checks"]:
            rows.append({"model": model["model"], "check": f"{check['check']} ({check['type']})",
                         "passed": check["passed"], "failed": check["failed"], "pass rate": check["pass_rate"],
                         "95% CI": _interval(check["pass_rate_ci"]), "mean": check["mean"],
                         "mean 95% CI": "" if check["mean_ci"][0] is None else
                         f"{check['mean_ci'][0]:.3g}–{check['mean_ci'][1]:.3g}"})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
        "pass rate": st.column_config.ProgressColumn("pass rate", min_value=0.0, max_value=1.0, format="percent")})


def flipped(report: dict) -> None:
    flips = report.get("flipped") or {}
    if not flips:
        return
    st.subheader(f"Cases that flipped against {inert(report['baseline'])}")
    for model, found in flips.items():
        regressions = sum(1 for f in found if f["kind"] == "regression")
        st.caption(f"{inert(model)}: {regressions} regression(s), {len(found) - regressions} improvement(s); "
                   "regressions first.")
        if found:
            st.dataframe(pd.DataFrame([{"case": f["position"] + 1, "kind": f["kind"], "checks": ", ".join(f["checks"]),
                                        "baseline output": f["baseline_output"], "candidate output": f["candidate_output"]}
                                       for f in found]), hide_index=True, width="stretch")


def case_outputs(report: dict, key: str) -> None:
    """One case's outputs side by side, each model's checks and explanations (judge reasons too)."""
    if not report["cases"]:
        return
    position = st.selectbox("Case", [c["position"] for c in report["cases"]], format_func=lambda p: f"Case {p + 1}",
                            key=key)
    case = report["cases"][position]
    st.caption("Variables")
    st.code(json.dumps(case["variables"], ensure_ascii=False, indent=1), language=None)
    if case["reference"]:
        st.caption("Reference")
        st.text(case["reference"])
    columns = st.columns(max(1, len(case["outputs"])))
    for column, output in zip(columns, case["outputs"]):
        with column:
            verdict = {True: "passes", False: "fails", None: "undecided"}[output["passed"]]
            st.markdown(f"**{inert(output['model'])}** · {verdict}")
            st.text(output["output"] or output.get("error") or "")
            st.dataframe(pd.DataFrame([{"check": c["label"], "passed": c["passed"], "value": c["value"],
                                        "why": c["explanation"]} for c in output["checks"]]),
                         hide_index=True, width="stretch")


def slice_table(report) -> None:
    st.caption(f"{inert(report.metric)} by {inert(report.by)}: largest difference "
               f"{'—' if report.difference is None else f'{report.difference:.3f}'}, ratio "
               f"{'—' if report.ratio is None else f'{report.ratio:.3f}'} (worst group {inert(report.worst_group)})")
    st.dataframe(pd.DataFrame(report.groups), hide_index=True, width="stretch")


def gate_results(store: Store, actor: Actor) -> None:
    found = gates.list_results(store, actor=actor)
    if not found:
        st.info("No gate result yet. Set a gate on a deployment (`workbench eval gate set DEPLOYMENT --suite S`); "
                "promoting a version then runs it.")
        return
    st.dataframe(pd.DataFrame([{"id": r.id, "deployment": f"{r.deployment}@{r.deployment_version}" if r.deployment
                                else "", "candidate": r.candidate, "baseline": r.baseline, "suite": r.suite,
                                "passed": r.passed, "overridden by": r.override_by or "", "reason": r.override_reason or "",
                                "summary": r.summary} for r in found]), hide_index=True, width="stretch")
    failed = [r for r in found if not r.passed and not r.override_by]
    if failed and actor.can(Permission.OVERRIDE_GATES):
        with st.form("evaluate.override"):
            st.caption("Let a failed gate through. The reason is kept with the result and in the audit log.")
            chosen = st.selectbox("Gate result", [r.id for r in failed], format_func=lambda i: f"#{i}")
            reason = st.text_area("Reason", key="evaluate.override_reason")
            if st.form_submit_button("Override"):
                gates.override_gate(store, actor=actor, result_id=chosen, reason=reason)
                st.success(f"Gate result {chosen} overridden.")


def run_label(run: runs.RunInfo) -> str:
    return run.label
