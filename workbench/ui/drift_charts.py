"""Drift charts: the statistic per window with its threshold and sample size, and reference-vs-current views.
Core returns the numbers (core/monitoring); only this module draws them."""
from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots


def _plain(text) -> str:
    return html.escape(str(text), quote=False)


def drift_timeline(points: list, *, title: str, key: str | None = None) -> None:
    """One field's statistic per window (red where drifted), the threshold as a dashed line, and bars of the
    window's sample size on a second axis."""
    if not points:
        st.caption(f"{title}: no windows yet.")
        return
    frame = pd.DataFrame([{"window": p.window_start, "statistic": p.statistic, "threshold": p.threshold,
                           "drift": p.drift_detected, "size": p.current_size,
                           "p_value": p.p_value} for p in points])
    uses_p = frame["p_value"].notna().all()
    y = frame["p_value"] if uses_p else frame["statistic"]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_bar(x=frame["window"], y=frame["size"], name="events in window", opacity=0.25,
                   marker_color="#7f7f7f", secondary_y=True)
    figure.add_scatter(x=frame["window"], y=y, mode="lines+markers", name="p-value" if uses_p else "statistic",
                       marker=dict(color=["#d62728" if d else "#1f77b4" for d in frame["drift"]], size=9),
                       line=dict(color="#1f77b4"), secondary_y=False)
    figure.add_scatter(x=frame["window"], y=frame["threshold"], mode="lines", name="threshold",
                       line=dict(color="#d62728", dash="dash"), secondary_y=False)
    test = points[-1].test
    figure.update_layout(title=_plain(f"{title} — {test} ({'drift below the line' if uses_p else 'drift at or above the line'})"),
                         height=300, margin=dict(t=50, b=10, l=10, r=10), legend=dict(orientation="h", y=-0.2))
    figure.update_yaxes(title_text="p-value" if uses_p else "statistic", secondary_y=False,
                        type="log" if uses_p else None)
    figure.update_yaxes(title_text="events", secondary_y=True, showgrid=False)
    st.plotly_chart(figure, width="stretch", key=key)


def histogram_compare(details: dict, *, title: str, key: str | None = None) -> None:
    hist = details.get("histogram")
    if not hist:
        return
    edges = hist["edges"]
    centers = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    figure = go.Figure()
    figure.add_bar(x=centers, y=hist["reference"], name="reference", opacity=0.6)
    figure.add_bar(x=centers, y=hist["current"], name="current window", opacity=0.6)
    figure.update_layout(barmode="overlay", title=_plain(title), height=280, yaxis_title="share of values",
                         margin=dict(t=40, b=10, l=10, r=10))
    st.plotly_chart(figure, width="stretch", key=key)


def categories_compare(details: dict, *, title: str, key: str | None = None) -> None:
    rows = details.get("top_categories")
    if not rows:
        return
    frame = pd.DataFrame(rows)
    figure = go.Figure()
    labels = [_plain(c) for c in frame["category"]]
    figure.add_bar(y=labels, x=frame["reference"], name="reference", orientation="h")
    figure.add_bar(y=labels, x=frame["current"], name="current window", orientation="h")
    figure.update_layout(barmode="group", title=_plain(title), height=120 + 28 * len(frame),
                         xaxis_title="share", xaxis_tickformat=".0%", margin=dict(t=40, b=10, l=10, r=10),
                         yaxis=dict(autorange="reversed"))
    st.plotly_chart(figure, width="stretch", key=key)
