"""The alert list (drift monitors and KPI targets): on the home page and the Monitoring page."""
from __future__ import annotations

import streamlit as st

from core.governance.roles import Actor, Permission
from core.monitoring import alerts
from core.storage.db import Store
from workbench.ui import errors
from workbench.ui.text import inert

_ICONS = {"critical": ":material/error:", "warning": ":material/warning:"}


def show_alerts(store: Store, actor: Actor, *, key: str = "home.alerts", include_resolved: bool = False) -> None:
    """Active alerts, newest first, each with who acknowledged it and (for those allowed) acknowledge / resolve."""
    if not actor.can(Permission.VIEW_DASHBOARDS):
        return
    with errors.shown_to_user():
        active = alerts.list_alerts(store, actor=actor, status="active")
        st.subheader(f"Alerts ({len(active)} open)" if active else "Alerts")
        if not active:
            st.caption("No open alert: monitors and KPI targets are within their thresholds.")
        for alert in active:
            _show_one(store, actor, alert, key=key)
        if include_resolved:
            resolved = alerts.list_alerts(store, actor=actor, status="resolved", limit=20)
            if resolved:
                with st.expander(f"Recently resolved ({len(resolved)})"):
                    for alert in resolved:
                        st.markdown(f"**{inert(alert.title)}** — resolved by {inert(alert.resolved_by)} "
                                    f"on {alert.resolved_at:%Y-%m-%d %H:%M} UTC")


def _show_one(store: Store, actor: Actor, alert: alerts.AlertInfo, *, key: str) -> None:
    with st.container(border=True):
        st.markdown(f"{_ICONS.get(alert.severity, '')} **{inert(alert.title)}** · {alert.kind} · {alert.severity}")
        st.text(alert.message)
        state = f"Opened {alert.opened_at:%Y-%m-%d %H:%M} UTC"
        if alert.times_raised > 1:
            state += f", raised {alert.times_raised} times (last {alert.last_raised_at:%Y-%m-%d %H:%M})"
        if alert.status == "acknowledged":
            state += f"; acknowledged by {alert.acknowledged_by} at {alert.acknowledged_at:%Y-%m-%d %H:%M}"
        st.caption(inert(state))
        if not actor.can(Permission.HANDLE_ALERTS):
            return
        note = st.text_input("Note", key=f"{key}.{alert.id}.note", placeholder="optional", label_visibility="collapsed")
        left, right, _ = st.columns([1, 1, 3])
        if alert.status == "open" and left.button("Acknowledge", key=f"{key}.{alert.id}.ack"):
            alerts.acknowledge(store, actor=actor, alert_id=alert.id, note=note or None)
            st.rerun()
        if right.button("Resolve", key=f"{key}.{alert.id}.resolve"):
            alerts.resolve(store, actor=actor, alert_id=alert.id, note=note or None)
            st.rerun()
