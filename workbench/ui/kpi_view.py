"""The KPI page's parts: filters kept in the URL (a shareable link), tiles against targets, charts, A/B, export.

Reports are cached for a minute per (filters, newest event id): a warm rerun reads only max(id) from the database.
Nothing here reads prompt or output text; the KPI queries never select those columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlencode

import streamlit as st

from core.governance.roles import Actor, Permission
from core.kpi import export, quality, query, registry, significance, spend, targets
from core.kpi.query import KpiFilter
from core.storage.db import Store
from workbench.ui import kpi_charts, links, tables
from workbench.ui.text import inert

CACHE_TTL_S = 60
TILES = ("requests", "users", "cost", "cost_per_1k_requests", "latency_p95_s", "error_rate", "thumbs_up_rate")
SPLITS = ("", "deployment_version", "model", "deployment", "application", "arm", "template_version", "status")


@dataclass(frozen=True)
class PageFilters:
    since: date
    until: date  # included
    every: str
    by: str
    where_key: str
    where_value: str
    deployment: str

    def kpi_filter(self) -> KpiFilter:
        return KpiFilter(since=datetime.combine(self.since, time(), tzinfo=timezone.utc),
                         until=datetime.combine(self.until + timedelta(days=1), time(), tzinfo=timezone.utc),
                         deployment=self.deployment or None,
                         where={self.where_key: self.where_value} if self.where_key and self.where_value else {})

    def params(self) -> dict[str, str]:
        values = {"since": self.since.isoformat(), "until": self.until.isoformat(), "every": self.every,
                  "by": self.by, "where": f"{self.where_key}={self.where_value}" if self.where_key else "",
                  "deployment": self.deployment}
        return {k: v for k, v in values.items() if v}


# --- cached reads ---------------------------------------------------------------------------------------------

def _actor_key(actor: Actor) -> tuple:
    return actor.name, actor.role.value


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=64)
def _report(_store: Store, _actor: Actor, actor_key: tuple, filters: KpiFilter, by: str | None, every: str | None,
            marker: tuple) -> query.KpiReport:
    return query.compute_kpis(_store, actor=_actor, filters=filters, by=by, every=every)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=32)
def _comparison(_store: Store, _actor: Actor, actor_key: tuple, filters: KpiFilter, versions: tuple | None,
                marker: tuple) -> significance.KpiComparison:
    if versions:
        return significance.compare_versions(_store, actor=_actor, filters=filters.replace(deployment=None),
                                             deployment=versions[0], version_a=versions[1], version_b=versions[2])
    return significance.compare_periods(_store, actor=_actor, filters=filters)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=8)
def _statuses(_store: Store, _actor: Actor, actor_key: tuple, marker: tuple, hour: str) -> list:
    return targets.target_statuses(_store, actor=_actor)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=64)
def _distinct(_store: Store, _actor: Actor, actor_key: tuple, name: str, filters: KpiFilter, marker: tuple) -> list:
    return query.distinct_values(_store, actor=_actor, name=name, filters=filters)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=4)
def _span_and_keys(_store: Store, marker: tuple) -> tuple:
    return query.event_span(_store), query.metadata_keys(_store)


def distinct_values(store: Store, actor: Actor, name: str, filters: KpiFilter = KpiFilter()) -> list:
    """The values a field takes in the period (for pickers), cached like the reports."""
    return _distinct(store, actor, _actor_key(actor), name, filters, _marker(store))


def _marker(store: Store) -> tuple:
    """What the caches are keyed on besides the filters: which database, and its newest event's row id."""
    return str(store.settings.home), store.settings.database_url, query.latest_event_id(store)


def report(store: Store, actor: Actor, filters: KpiFilter, *, by: str | None = None, every: str | None = None):
    return _report(store, actor, _actor_key(actor), filters, by or None, every, _marker(store))


def comparison(store: Store, actor: Actor, filters: KpiFilter, versions: tuple | None = None):
    return _comparison(store, actor, _actor_key(actor), filters, versions, _marker(store))


