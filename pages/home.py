"""Home: what the workbench holds, chosen by role, with links to act on it."""
import streamlit as st

from core import overview
from core.governance.roles import Permission, Role
from workbench import auth, services
from workbench.ui import errors, feedback_view, kpi_view, links, tables
from workbench.ui.alerts_view import show_alerts
from workbench.ui.text import inert

actor = auth.require_page(None)
store = services.store()

st.title("LLMOps Workbench")
st.caption(f"Welcome, {inert(actor.name)}. You are logged in as {actor.role.label.lower()}.")

with errors.shown_to_user():
    tiles = overview.tiles_for(store, actor=actor)
    if tiles:
        for column, tile in zip(st.columns(len(tiles)), tiles):
            with column:
                st.metric(tile.label, f"{tile.value:,}", help=tile.help, border=True)
                links.page_link(tile.page, f"Open {tile.page.capitalize()}")

    if actor.role is Role.ANNOTATOR:
        feedback_view.queue_summary(store, actor)
    if actor.role is Role.VIEWER:
        kpi_view.home_summary(store, actor)
    if actor.can(Permission.VIEW_DASHBOARDS):  # admins, data scientists, viewers
        show_alerts(store, actor)
    if actor.can(Permission.MANAGE_MODELS):
        st.subheader("Start here")
        st.markdown(
            "- **Data**: import a CSV, JSONL, JSON, Parquet or Excel file, then read its profile: personal data, "
            "duplicates, token lengths and whether it is ready for fine-tuning. The demo datasets show a full profile.\n"
            "- **Models**: the bundled chat model `smollm2-135m-instruct` and the embedding model `minilm-l6-v2` "
            "run offline, on the CPU or a GPU.\n"
            "- Run `workbench doctor` in a terminal to see what this machine offers (GPUs, memory, database)."
        )

    activity = overview.recent_activity(store, actor=actor)
    if actor.can(Permission.VIEW_AUDIT):
        st.subheader("Recent activity")
        if activity:
            tables.show(activity)
            links.page_link("admin", "Full audit log", ":material/history:")
        else:
            st.caption("Nothing has happened yet.")
