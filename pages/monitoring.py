"""Monitoring: drift of production traffic against a reference, per field and window, and the alerts it raised."""
import streamlit as st

from core.governance.roles import Permission
from core.monitoring import monitors, runs
from workbench import auth, services
from workbench.ui import errors, monitoring_view
from workbench.ui.alerts_view import show_alerts

actor = auth.require_page(Permission.VIEW_DASHBOARDS)
store = services.store()

st.header("Monitoring")
st.caption("Each monitor compares daily or weekly windows of production events with a reference (a dataset "
           "version or a period of events). CLI: `workbench monitor drift`, `workbench monitor run`.")

with errors.shown_to_user():
    found = monitors.list_monitors(store, actor=actor)
    if not found:
        st.info("No monitor yet." + (" Create one below or with `workbench monitor create`."
                                     if actor.can(Permission.MANAGE_MONITORS) else ""))
    else:
        names = [m.name for m in found]
        name = st.selectbox("Monitor", names, key="monitoring.selected")
        monitor = next(m for m in found if m.name == name)
        monitoring_view.overview(store, actor, monitor)
        points = runs.timeline(store, actor=actor, monitor_id=monitor.id)
        tab_timeline, tab_detail = st.tabs(["Timeline", "Drill down"])
        with tab_timeline:
            monitoring_view.timelines(points, monitor)
        with tab_detail:
            monitoring_view.drill_down(points, monitor, actor)

show_alerts(store, actor, key="monitoring.alerts", include_resolved=True)

if actor.can(Permission.MANAGE_MONITORS):
    with errors.shown_to_user():
        monitoring_view.create_form(store, actor)
