"""Plotly charts. Core returns data; only this module draws it."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st


def audit_activity(rows: list[dict]) -> None:
    """Events per day, stacked by kind of action."""
    if not rows:
        return
    frame = pd.DataFrame(rows)
    frame["day"] = pd.to_datetime(frame["when"]).dt.floor("D")
    frame["kind"] = frame["action"].str.split(".").str[0]
    counts = frame.groupby(["day", "kind"]).size().reset_index(name="events")
    figure = px.bar(counts, x="day", y="events", color="kind", title="Audit events per day",
                    labels={"day": "Day (UTC)", "events": "Events", "kind": "Area"})
    figure.update_layout(height=280, margin=dict(t=40, b=10, l=10, r=10), bargap=0.2)
    st.plotly_chart(figure, width="stretch")