def statuses(store: Store, actor: Actor) -> list:
    listed = targets.list_targets(store, actor=actor)
    key = (_marker(store), tuple((t.id, t.updated_at.isoformat()) for t in listed))
    return _statuses(store, actor, _actor_key(actor), key, datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"))


# --- filters in the URL ---------------------------------------------------------------------------------------

def _param_date(name: str, default: date) -> date:
    try:
        return date.fromisoformat(st.query_params.get(name, ""))
    except ValueError:
        return default


def filters(store: Store, actor: Actor) -> PageFilters:
    """The period picker, split and filters; starts from the URL's query parameters and writes them back."""
    (first, last), keys = _span_and_keys(store, _marker(store))
    last_day = (last or datetime.now(timezone.utc)).date()
    first_day = (first or datetime.now(timezone.utc)).date()
    default_since = max(first_day, last_day - timedelta(days=27))
    since = _param_date("since", default_since)
    until = _param_date("until", last_day)
    splits = [s for s in SPLITS] + [k for k in keys if k not in SPLITS]
    by_default = st.query_params.get("by", "")
    where_key, _, where_value = st.query_params.get("where", "").partition("=")

    left, middle, right = st.columns([2, 1, 1])
    picked = left.date_input("Period (UTC days)", value=(since, until), key="kpi.period", format="YYYY-MM-DD")
    if isinstance(picked, (tuple, list)) and len(picked) == 2:
        since, until = picked
    every = middle.selectbox("Every", ("day", "week"), index=0 if st.query_params.get("every", "day") != "week" else 1,
                             key="kpi.every")
    by = right.selectbox("Split by", splits, index=splits.index(by_default) if by_default in splits else 0,
                         format_func=lambda s: s or "(no split)", key="kpi.by")
    one, two, three = st.columns(3)
    filter_keys = [""] + list(dict.fromkeys(keys + ["deployment_version", "model", "application"]))
    where_key = one.selectbox("Filter on", filter_keys, index=filter_keys.index(where_key)
                              if where_key in filter_keys else 0, format_func=lambda s: s or "(no filter)",
                              key="kpi.where_key")
    values = [""] + [str(v) for v in distinct_values(store, actor, where_key)] if where_key else [""]
    where_value = two.selectbox("equal to", values, index=values.index(where_value) if where_value in values else 0,
                                key="kpi.where_value", disabled=not where_key)
    deployments = [""] + [str(v) for v in distinct_values(store, actor, "deployment")]
    wanted = st.query_params.get("deployment", "")
    deployment = three.selectbox("Deployment", deployments, index=deployments.index(wanted)
                                 if wanted in deployments else 0, format_func=lambda s: s or "(all)",
                                 key="kpi.deployment")
    chosen = PageFilters(since=since, until=until, every=every, by=by, where_key=where_key,
                         where_value=where_value, deployment=deployment)
    params = chosen.params()
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)
    return chosen


def share_link(chosen: PageFilters) -> None:
    st.caption("Share these filters with another logged-in user (the link holds only the filters):")
    st.code(f"/kpi?{urlencode(chosen.params())}", language="text")


# --- tiles ----------------------------------------------------------------------------------------------------

def _delta(change) -> str | None:
    """A marker only where the change is significant."""
    if change is None or not change.significant or change.relative is None:
        return None
    return f"{change.relative:+.1%} *"


def tiles(current: query.KpiReport, changes: significance.KpiComparison | None, target_statuses: list) -> None:
    columns = st.columns(len(TILES))
    for column, name in zip(columns, TILES):
        spec = registry.KPIS[name]
        change = changes.change(name) if changes else None
        help_text = spec.help
        if change is not None and change.test:
            help_text += (f" Previous period {kpi_charts.format_value(name, change.a)}; {change.test}, "
                          f"p={change.p_value:.3g}, n={change.n_a:,}/{change.n_b:,}." if change.p_value is not None
                          else "")
        with column:
            st.metric(spec.label, kpi_charts.format_value(name, current.overall.get(name)), delta=_delta(change),
                      delta_color="off" if not spec.better else ("inverse" if spec.better == "lower" else "normal"),
                      help=help_text, border=True)
    st.caption("Changes against the previous period of the same length are shown only where significant "
               "(* p < 0.01; hover a tile for the test and the sample sizes). Percentiles are exact.")
    if target_statuses:
        target_tiles(target_statuses)


