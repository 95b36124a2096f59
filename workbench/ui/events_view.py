"""The Events page's pieces: the filter bar, the table, and one event's conversation shown as inert text."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import streamlit as st

from core.events.query import EventFilter, EventInfo, parse_where
from workbench.ui import tables

ALL = "All"
EMPTY_STATE = (
    "No event yet. Events arrive three ways: from `workbench serve` (every call to the OpenAI-compatible API is "
    "logged), from applications that call models elsewhere through the Python call "
    "`core.events.log.log_events(store, [EventIn(...)])`, and from files: `workbench events ingest FILE` "
    "(Parquet, JSON Lines or CSV with time, model and input columns). `workbench demo seed` adds 60 days of "
    "support-bot traffic."
)


def _pick(column, label: str, options: list[str], key: str) -> str | None:
    chosen = column.selectbox(label, [ALL, *options], key=key)
    return None if chosen == ALL else chosen


def filter_bar(choices: dict[str, list[str]], *, limit: int = 500) -> EventFilter:
    """Time window, model, deployment, application, status and metadata; returns the filter they make."""
    first = datetime.fromisoformat(choices["first"][0]).date()
    last = datetime.fromisoformat(choices["last"][0]).date()
    top = st.columns([2, 1, 1, 1, 1])
    window = top[0].date_input("Days (UTC)", value=(max(first, last - timedelta(days=6)), last),
                               min_value=first, max_value=max(last, date.today()), key="events.window")
    model = _pick(top[1], "Model", choices["model"], "events.model")
    deployment = _pick(top[2], "Deployment", choices["deployment"], "events.deployment")
    application = _pick(top[3], "Application", choices["application"], "events.application")
    status = _pick(top[4], "Status", ["ok", "error", "rate_limited"], "events.status")
    keys = ", ".join(choices["metadata_keys"][:8])
    where_text = st.text_input("Metadata (KEY=VALUE, comma-separated)", key="events.where",
                               placeholder="segment=claims, region=EU",
                               help=f"Business metadata recorded with the events{': ' + keys if keys else ''}.")
    since = until = None
    if isinstance(window, (tuple, list)) and window:
        since = datetime.combine(window[0], time.min, tzinfo=timezone.utc)
        until = datetime.combine(window[-1], time.min, tzinfo=timezone.utc) + timedelta(days=1)
    where = parse_where([part for part in where_text.split(",") if part.strip()])
    return EventFilter(since=since, until=until, model=model, deployment=deployment, application=application,
                       status=status, where=where, limit=limit)


def event_table(events: list[EventInfo]) -> None:
    rows = [{
        "Time (UTC)": e.time.strftime("%Y-%m-%d %H:%M:%S"), "Event": e.event_id, "Model": e.model,
        "Deployment": f"{e.deployment} v{e.deployment_version}" if e.deployment else "",
        "Application": e.application or "", "User": e.user_id or "", "Status": e.status,
        "Latency (s)": e.latency_s, "Tokens in": e.tokens_in, "Tokens out": e.tokens_out, "Cost (USD)": e.cost,
        "Feedback": e.feedback_score, "Prompt": (e.prompt or "")[:120],
        "Metadata": ", ".join(f"{k}={v}" for k, v in sorted(e.metadata.items())),
    } for e in events]
    tables.show(rows, key="events.table", height=320)


def show_event(event: EventInfo) -> None:
    """Everything recorded with one event; the conversation and the answer as plain text, never markup."""
    st.subheader("Conversation")
    for message in event.messages:
        st.caption(str(message.get("role", "?")).upper())
        content = message.get("content")
        st.text(content if isinstance(content, str) else str(content))
    if isinstance(event.input, dict) and "input" in event.input:  # an embedding call: its texts as given
        texts = event.input["input"]
        for text in texts if isinstance(texts, list) else [texts]:
            st.caption("TEXT")
            st.text(str(text))
    st.caption("ANSWER" + (f" · finish reason {event.finish_reason}" if event.finish_reason else ""))
    if event.output is not None:
        st.text(event.output)
    elif event.endpoint == "embeddings":
        st.text("(an embedding call: the vectors are not recorded)")
    else:
        st.text("(no answer recorded)")
    if event.error:
        st.caption("ERROR")
        st.text(event.error)
    if event.feedback_comment:
        st.caption("END-USER COMMENT")
        st.text(event.feedback_comment)
    recorded = {k: v for k, v in event.to_dict().items()
                if k not in ("input", "output", "error", "feedback_comment", "metadata", "guard_flags")}
    left, right = st.columns(2)
    left.caption("Recorded with it")
    with left:
        tables.show([{"Field": k, "Value": "" if v is None else str(v)} for k, v in recorded.items()],
                    key="events.detail.fields")
    right.caption("Business metadata")
    with right:
        tables.show([{"Key": k, "Value": str(v)} for k, v in sorted(event.metadata.items())] or
                    [{"Key": "(none)", "Value": ""}], key="events.detail.metadata")
        if event.guard_flags:
            st.caption("Guardrail hits")
            tables.show([{k: str(v) for k, v in flag.items()} for flag in event.guard_flags],
                        key="events.detail.guards")
