"""Pieces of the Evaluate page: suite and run tables, pass rates with intervals, flipped cases, outputs side by side,
slices and gate results, and their plotly charts (drawn here, from the data core returns). Every text from a suite,
a model or a user is shown inert (dataframes, st.text, inert(); chart labels HTML-escaped)."""
from __future__ import annotations

import html
import json

import pandas as pd
import streamlit as st

from core.errors import WorkbenchError
from core.evaluation import gates, runs, suites
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
    flips_chart(report)
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
    slice_chart(report)
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


# --- charts --------------------------------------------------------------------------------------------------

PASS, FAIL = "#2f9e44", "#e03131"
SCORED_KINDS = ("reference", "judge", "performance")  # checks whose value is a score, not a 1/0 verdict


def _plain(text) -> str:
    """Plotly renders a little HTML in labels; names from suites and models must stay text."""
    return html.escape(str(text), quote=False)


def _errors(values, lows, highs) -> dict:
    """Asymmetric error bars from interval bounds (none where a bound is missing)."""
    return dict(type="data", symmetric=False, visible=True,
                array=[None if v is None or h is None else max(0.0, h - v) for v, h in zip(values, highs)],
                arrayminus=[None if v is None or lo is None else max(0.0, v - lo) for v, lo in zip(values, lows)])


def _draw(figure, *, title: str, height: int = 320) -> None:
    figure.update_layout(title=_plain(title), height=height, margin=dict(t=50, b=10, l=10, r=10),
                         legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1))
    st.plotly_chart(figure, width="stretch")