def target_tiles(target_statuses: list) -> None:
    for offset in range(0, len(target_statuses), 4):
        row = target_statuses[offset:offset + 4]
        for column, status in zip(st.columns(4), row):
            target = status.target
            since = f" since {status.since:%Y-%m-%d}" if status.since else ""
            icon = {"met": ":material/check_circle:", "failing": ":material/error:"}.get(status.status,
                                                                                         ":material/help:")
            with column.container(border=True):
                st.markdown(f"{icon} **{inert(target.label)}** · {inert(target.where)}")
                st.metric(f"Target {targets.COMPARISONS[target.comparison]} "
                          f"{kpi_charts.format_value(target.kpi, target.threshold)} over {target.window_hours} h",
                          kpi_charts.format_value(target.kpi, status.value),
                          delta=f"{status.status}{since}", delta_color="normal" if status.status == "met" else
                          ("inverse" if status.status == "failing" else "off"))


# --- sections -------------------------------------------------------------------------------------------------

def _chart(figure, key: str) -> None:
    st.plotly_chart(figure, width="stretch", key=key)


@st.cache_resource(ttl=CACHE_TTL_S, show_spinner=False, max_entries=256)
def _figure(_report: query.KpiReport, report_key: tuple, kind: str, kpi: str):
    """Figures are built once per report and KPI (building ~20 plotly figures would dominate a warm rerun)."""
    return (kpi_charts.series_figure if kind == "series" else kpi_charts.groups_figure)(_report, kpi)


def _report_key(report: query.KpiReport, store: Store) -> tuple:
    return repr(report.filters), report.by, report.every, _marker(store)


def series_chart(store: Store, report: query.KpiReport, kpi: str, key: str) -> None:
    _chart(_figure(report, _report_key(report, store), "series", kpi), key)


def groups_chart(store: Store, report: query.KpiReport, kpi: str, key: str) -> None:
    _chart(_figure(report, _report_key(report, store), "groups", kpi), key)


def usage(store: Store, actor: Actor, current: query.KpiReport, filters_: KpiFilter) -> None:
    for name in ("requests", "users", "applications", "cost", "tokens_out"):
        series_chart(store, current, name, f"kpi.usage.{name}")
    by_model = report(store, actor, filters_, by="model")
    by_deployment = report(store, actor, filters_, by="deployment")
    left, right = st.columns(2)
    with left:
        groups_chart(store, by_model, "cost", "kpi.usage.cost_model")
    with right:
        groups_chart(store, by_deployment, "cost", "kpi.usage.cost_deployment")
    st.markdown("**Fine-tuning and evaluation spend** (jobs finished in the period, priced per GPU or CPU hour "
                "from the settings)")
    spent = spend.job_spend(store, actor=actor, since=filters_.since, until=filters_.until)
    if spent:
        tables.show(spent, key="kpi.usage.spend")
    else:
        st.caption("No job finished in this period.")


def service(store: Store, current: query.KpiReport) -> None:
    for name in ("latency_p50_s", "latency_p95_s", "latency_p99_s", "ttft_p95_s", "error_rate",
                 "rate_limited_rate"):
        series_chart(store, current, name, f"kpi.service.{name}")


def quality_section(store: Store, actor: Actor, current: query.KpiReport) -> None:
    for name in ("thumbs_up_rate", "mean_score", "guard_incident_rate"):
        series_chart(store, current, name, f"kpi.quality.{name}")
    st.metric("Open drift alerts", quality.open_drift_alerts(store, actor=actor))
    ratings = quality.annotation_ratings(store, actor=actor)
    st.markdown("**Annotation ratings** (mean of numeric and yes/no questions)")
    if ratings:
        tables.show(ratings, key="kpi.quality.ratings")
    else:
        st.caption("No annotation project has numeric ratings yet.")
    scores = quality.evaluation_scores(store, actor=actor)
    st.markdown("**Evaluation runs**: share of passed checks per model")
    if scores:
        tables.show(scores, key="kpi.quality.evals")
    else:
        st.caption("No finished evaluation run yet.")


