"""Plotly charts. Core returns data; only this module draws it."""
from __future__ import annotations

import html

import pandas as pd
import plotly.express as px
import streamlit as st


def _plain(text) -> str:
    """Plotly renders a little HTML (links, bold) in titles and labels; data-derived text must stay text."""
    return html.escape(str(text), quote=False)


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
    day_ms = 86_400_000
    figure.update_traces(width=0.8 * day_ms)
    figure.update_xaxes(tickformat="%Y-%m-%d", dtick=day_ms)
    figure.update_layout(height=280, margin=dict(t=40, b=10, l=10, r=10))
    st.plotly_chart(figure, width="stretch")


def histogram(hist: dict, *, title: str, x_label: str, marker: float | None = None, marker_label: str = "") -> None:
    """A histogram computed in core (edges + counts), with an optional vertical marker such as max length."""
    if not hist or not hist.get("counts"):
        st.caption(f"{title}: no values.")
        return
    edges = hist["edges"]
    centers = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    widths = [b - a for a, b in zip(edges, edges[1:])]
    import plotly.graph_objects as go

    figure = go.Figure(go.Bar(x=centers, y=hist["counts"], width=widths, marker_color="#3b5bdb",
                              hovertemplate="%{x:.0f}: %{y} rows<extra></extra>"))
    # The axis fits the data; a marker far beyond it (a max length no example reaches) is said, not drawn.
    low, high = edges[0], edges[-1]
    if marker is not None and marker <= high + 0.1 * (high - low):
        figure.add_vline(x=marker, line_dash="dash", line_color="#e03131", annotation_text=marker_label)
        high = max(high, marker)
    elif marker is not None:
        figure.add_annotation(x=1, y=1, xref="paper", yref="paper", xanchor="right", yanchor="top", showarrow=False,
                              text=f"{_plain(marker_label)} {marker:,.0f}: beyond every value", font=dict(color="#e03131"))
    figure.update_xaxes(range=[low, high + 0.02 * (high - low)])
    figure.update_layout(title=_plain(title), xaxis_title=_plain(x_label), yaxis_title="Rows", height=280,
                         margin=dict(t=40, b=10, l=10, r=10), bargap=0.05)
    st.plotly_chart(figure, width="stretch")


def bars(labels: list[str], values: list[float], *, title: str, x_label: str = "", horizontal: bool = True) -> None:
    if not labels:
        return
    frame = pd.DataFrame({"label": [_plain(x) for x in labels], "value": values})
    figure = px.bar(frame, x="value", y="label", orientation="h", title=_plain(title)) if horizontal else \
        px.bar(frame, x="label", y="value", title=_plain(title))
    figure.update_layout(height=max(200, 40 + 28 * len(labels)) if horizontal else 280, xaxis_title=x_label,
                         yaxis_title="", margin=dict(t=40, b=10, l=10, r=10))
    if horizontal:
        figure.update_yaxes(autorange="reversed")
    st.plotly_chart(figure, width="stretch")


def lineage_graph(lineage: dict) -> None:
    """Versions as nodes, left to right by generation; the selected version is highlighted."""
    import plotly.graph_objects as go

    edges = [tuple(e) for e in lineage["ancestors"] + lineage["descendants"]]
    nodes = list(lineage["nodes"])
    if not edges:
        st.caption(f"{lineage['version']} has no parents and nothing was made from it yet.")
        return
    depth = {n: 0 for n in nodes}
    for _ in range(len(nodes)):
        for parent, child in edges:
            depth[child] = max(depth[child], depth[parent] + 1)
    rows: dict[int, list[str]] = {}
    for n in nodes:
        rows.setdefault(depth[n], []).append(n)
    position = {n: (d, i) for d, members in rows.items() for i, n in enumerate(sorted(members))}
    figure = go.Figure()
    info = lineage["nodes"]
    for parent, child in edges:
        (x0, y0), (x1, y1) = position[parent], position[child]
        figure.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", line=dict(color="#adb5bd", width=2),
                                    hoverinfo="skip", showlegend=False))
        # The operation that made the child, on its edge ("redact", "dedupe", "split"...).
        figure.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=_plain(info[child]["transformation"]),
                              showarrow=False, yshift=10, font=dict(color="#495057"))
    figure.add_trace(go.Scatter(
        x=[position[n][0] for n in nodes], y=[position[n][1] for n in nodes], mode="markers+text",
        text=[f"{_plain(n)}<br>{info[n]['rows']:,} rows" for n in nodes], textposition="bottom center",
        showlegend=False,
        marker=dict(size=18, color=["#e03131" if n == lineage["version"] else "#3b5bdb" for n in nodes]),
        hovertext=[f"{n}: {info[n]['transformation']}, {info[n]['rows']:,} rows, by {info[n]['created_by']}" for n in nodes],
        hoverinfo="text",
    ))
    depth_max = max(rows)
    figure.update_layout(height=140 + 70 * max(len(m) for m in rows.values()), margin=dict(t=20, b=10, l=10, r=10),
                         xaxis=dict(visible=False, range=[-0.4, depth_max + 0.4]),
                         yaxis=dict(visible=False, range=[-0.6, max(len(m) for m in rows.values()) - 0.4]))
    st.plotly_chart(figure, width="stretch")


def feedback_leaderboard(board: pd.DataFrame) -> None:
    """Bradley-Terry scores with their bootstrap intervals, best on top."""
    if board.empty:
        return
    frame = board.assign(Model=board["Model"].map(_plain), below=board["Score"] - board["95% low"],
                         above=board["95% high"] - board["Score"])
    figure = px.scatter(frame, x="Score", y="Model", error_x="above", error_x_minus="below",
                        title="Leaderboard (Bradley-Terry, 95% interval)")
    figure.update_yaxes(categoryorder="array", categoryarray=list(frame["Model"])[::-1], title=None)
    figure.update_layout(height=120 + 40 * len(frame), margin=dict(t=40, b=10, l=10, r=10))
    st.plotly_chart(figure, width="stretch")


def feedback_scores(frame: pd.DataFrame) -> None:
    """Mean score per model / prompt version and question, with bootstrap intervals."""
    if frame.empty:
        return
    data = frame.assign(group=frame["Model / prompt"].map(_plain), below=frame["Mean"] - frame["95% low"],
                        above=frame["95% high"] - frame["Mean"])
    figure = px.bar(data, x="Mean", y="group", color="Question", barmode="group", orientation="h",
                    error_x="above", error_x_minus="below", title="Scores (95% bootstrap interval)",
                    labels={"group": "Model / prompt"})
    figure.update_layout(height=140 + 36 * len(data), margin=dict(t=40, b=10, l=10, r=10))
    st.plotly_chart(figure, width="stretch")
