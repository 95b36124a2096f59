"""Monitoring page parts: a monitor's summary and runs, drift timelines, drill-down per field, the create form."""
from __future__ import annotations

import streamlit as st

from core.governance.roles import Actor, Permission
from core.monitoring import drift_tests, jobs as monitor_jobs, monitors, runs
from core.monitoring.fields import BUILT_IN
from core.storage.db import Store
from workbench.ui import drift_charts, tables
from workbench.ui.text import inert


def overview(store: Store, actor: Actor, monitor: monitors.MonitorInfo) -> None:
    st.caption(inert(f"{monitor.reference_label} (reference) vs {monitor.current_label}; fields: "
                     f"{', '.join(monitor.fields)}; alerts after {monitor.min_windows} drifting window(s) in a row; "
                     f"schedule {monitor.schedule}; created by {monitor.created_by}."))
    latest = runs.latest_run(store, actor=actor, monitor_id=monitor.id)
    if latest is None:
        st.info("This monitor has not run yet.")
    elif latest.status == "failed":
        st.error(inert(f"The latest run failed: {latest.error}"))
    elif latest.status == "running":
        st.info(f"Run {latest.id} is running.")
    else:
        (st.warning if latest.drifted_fields else st.success)(inert(latest.summary or ""))
        st.caption(f"Run {latest.id} by {inert(latest.created_by)}, finished "
                   f"{latest.finished_at:%Y-%m-%d %H:%M} UTC over {latest.windows} windows.")
    if actor.can(Permission.MANAGE_MONITORS) and st.button("Run now", key=f"monitoring.run.{monitor.id}"):
        job = monitor_jobs.submit_monitor_run(store, actor=actor, monitor=monitor.id)
        st.success(f"Queued as job {job.id}; the results appear here when it finishes (Jobs shows its progress).")


def timelines(points: list[runs.TimelinePoint], monitor: monitors.MonitorInfo) -> None:
    for field in monitor.fields:
        mine = [p for p in points if p.field == field]
        label = BUILT_IN[field].label if field in BUILT_IN else field
        drift_charts.drift_timeline(mine, title=label, key=f"monitoring.timeline.{monitor.id}.{field}")


def drill_down(points: list[runs.TimelinePoint], monitor: monitors.MonitorInfo, actor: Actor) -> None:
    if not points:
        return
    st.subheader("Drill down")
    left, right = st.columns(2)
    field = left.selectbox("Field", monitor.fields, key=f"monitoring.field.{monitor.id}")
    windows = sorted({p.window_start for p in points if p.field == field}, reverse=True)
    if not windows:
        st.caption("No window has values for this field.")
        return
    window = right.selectbox("Window", windows, format_func=lambda w: f"{w:%Y-%m-%d}",
                             key=f"monitoring.window.{monitor.id}")
    point = next(p for p in points if p.field == field and p.window_start == window)
    details = point.details
    verdict = "drift" if point.drift_detected else "no drift"
    score = f"p = {point.p_value:.3g}" if point.p_value is not None else f"statistic = {point.statistic:.3g}"
    st.markdown(f"**{verdict.capitalize()}** · {drift_tests.get(point.test).label}: {score} "
                f"(threshold {point.threshold:g}) · reference {point.reference_size:,} vs current "
                f"{point.current_size:,} values" + (" (bounded sample)" if details.get("sampled") else ""))
    if details.get("change"):
        st.caption(inert(details["change"]))
    drift_charts.histogram_compare(details, title="Reference vs current window", key=f"monitoring.hist.{monitor.id}")
    drift_charts.categories_compare(details, title="Top categories", key=f"monitoring.cats.{monitor.id}")
    if details.get("words_grown"):
        st.markdown("**Words that grew the most** (share of texts containing them)")
        tables.show([{"word": w["word"], "reference": f"{w['reference']:.1%}", "current": f"{w['current']:.1%}",
                      "growth": f"{w['growth']:.1f}x"} for w in details["words_grown"]])
    if details.get("examples"):
        st.markdown("**Most novel current prompts** (farthest from every reference prompt)")
        tables.show([{"similarity to nearest reference": e["similarity"], "text": e["text"],
                      "event": e.get("event_id")} for e in details["examples"]])
    elif point.kind in ("text", "embedding") and not actor.can(Permission.VIEW_EVENTS):
        st.caption("Prompt text is shown to data scientists only.")


def create_form(store: Store, actor: Actor) -> None:
    with st.expander("New monitor"), st.form("monitoring.create"):
        name = st.text_input("Name")
        reference = st.text_input("Reference", placeholder="events:2026-01-01..2026-02-10 or DATASET@VERSION",
                                  help="A dataset version (e.g. the fine-tuning data), a range of events, or "
                                       "`lineage`: the data the deployment's model was fine-tuned on.")
        fields = st.multiselect("Fields", sorted(BUILT_IN), default=["prompt_chars", "latency_s", "thumbs_up"],
                                help="Metadata fields (meta.KEY) can be added from the CLI.")
        extra = st.text_input("Metadata fields", placeholder="meta.topic, meta.region")
        left, middle, right = st.columns(3)
        window = left.selectbox("Window", ["day", "week"])
        min_windows = middle.number_input("Windows in a row before alerting", 1, 30, 2)
        schedule = right.selectbox("Schedule", ["daily", "weekly", "manual"])
        deployment = st.text_input("Only deployment (optional)")
        if st.form_submit_button("Create monitor"):
            chosen = fields + [f.strip() for f in extra.split(",") if f.strip()]
            info = monitors.create_monitor(store, actor=actor, name=name, reference=reference, fields=chosen,
                                           window=window, min_windows=int(min_windows), schedule=schedule,
                                           deployment=deployment or None)
            st.session_state["monitoring.selected"] = info.name
            st.success(f"Created monitor {inert(info.name)}; run it with Run now.")