def business(store: Store, actor: Actor, chosen: PageFilters, current: query.KpiReport,
             changes: significance.KpiComparison | None) -> None:
    if chosen.by and current.groups:
        rows = [{chosen.by: g["by"][chosen.by], **{registry.KPIS[k].label: g["kpis"][k] for k in TILES}}
                for g in current.groups]
        tables.show(rows, key="kpi.business.groups")
        for name in ("cost_per_1k_requests", "latency_p95_s", "thumbs_up_rate"):
            groups_chart(store, current, name, f"kpi.business.{name}")
    else:
        st.caption("Choose a split above (segment, region, deployment version...) to compare groups.")
    st.markdown("**This period against the previous one**")
    if changes is not None:
        comparison_table(changes)
    st.markdown("**A/B: two versions of a deployment over the same period**")
    deployments = [str(v) for v in distinct_values(store, actor, "deployment", chosen.kpi_filter())]
    if not deployments:
        st.caption("No deployment served traffic in this period.")
        return
    left, middle, right = st.columns(3)
    deployment = left.selectbox("Deployment", deployments, key="kpi.ab.deployment")
    versions = sorted(int(v) for v in distinct_values(
        store, actor, "deployment_version", chosen.kpi_filter().replace(deployment=deployment)))
    if len(versions) < 2:
        st.caption(f"{inert(deployment)} served one version in this period; nothing to compare.")
        return
    version_a = middle.selectbox("Version A", versions, index=0, key="kpi.ab.a")
    version_b = right.selectbox("Version B", versions, index=len(versions) - 1, key="kpi.ab.b")
    if version_a == version_b:
        st.caption("Choose two different versions.")
        return
    comparison_table(comparison(store, actor, chosen.kpi_filter(), (deployment, version_a, version_b)))


def comparison_table(changes: significance.KpiComparison) -> None:
    rows = []
    for c in changes.changes:
        rows.append({"KPI": c.label, changes.a_label: kpi_charts.format_value(c.kpi, c.a),
                     changes.b_label: kpi_charts.format_value(c.kpi, c.b),
                     "Change": "" if c.relative is None else f"{c.relative:+.1%}",
                     "Significant": ("* " + (c.verdict or "")) if c.significant else "",
                     "p": None if c.p_value is None else float(f"{c.p_value:.3g}"),
                     "n (A / B)": f"{c.n_a:,} / {c.n_b:,}" if c.test else "", "Test": c.test or ""})
    tables.show(rows)
    st.caption(f"* significant at p < {changes.alpha:g}: rates by a two-proportion z-test on the exact counts, "
               "latencies, cost per request and scores by Mann-Whitney U on the events' values.")