def pass_rate_chart(report: dict) -> None:
    """Pass rate per check and model (every case's verdict first), 95% bootstrap intervals as error bars."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for model in report["models"]:
        overall = model.get("pass_rate") or {}
        labels = ["all checks"] + [c["check"] for c in model["checks"]]
        values = [overall.get("value")] + [c["pass_rate"] for c in model["checks"]]
        lows = [overall.get("low")] + [c["pass_rate_ci"][0] for c in model["checks"]]
        highs = [overall.get("high")] + [c["pass_rate_ci"][1] for c in model["checks"]]
        figure.add_trace(go.Bar(name=_plain(model["model"]), x=[_plain(x) for x in labels], y=values,
                                error_y=_errors(values, lows, highs),
                                hovertemplate="%{x}: %{y:.0%}<extra>" + _plain(model["model"]) + "</extra>"))
    if not figure.data:
        return
    figure.update_layout(barmode="group", yaxis=dict(title="Pass rate", tickformat=".0%", range=[0, 1.05]))
    _draw(figure, title="Pass rate per check and model (95% bootstrap intervals)")


def score_chart(report: dict) -> None:
    """Mean value of the scored checks (metrics, judges, latency and cost) per model, one panel per check (each
    its own scale), with 95% bootstrap intervals."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    checks = list(dict.fromkeys(c["check"] for m in report["models"] for c in m["checks"]
                                if c.get("kind") in SCORED_KINDS and c["mean"] is not None))
    if not checks:
        return
    columns = min(3, len(checks))
    rows = (len(checks) + columns - 1) // columns
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=[_plain(c) for c in checks])
    colours = ("#3b5bdb", "#f08c00", "#2f9e44", "#ae3ec9", "#e03131", "#1098ad")
    for index, check in enumerate(checks):
        for number, model in enumerate(report["models"]):
            entry = next((c for c in model["checks"] if c["check"] == check and c["mean"] is not None), None)
            if entry is None:
                continue
            figure.add_trace(go.Bar(name=_plain(model["model"]), x=[_plain(model["model"])], y=[entry["mean"]],
                                    error_y=_errors([entry["mean"]], [entry["mean_ci"][0]], [entry["mean_ci"][1]]),
                                    marker_color=colours[number % len(colours)], legendgroup=model["model"],
                                    showlegend=index == 0,
                                    hovertemplate="%{x}: %{y:.3g}<extra>" + _plain(check) + "</extra>"),
                             row=index // columns + 1, col=index % columns + 1)
    figure.update_xaxes(showticklabels=False)
    _draw(figure, title="Mean score per check and model (95% bootstrap intervals)", height=40 + 280 * rows)


def flips_chart(report: dict) -> None:
    """Cases that flipped against the baseline per candidate: regressions and improvements, and the checks whose
    verdict changed in them."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    flips = report.get("flipped") or {}
    if not flips:
        return
    candidates = list(flips)
    counts = {kind: [sum(1 for f in flips[m] if f["kind"] == kind) for m in candidates]
              for kind in ("regression", "improvement")}
    by_check: dict[tuple[str, str], int] = {}
    for found in flips.values():
        for f in found:
            for check in f["checks"] or ["(case verdict)"]:
                by_check[(check, f["kind"])] = by_check.get((check, f["kind"]), 0) + 1
    checks = sorted({c for c, _ in by_check})
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Flipped cases per candidate", "Checks that changed"))
    for kind, colour in (("regression", FAIL), ("improvement", PASS)):
        figure.add_trace(go.Bar(name=f"{kind}s", x=[_plain(m) for m in candidates], y=counts[kind],
                                marker_color=colour, legendgroup=kind), row=1, col=1)
        figure.add_trace(go.Bar(name=f"{kind}s", x=[_plain(c) for c in checks],
                                y=[by_check.get((c, kind), 0) for c in checks], marker_color=colour,
                                legendgroup=kind, showlegend=False), row=1, col=2)
    figure.update_layout(barmode="group")
    figure.update_yaxes(title="Cases", rangemode="tozero", dtick=1 if max(max(counts["regression"]),
                                                                        max(counts["improvement"])) < 10 else None)
    _draw(figure, title=f"Flips against {report['baseline']}: regressions and improvements")


def slice_chart(report) -> None:
    """A metric per group with its interval; the worst and best groups' gap in the title."""
    import plotly.graph_objects as go

    if not report.groups:
        return
    groups = [g["group"] for g in report.groups]
    values = [g["value"] for g in report.groups]
    colours = [FAIL if g == report.worst_group else PASS if g == report.best_group else "#3b5bdb" for g in groups]
    figure = go.Figure(go.Bar(x=[_plain(g) for g in groups], y=values, marker_color=colours,
                              error_y=_errors(values, [g["low"] for g in report.groups],
                                              [g["high"] for g in report.groups]),
                              customdata=[g["n"] for g in report.groups],
                              hovertemplate="%{x}: %{y:.3g} (n=%{customdata})<extra></extra>"))
    figure.update_layout(xaxis_title=_plain(report.by), yaxis_title=_plain(report.metric))
    gap = "" if report.difference is None else f" · largest difference {report.difference:.3g}"
    _draw(figure, title=f"{report.metric} by {report.by} (95% intervals){gap}", height=300)


def probe_chart(report) -> None:
    """How much the answers changed between the original and the swapped cases."""
    import plotly.graph_objects as go

    measures = [("refusal changed", report.refusal_changed), ("verdict changed", report.pass_changed),
                ("mean sentiment change", report.mean_sentiment_change),
                ("mean length change", report.mean_length_change)]
    shown = [(name, value) for name, value in measures if value is not None]
    if not shown:
        return
    figure = go.Figure(go.Bar(x=[v for _, v in shown], y=[n for n, _ in shown], orientation="h",
                              marker_color="#3b5bdb", hovertemplate="%{y}: %{x:.3g}<extra></extra>"))
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(title="Share of pairs (refusal, verdict) · mean change (sentiment, length)", rangemode="tozero")
    _draw(figure, title=f"Counterfactual probe: {report.pairs} pair(s) of {report.suite} on {report.model}",
          height=260)


def probe_table(report) -> None:
    """The probe's worst pairs (a viewer's copy carries figures only)."""
    if not report.worst:
        return
    st.caption("Worst pairs first (refusal or verdict changes weigh most, then sentiment and length).")
    rows = []
    for row in report.worst:
        entry = {"case": row["position"] + 1, "changed": ", ".join(row["variables"]),
                 "refusal changed": row["refusal_changed"], "verdict changed": row["pass_changed"],
                 "sentiment change": row["sentiment_change"], "length change": row["length_change"]}
        if "original_output" in row:
            entry["swapped input"] = json.dumps(row["swapped_input"], ensure_ascii=False)
            entry["original answer"] = row["original_output"]
            entry["swapped answer"] = row["swapped_output"]
        rows.append(entry)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


# --- forms -----------------------------------------------------------------------------------------------------

NO_PROMPT = "(none: the input column is the user message)"
NO_REFERENCE = "(none)"
REFERENCE_HINTS = ("reference", "expected", "answer", "reply", "target", "output")


def _dataset_refs(store: Store, actor: Actor) -> list[str]:
    from core.data import versions

    return [v.ref for d in versions.list_datasets(store, actor=actor) for v in versions.list_versions(
        store, actor=actor, name=d.name)]


def _prompt_refs(store: Store, actor: Actor) -> list[str]:
    from core.prompts import templates

    refs = []
    for template in templates.list_templates(store, actor=actor):
        refs += [f"{template.name}@{label}" for label in sorted(template.labels)]
        refs += [f"{template.name}@{n}" for n in range(template.latest, 0, -1)]
    return refs


def simple_checks() -> list[str]:
    """Checks that run without parameters (a judge needs a judge model, so it is left to the CLI)."""
    from core.evaluation.checks import CHECKS

    out = []
    for name, check in CHECKS.items():
        if check.kind == "judge":
            continue
        try:
            suites.check_spec({"check": name})
        except WorkbenchError:
            continue
        out.append(name)
    return out


def dataset_suite_form(store: Store, actor: Actor) -> None:
    """A suite whose cases are rows of a dataset version (core.evaluation.suites.suite_from_dataset, audited)."""
    from core.data import versions

    refs = _dataset_refs(store, actor)
    st.subheader("Suite from a dataset version")
    if not refs:
        st.info("No dataset yet: import one on the Data page first.")
        return
    ref = st.selectbox("Dataset version", refs, key="evaluate.ds_version")
    version = versions.get_version(store, actor=actor, ref=ref)
    columns = version.column_names
    inputs = [c for c in suites.INPUT_VARIABLES if c in columns] + [c for c in columns if c not in suites.INPUT_VARIABLES]
    hinted = [c for c in columns if any(h in c.lower() for h in REFERENCE_HINTS)]
    checks = simple_checks()
    with st.form("evaluate.from_dataset"):
        name = st.text_input("Suite name", f"{version.dataset}-cases", key="evaluate.ds_name")
        c1, c2 = st.columns(2)
        prompt = c1.selectbox("Prompt template version", [NO_PROMPT] + _prompt_refs(store, actor),
                              key="evaluate.ds_prompt",
                              help="The template reads the row's columns as variables; without one, the input "
                                   "column is sent as the user message.")
        input_column = c2.selectbox("Input column (without a template)", inputs, key="evaluate.ds_input")
        references = [NO_REFERENCE] + columns
        reference = c1.selectbox("Reference column", references, key="evaluate.ds_reference",
                                 index=references.index(hinted[0]) if hinted else 0,
                                 help="The expected answer, for reference metrics such as chrF.")
        rows = c2.number_input("Rows (the first N)", 1, min(suites.MAX_CASES, max(1, version.rows)),
                               min(50, max(1, version.rows)), key="evaluate.ds_rows")
        chosen = st.multiselect("Checks", checks, default=[c for c in ("refusal", "no_pii") if c in checks],
                                key="evaluate.ds_checks")
        max_chars = st.number_input("Longest answer in characters (0: no length check)", 0, 100_000, 0,
                                    key="evaluate.ds_max_chars")
        description = st.text_input("Description (optional)", key="evaluate.ds_description")
        if st.form_submit_button("Create suite"):
            specs: list = list(chosen)
            if max_chars:
                specs.append({"check": "length", "params": {"max": int(max_chars)},
                              "label": f"at most {int(max_chars)} chars"})
            made = suites.suite_from_dataset(
                store, actor=actor, name=name, dataset_version=ref, checks=specs,
                prompt=None if prompt == NO_PROMPT else prompt,
                reference_column=None if reference == NO_REFERENCE else reference, rows=int(rows),
                input_column=input_column if prompt == NO_PROMPT else None, description=description or None)
            st.success(f"Saved {inert(made.ref)}: {made.case_count} cases from {inert(ref)}.")


def probe_form(store: Store, actor: Actor, suite_refs: list[str], models: list[str]) -> int | None:
    """A counterfactual probe submitted as a job; returns its job id once submitted."""
    from core.evaluation import bias
    from core.inference.generate import GenerationSettings

    with st.form("evaluate.probe"):
        st.subheader("New counterfactual probe")
        st.caption("Each case mentioning a term of the list is answered twice, as written and with the terms "
                   "swapped (he ↔ she, names, ages, origins); the pairs' refusals, verdicts, sentiment and length "
                   "are compared.")
        c1, c2, c3 = st.columns([2, 2, 1])
        suite = c1.selectbox("Suite", suite_refs, key="evaluate.probe_suite")
        model = c2.selectbox("Model", models, key="evaluate.probe_model")
        tokens = c3.number_input("Max new tokens", 1, 2048, 64, key="evaluate.probe_tokens")
        swaps = st.text_area("Swap list (one `term = term` a line)", bias.format_swaps(bias.DEFAULT_SWAPS),
                             height=160, key="evaluate.probe_swaps")
        if st.form_submit_button("Run probe", type="primary"):
            job = bias.submit_counterfactual(store, actor=actor, suite=suite, model=model,
                                             swaps=bias.parse_swaps(swaps),
                                             settings=GenerationSettings(max_new_tokens=int(tokens)))
            return job.id
    return None


def probe_results(store: Store, actor: Actor, chosen: int | None = None) -> None:
    from core.evaluation import bias

    found = bias.list_probes(store, actor=actor)
    if not found:
        st.info("No counterfactual probe yet.")
        return
    ids = [p.job_id for p in found]
    job_id = st.selectbox("Probe", ids, index=ids.index(chosen) if chosen in ids else 0,
                          format_func=lambda i: next(p.label for p in found if p.job_id == i),
                          key="evaluate.probe_pick")
    report = bias.probe_of_job(store, actor=actor, job_id=job_id)
    if report is None:
        status = next(p.status for p in found if p.job_id == job_id)
        st.info(f"This probe has no report: its job is {inert(status)}.")
        return
    if not report.pairs:
        st.info("No case of the suite mentions a term of the swap list.")
        return
    probe_chart(report)
    probe_table(report)
