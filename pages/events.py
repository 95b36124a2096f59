"""Events: every model call logged in production; filter, read one conversation, export to a dataset version."""
import streamlit as st

from core.governance.roles import Permission
from workbench import auth

actor = auth.require_page(Permission.VIEW_EVENTS)

from core.events import export, query  # noqa: E402
from workbench import services  # noqa: E402
from workbench.ui import errors, events_view  # noqa: E402
from workbench.ui.text import inert  # noqa: E402

store = services.store()
st.header("Events")
st.caption("One row per model call: from `workbench serve`, the Python call `log_events`, `POST /v1/events` and "
           "files. CLI: `workbench events list | ingest | export`.")

choices = query.filter_choices(store, actor=actor)
if not choices["first"]:
    st.info(events_view.EMPTY_STATE)
    st.stop()

found = []
with errors.shown_to_user():
    filters = events_view.filter_bar(choices)
    total = query.count_events(store, actor=actor, filters=filters)
    found = query.list_events(store, actor=actor, filters=filters)
if not found:
    st.info("No event matches these filters; widen the days or clear a filter.")
    st.stop()

st.caption(f"{total:,} events match; the newest {len(found):,} are listed.")
events_view.event_table(found)

labels = {e.event_id: f"{e.time:%Y-%m-%d %H:%M:%S} · {e.model} · {e.user_id or 'anonymous'} · {e.event_id}"
          for e in found}
chosen = st.selectbox("Open an event", list(labels), format_func=labels.get, key="events.open")
with errors.shown_to_user():
    events_view.show_event(query.get_event(store, actor=actor, event_id=chosen))

if actor.can(Permission.MANAGE_DATA):
    st.subheader("Export to a dataset version")
    st.caption(f"Saves the {min(total, query.MAX_LIMIT):,} matching events (the newest, up to "
               f"{query.MAX_LIMIT:,}) as the next version of a dataset, for profiling, annotation and fine-tuning.")
    with st.form("events.export", border=False):
        name = st.text_input("Dataset name", placeholder="support-bot-traffic", key="events.export.name")
        if st.form_submit_button("Export", type="primary"):
            with errors.shown_to_user():
                from dataclasses import replace

                version = export.export_events(store, actor=actor, filters=replace(filters, limit=query.MAX_LIMIT),
                                               name=name)
                st.success(f"Saved {version.rows:,} events as {inert(version.ref)} ({inert(version.source)}).")
