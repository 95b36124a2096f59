"""KPI charts (plotly figures) and the self-contained HTML report. Figures only: the page draws them with
st.plotly_chart (workbench/ui/kpi_view.py), the CLI writes them into the report; no streamlit here."""
from __future__ import annotations

import html
from datetime import datetime, timezone

from core.kpi import registry
from core.kpi.query import KpiReport

REPORT_KPIS = ("requests", "cost", "latency_p95_s", "error_rate", "thumbs_up_rate", "users")


def _plain(text) -> str:
    return html.escape(str(text), quote=False)


def _axis(kpi: str) -> str:
    spec = registry.KPIS[kpi]
    return {"share": f"{spec.label} (%)"}.get(spec.unit, spec.label)


def _scaled(kpi: str, value):
    if value is None:
        return None
    return value * 100 if registry.KPIS[kpi].unit == "share" else value


def series_figure(report: KpiReport, kpi: str, *, target: float | None = None):
    """One KPI per day or week, a line per group when the report is split (graph_objects: a tenth of express's
    time per figure)."""
    import plotly.graph_objects as go

    lines: dict[str, tuple[list, list]] = {}
    for entry in report.series:
        group = _plain(next(iter(entry["by"].values()))) if entry.get("by") else "all"
        xs, ys = lines.setdefault(group, ([], []))
        xs.append(entry["period"])
        ys.append(_scaled(kpi, entry["kpis"].get(kpi)))
    figure = go.Figure([go.Scatter(x=xs, y=ys, mode="lines+markers", name=group, showlegend=bool(report.by))
                        for group, (xs, ys) in lines.items()])
    if target is not None:
        figure.add_hline(y=_scaled(kpi, target), line_dash="dash", line_color="#e03131", annotation_text="target")
    figure.update_layout(title=_plain(f"{registry.KPIS[kpi].label} per {report.every or 'day'}"), height=300,
                         margin=dict(t=40, b=10, l=10, r=10), legend_title_text=_plain(report.by or ""),
                         xaxis_title=f"{(report.every or 'day').capitalize()} (UTC)", yaxis_title=_axis(kpi))
    return figure


def groups_figure(report: KpiReport, kpi: str):
    """One KPI per group, as bars."""
    import plotly.graph_objects as go

    figure = go.Figure(go.Bar(x=[_plain(next(iter(g["by"].values()))) for g in report.groups],
                              y=[_scaled(kpi, g["kpis"].get(kpi)) for g in report.groups], marker_color="#3b5bdb"))
    figure.update_layout(title=_plain(f"{registry.KPIS[kpi].label} by {report.by}"), height=300,
                         margin=dict(t=40, b=10, l=10, r=10), xaxis_title=_plain(report.by or ""),
                         yaxis_title=_axis(kpi))
    return figure


def comparison_figure(comparison, kpi: str):
    """A against B for one KPI; the title carries the significance marker and the sample sizes."""
    import plotly.graph_objects as go

    change = comparison.change(kpi)
    marker = f" * significant (p={change.p_value:.2g}, n={change.n_a}/{change.n_b})" if change.significant else ""
    figure = go.Figure(go.Bar(x=[_plain(comparison.a_label), _plain(comparison.b_label)],
                              y=[_scaled(kpi, change.a), _scaled(kpi, change.b)], marker_color=["#868e96", "#3b5bdb"]))
    figure.update_layout(title=_plain(f"{change.label}{marker}"), height=280, yaxis_title=_axis(kpi),
                         margin=dict(t=40, b=10, l=10, r=10))
    return figure


def png(figure) -> bytes:
    """The figure as a PNG for slides (kaleido with the system's Chromium; a few seconds for the first one)."""
    return figure.to_image(format="png", width=1000, height=420, scale=2)


def format_value(kpi: str, value) -> str:
    if value is None:
        return "–"
    unit = registry.KPIS[kpi].unit if kpi in registry.KPIS else ""
    if unit == "share":
        return f"{value:.1%}"
    if unit == "seconds":
        return f"{value:.2f} s"
    if unit == "usd":
        return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4f}"
    if isinstance(value, float):
        return f"{value:,.3g}"
    return f"{value:,}"


def html_report(report: KpiReport, *, statuses=(), comparison=None, title: str = "KPI report") -> str:
    """One HTML file with everything inline (plotly.js included once): works offline and as an e-mail attachment."""
    figures = [series_figure(report, k) for k in REPORT_KPIS if report.series]
    if report.groups:
        figures += [groups_figure(report, k) for k in ("requests", "cost_per_1k_requests", "latency_p95_s")]
    if comparison is not None:
        figures += [comparison_figure(comparison, c.kpi) for c in comparison.changes if c.significant]
    charts = "\n".join(figure.to_html(full_html=False, include_plotlyjs=(index == 0), default_width="100%")
                       for index, figure in enumerate(figures))
    filters = ", ".join(f"{_plain(k)}: {_plain(v)}" for k, v in report.filters.to_dict().items() if v) or "all events"
    tiles = "".join(f"<tr><td>{_plain(registry.KPIS[k].label)}</td><td>{_plain(format_value(k, v))}</td></tr>"
                    for k, v in report.overall.items())
    target_rows = "".join(
        f"<tr><td>{_plain(s.target.describe())}</td><td>{_plain(format_value(s.target.kpi, s.value))}</td>"
        f"<td>{_plain(s.status)}</td><td>{_plain(f'{s.since:%Y-%m-%d}' if s.since else '–')}</td></tr>"
        for s in statuses)
    changes = ""
    if comparison is not None:
        changes = "<h2>Changes: {} → {}</h2><table><tr><th>KPI</th><th>A</th><th>B</th><th>change</th>" \
                  "<th>significant</th><th>n</th></tr>{}</table>".format(
                      _plain(comparison.a_label), _plain(comparison.b_label), "".join(
                          f"<tr><td>{_plain(c.label)}</td><td>{_plain(format_value(c.kpi, c.a))}</td>"
                          f"<td>{_plain(format_value(c.kpi, c.b))}</td>"
                          f"<td>{'' if c.relative is None else f'{c.relative:+.1%}'}</td>"
                          f"<td>{'* ' + (c.verdict or '') if c.significant else ''}</td>"
                          f"<td>{f'{c.n_a}/{c.n_b}' if c.test else ''}</td></tr>" for c in comparison.changes))
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{_plain(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left}}</style></head><body>
<h1>{_plain(title)}</h1>
<p>Filters: {filters}. Percentiles: {_plain(report.percentiles)}. Made {made} by LLMOps Workbench.</p>
<h2>KPIs</h2><table>{tiles}</table>
{"<h2>Targets</h2><table><tr><th>target</th><th>value</th><th>status</th><th>since</th></tr>" + target_rows + "</table>" if target_rows else ""}
{changes}
<h2>Charts</h2>
{charts}
</body></html>
"""
