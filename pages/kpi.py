"""KPIs: usage, service and quality of the models in production, by segment and version, against targets."""
import streamlit as st

from core.governance.roles import Permission
from workbench import auth, services
from workbench.ui import errors, kpi_view
from workbench.ui.text import inert

actor = auth.require_page(Permission.VIEW_DASHBOARDS)
store = services.store()

st.header("KPIs")
st.caption("Usage, cost, latency and quality from the event log, for a period, a segment and a deployment "
           "version. CLI: `workbench kpi show`, `workbench kpi compare`, `workbench kpi targets`.")
if notice := st.session_state.pop("kpi.notice", None):
    st.success(inert(notice))

with errors.shown_to_user():
    chosen = kpi_view.filters(store, actor)
    period = chosen.kpi_filter()
    current = kpi_view.report(store, actor, period, by=chosen.by, every=chosen.every)
    if not current.overall["requests"]:
        st.info("No event in this period and filter. Applications log events through the server, "
                "`workbench events ingest` or core.events.log.log_events.")
    changes = kpi_view.comparison(store, actor, period)
    target_statuses = kpi_view.statuses(store, actor)
    kpi_view.tiles(current, changes, target_statuses)
    kpi_view.events_link(actor)
    usage, service, quality, business, goals, export = st.tabs(
        ["Usage", "Service", "Quality", "Segments and A/B", "Targets", "Export and share"])
    with usage:
        kpi_view.usage(store, actor, current, period)
    with service:
        kpi_view.service(store, current)
    with quality:
        kpi_view.quality_section(store, actor, current)
    with business:
        kpi_view.business(store, actor, chosen, current, changes)
    with goals:
        kpi_view.targets_section(store, actor, target_statuses)
    with export:
        kpi_view.exports(current, target_statuses, changes)
        kpi_view.share_link(chosen)