def targets_section(store: Store, actor: Actor, target_statuses: list) -> None:
    if target_statuses:
        tables.show([{"id": s.target.id, "Target": s.target.describe(),
                      "Value": kpi_charts.format_value(s.target.kpi, s.value), "Status": s.status,
                      "Since": f"{s.since:%Y-%m-%d}" if s.since else "", "Severity": s.target.severity,
                      "Set by": s.target.updated_by} for s in target_statuses], key="kpi.targets.table")
    else:
        st.caption("No target yet.")
    if not actor.can(Permission.MANAGE_KPI_TARGETS):
        return
    if st.button("Check targets now", help="Failing targets raise an alert in the alert list.",
                 key="kpi.targets.check"):
        checked = targets.check_targets(store, actor=actor)
        failing = sum(s.status == "failing" for s in checked)
        st.session_state["kpi.notice"] = f"Checked {len(checked)} target(s); {failing} failing."
        st.rerun()
    with st.form("kpi.targets.form"):
        st.markdown("**Set a target** (an existing one for the same KPI and scope is changed)")
        left, middle, right = st.columns(3)
        kpi = left.selectbox("KPI", list(registry.KPIS), format_func=lambda k: registry.KPIS[k].label,
                             key="kpi.targets.kpi")
        comparison_ = middle.selectbox("Must be", list(targets.COMPARISONS),
                                       format_func=lambda c: c.replace("_", " "), key="kpi.targets.comparison")
        threshold = right.number_input("Threshold (shares as 0-1)", value=0.0, format="%.4f",
                                       key="kpi.targets.threshold")
        one, two, three, four = st.columns(4)
        scope_key = one.text_input("Segment key (optional)", key="kpi.targets.scope_key")
        scope_value = two.text_input("Segment value", key="kpi.targets.scope_value")
        window = three.number_input("Window (hours)", min_value=1, max_value=2160, value=24,
                                    key="kpi.targets.window")
        severity = four.selectbox("Alert severity", targets.SEVERITIES, key="kpi.targets.severity")
        if st.form_submit_button("Save target"):
            info = targets.set_target(store, actor=actor, kpi=kpi, comparison=comparison_, threshold=threshold,
                                      scope={scope_key: scope_value} if scope_key.strip() else None,
                                      window_hours=int(window), severity=severity)
            st.session_state["kpi.notice"] = f"Saved target {info.id}: {info.describe()}."
            st.rerun()
    if target_statuses:
        left, right = st.columns([3, 1])
        remove = left.selectbox("Retire a target", [s.target.id for s in target_statuses],
                                format_func=lambda i: next(s.target.describe() for s in target_statuses
                                                           if s.target.id == i), key="kpi.targets.remove_id")
        if right.button("Retire", key="kpi.targets.remove"):
            targets.remove_target(store, actor=actor, target_id=remove)
            st.session_state["kpi.notice"] = f"Retired target {remove}."
            st.rerun()


def exports(current: query.KpiReport, target_statuses: list, changes) -> None:
    st.download_button("Dashboard as CSV", export.to_csv(current), file_name="kpis.csv", mime="text/csv",
                       key="kpi.export.csv")
    if st.button("Prepare the HTML report", key="kpi.export.html_prepare"):
        st.session_state["kpi.export.html"] = True
    if st.session_state.get("kpi.export.html"):
        st.download_button("HTML report (self-contained, with charts)",
                           kpi_charts.html_report(current, statuses=target_statuses, comparison=changes),
                           file_name="kpi-report.html", mime="text/html", key="kpi.export.html")
    name = st.selectbox("Chart as PNG (for slides)", list(registry.KPIS), format_func=lambda k: registry.KPIS[k].label,
                        key="kpi.export.png_kpi")
    if st.button("Render PNG", key="kpi.export.png_render"):
        try:
            st.session_state["kpi.export.png"] = (name, kpi_charts.png(kpi_charts.series_figure(current, name)))
        except Exception as exc:  # kaleido needs a Chromium; say so instead of failing the page
            st.warning(f"PNG export is unavailable here ({type(exc).__name__}); use the HTML report.")
    if st.session_state.get("kpi.export.png"):
        png_name, data = st.session_state["kpi.export.png"]
        st.download_button(f"Download {png_name}.png", data, file_name=f"{png_name}.png", mime="image/png",
                           key="kpi.export.png")


def events_link(actor: Actor) -> None:
    """Data scientists and admins can go from a KPI to the events behind it."""
    if actor.can(Permission.VIEW_EVENTS):
        links.page_link("events", "Open the events behind these KPIs", ":material/receipt_long:")


# --- home -----------------------------------------------------------------------------------------------------

def home_summary(store: Store, actor: Actor) -> None:
    """A viewer's home: the last 7 days' KPI tiles and the targets' status (the alerts follow on the home page)."""
    if not actor.can(Permission.VIEW_DASHBOARDS) or actor.can(Permission.MANAGE_MODELS):
        return
    (_first, last), _keys = _span_and_keys(store, _marker(store))
    if last is None:
        st.info("No model traffic is logged yet; KPIs appear here once applications send events.")
        return
    until = datetime.combine(last.date() + timedelta(days=1), time(), tzinfo=timezone.utc)
    window = KpiFilter(since=until - timedelta(days=7), until=until)
    st.subheader("KPIs, last 7 days")
    tiles(report(store, actor, window), comparison(store, actor, window), statuses(store, actor))
    links.page_link("kpi", "Open the KPI dashboard", ":material/monitoring:")
