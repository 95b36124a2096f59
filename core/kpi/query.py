"""KPI aggregates computed in the database: overall, per group and per day or week, never by loading events.

One GROUP BY query per view (overall, groups, series) computes every count and sum; percentiles come from
PostgreSQL's percentile_cont in the same query, and on SQLite from a window query that returns only the one or two
rows around each quantile's rank per group (exact, linear interpolation like numpy's default).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Integer, String, case, cast, func, literal, literal_column, or_, select

from core.errors import InvalidInput
from core.governance.roles import Actor, Permission, require
from core.kpi import registry
from core.storage.db import Store
from core.storage.tables import InferenceEvent as E

# Event columns a KPI can be split or filtered by; any other name is a business metadata key (meta["segment"]).
COLUMNS = ("model", "deployment", "deployment_version", "arm", "adapter", "template_version", "application",
           "status", "source", "finish_reason")
EVERY = ("day", "week")
PERCENTILE_METHOD = "exact"  # what the page says about latency percentiles


@dataclass(frozen=True)
class KpiFilter:
    """Which events: a half-open time window [since, until) and equality filters."""

    since: datetime | None = None
    until: datetime | None = None
    deployment: str | None = None
    deployment_version: int | None = None
    model: str | None = None
    application: str | None = None
    where: dict[str, str] = field(default_factory=dict)  # metadata key (or column) -> value

    def __post_init__(self):
        if self.since and self.until and self.since >= self.until:
            raise InvalidInput(f"The period starts ({self.since:%Y-%m-%d %H:%M}) after it ends "
                               f"({self.until:%Y-%m-%d %H:%M}).")

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("since", "until"):
            out[key] = out[key].isoformat() if out[key] else None
        return out

    def replace(self, **changes) -> "KpiFilter":
        return KpiFilter(**{**self.__dict__, **changes})


@dataclass(frozen=True)
class KpiReport:
    filters: KpiFilter
    by: str | None
    every: str | None
    overall: dict[str, float | None]
    groups: list[dict]  # {"by": {FIELD: VALUE}, "kpis": {...}}
    series: list[dict]  # {"period": "YYYY-MM-DD", "by": {...} (with --by), "kpis": {...}}
    percentiles: str = PERCENTILE_METHOD

    def to_dict(self) -> dict:
        return {"filters": self.filters.to_dict(), "by": self.by, "every": self.every,
                "percentiles": self.percentiles, "overall": self.overall, "groups": self.groups,
                "series": self.series}


def parse_day(text: str, *, end: bool = False) -> datetime:
    """'2026-11-01' -> midnight UTC; with end=True a bare date means the end of that day (until is inclusive)."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            start = datetime.combine(day, time(), tzinfo=timezone.utc)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"'{text}' is not a date; write YYYY-MM-DD or YYYY-MM-DDTHH:MM.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_where(items: list[str] | tuple[str, ...] | None) -> dict[str, str]:
    where = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"'{item}' is not a filter; write --where KEY=VALUE, e.g. segment=claims.")
        where[key.strip()] = value.strip()
    return where


def field_expression(name: str):
    """An event column, or a business metadata key read as text (works on SQLite and PostgreSQL)."""
    name = name.strip()
    if not name:
        raise InvalidInput("Name a field to split by, such as segment or deployment_version.")
    if name in COLUMNS:
        return getattr(E, name)
    key = name.removeprefix("meta.").removeprefix("metadata.")
    if not key.replace("_", "").replace("-", "").isalnum():
        raise InvalidInput(f"'{name}' is not a field; use an event column ({', '.join(COLUMNS)}) or a metadata key.")
    return E.meta[key].as_string()


def conditions(filters: KpiFilter) -> list:
    where = []
    if filters.since:
        where.append(E.time >= filters.since)
    if filters.until:
        where.append(E.time < filters.until)
    for name in ("deployment", "deployment_version", "model", "application"):
        value = getattr(filters, name)
        if value is not None:
            where.append(getattr(E, name) == value)
    for key, value in filters.where.items():
        if key == "deployment_version":
            try:
                where.append(E.deployment_version == int(value))
            except ValueError:
                raise InvalidInput(f"deployment_version must be a whole number, not '{value}'.") from None
        else:
            where.append(field_expression(key) == value)
    return where


def _flagged():
    text = cast(E.guard_flags, String)
    return case((E.guard_flags.is_(None), 0), (text.in_(("null", "[]")), 0), else_=1)


def _base_columns(postgres: bool) -> list:
    columns = [
        func.count().label("requests"),
        func.coalesce(func.sum(case((E.status == "error", 1), else_=0)), 0).label("errors"),
        func.coalesce(func.sum(case((E.status == "rate_limited", 1), else_=0)), 0).label("rate_limited"),
        func.coalesce(func.sum(E.tokens_in), 0).label("tokens_in"),
        func.coalesce(func.sum(E.tokens_out), 0).label("tokens_out"),
        func.coalesce(func.sum(E.cost), 0.0).label("cost"),
        func.count(E.cost).label("cost_n"),
        func.count(E.feedback_score).label("feedback_count"),
        func.coalesce(func.sum(case((E.feedback_score >= 0.5, 1), else_=0)), 0).label("thumbs_up"),
        func.sum(E.feedback_score).label("score_sum"),
        func.count(E.user_id.distinct()).label("users"),
        func.count(E.application.distinct()).label("applications"),
        func.coalesce(func.sum(_flagged()), 0).label("guard_incidents"),
        func.count(E.latency_s).label("latency_n"),
        func.sum(E.latency_s).label("latency_sum"),
        func.count(E.ttft_s).label("ttft_n"),
        func.sum(E.ttft_s).label("ttft_sum"),
    ]
    if postgres:
        for column, quantiles in registry.PERCENTILES.items():
            for q in quantiles:
                columns.append(func.percentile_cont(q).within_group(getattr(E, column))
                               .label(f"{column}_p{int(round(q * 100))}"))
    return columns


def bucket_expression(every: str, postgres: bool):
    if every not in EVERY:
        raise InvalidInput(f"'{every}' is not a period; choose day or week.")
    if postgres:
        utc = func.timezone("UTC", E.time)
        return func.to_char(func.date_trunc(every, utc), "YYYY-MM-DD")
    if every == "day":
        return func.substr(cast(E.time, String), 1, 10)
    return func.date(E.time, "-6 days", "weekday 1")  # the Monday on or before


def aggregate(store: Store, *, filters: KpiFilter, keys: dict[str, Any] | None = None) -> list[tuple[tuple, dict]]:
    """[(key values, {aggregate: value})] for each group of `keys` (name -> SQL expression); one row without keys."""
    keys = keys or {}
    postgres = store.engine.dialect.name == "postgresql"
    key_columns = [expression.label(f"k{i}") for i, expression in enumerate(keys.values())]
    query = select(*key_columns, *_base_columns(postgres)).where(*conditions(filters))
    if key_columns:
        query = query.group_by(*[literal_column(f"k{i}") for i in range(len(key_columns))])
    with store.read() as session:
        rows = session.execute(query).all()
    results = []
    for row in rows:
        mapping = row._mapping
        if not key_columns and not mapping["requests"]:
            continue
        values = {name: mapping[name] for name in registry.BASE}
        for name in ("cost", "score_sum", "latency_sum", "ttft_sum"):
            values[name] = float(values[name]) if values[name] is not None else None
        for name in registry.BASE:
            if name not in ("cost", "score_sum", "latency_sum", "ttft_sum") and values[name] is not None:
                values[name] = int(values[name])
        if postgres:
            for column, quantiles in registry.PERCENTILES.items():
                for q in quantiles:
                    label = f"{column}_p{int(round(q * 100))}"
                    values[label] = float(mapping[label]) if mapping[label] is not None else None
        results.append((tuple(mapping[f"k{i}"] for i in range(len(key_columns))), values))
    if not postgres and results:
        for column, quantiles in registry.PERCENTILES.items():
            found = _sqlite_percentiles(store, filters=filters, keys=keys, column=column, quantiles=quantiles)
            for key, values in results:
                for q in quantiles:
                    values[f"{column}_p{int(round(q * 100))}"] = found.get(key, {}).get(q)
    return results


def _sqlite_percentiles(store: Store, *, filters: KpiFilter, keys: dict, column: str,
                        quantiles: tuple[float, ...]) -> dict[tuple, dict[float, float]]:
    """Exact quantiles per group: rank every value in its group, read back only the rows around each rank."""
    value = getattr(E, column)
    partition = list(keys.values())
    key_columns = [expression.label(f"k{i}") for i, expression in enumerate(partition)]
    window = dict(partition_by=partition) if partition else {}
    ranked = (
        select(*key_columns, value.label("v"),
               func.row_number().over(order_by=value, **window).label("rn"),
               func.count().over(**window).label("n"))
        .where(*conditions(filters), value.is_not(None))
        .subquery()
    )
    wanted = []
    for q in quantiles:
        low = cast(literal(q) * (ranked.c.n - 1), Integer) + 1  # truncation == floor for positions >= 0
        wanted.extend([ranked.c.rn == low, ranked.c.rn == low + 1])
    query = select(*[ranked.c[f"k{i}"] for i in range(len(partition))], ranked.c.n, ranked.c.rn, ranked.c.v) \
        .where(or_(*wanted))
    ranks: dict[tuple, tuple[int, dict[int, float]]] = {}
    with store.read() as session:
        for row in session.execute(query):
            key = tuple(row[:len(partition)])
            n, rn, v = row[len(partition):]
            ranks.setdefault(key, (n, {}))[1][rn] = v
    found = {}
    for key, (n, values) in ranks.items():
        found[key] = {}
        for q in quantiles:
            position = q * (n - 1)
            low = int(position)
            lower = values[low + 1]
            upper = values.get(low + 2, lower)
            found[key][q] = float(lower + (position - low) * (upper - lower))
    return found


SOURCES = ("auto", "events", "rollups")


def compute_kpis(store: Store, *, actor: Actor, filters: KpiFilter = KpiFilter(), by: str | None = None,
                 every: str | None = None, kpis: list[str] | None = None, source: str = "auto") -> KpiReport:
    """The KPIs of the events that match `filters`: overall, per value of `by`, and per day or week.

    source "auto" answers from the hourly rollups where they fit (percentiles then come from sketches, within 1%)
    and from the events otherwise; "events" always scans the events (exact percentiles).
    """
    require(actor, Permission.VIEW_DASHBOARDS)
    if source not in SOURCES:
        raise InvalidInput(f"'{source}' is not a KPI source; choose auto or events.")
    names = [registry.get_kpi(name).name for name in kpis] if kpis else list(registry.KPIS)
    postgres = store.engine.dialect.name == "postgresql"
    if by:
        field_expression(by)
    if every:
        bucket_expression(every, postgres)
    from core.kpi import rollups

    # One source for the whole report, so its percentiles are all exact or all from sketches.
    used_rollups = source != "events" and rollups.plan(filters, by) is not None

    # Distinct users come from the rollups' per-cell user sets (exact); they are read only when a KPI needs them.
    needs_users = any(name in ("users", "cost_per_user") for name in names)

    def views(view_by, view_every, keys):
        if used_rollups:
            return rollups.aggregate(store, filters=filters, by=view_by, every=view_every,
                                     users=None if needs_users else {})
        return aggregate(store, filters=filters, keys=keys)

    overall_rows = views(None, None, {})
    overall = registry.compute_all(overall_rows[0][1], names) if overall_rows else \
        registry.compute_all(_empty(), names)
    groups = []
    if by:
        for key, values in views(by, None, {by: field_expression(by)}):
            groups.append({"by": {by: key[0]}, "kpis": registry.compute_all(values, names)})
        groups.sort(key=lambda g: (-(g["kpis"].get("requests") or 0), str(g["by"][by])))
    series = []
    if every:
        keys = {"period": bucket_expression(every, postgres)}
        if by:
            keys[by] = field_expression(by)
        for key, values in views(by, every, keys):
            entry = {"period": str(key[0])[:10]}
            if by:
                entry["by"] = {by: key[1]}
            entry["kpis"] = registry.compute_all(values, names)
            series.append(entry)
        series.sort(key=lambda s: (s["period"], str(s.get("by"))))
    method = "sketch (each within 1% of the exact value)" if used_rollups else PERCENTILE_METHOD
    return KpiReport(filters=filters, by=by, every=every, overall=overall, groups=groups, series=series,
                     percentiles=method)


def _empty() -> dict:
    values = {name: 0 for name in registry.BASE}
    values.update(cost=0.0, score_sum=None, latency_sum=None, ttft_sum=None)
    for column, quantiles in registry.PERCENTILES.items():
        for q in quantiles:
            values[f"{column}_p{int(round(q * 100))}"] = None
    return values


def latest_event_id(store: Store) -> int:
    """A cheap change marker for caches: the newest event's row id (0 when there is none)."""
    with store.read() as session:
        return session.execute(select(func.max(E.id))).scalar() or 0


def event_span(store: Store) -> tuple[datetime | None, datetime | None]:
    """The first and last event times, to default the period picker."""
    with store.read() as session:
        first, last = session.execute(select(func.min(E.time), func.max(E.time))).one()
    return _aware(first), _aware(last)


def distinct_values(store: Store, *, actor: Actor, name: str, filters: KpiFilter = KpiFilter(),
                    limit: int = 200) -> list:
    """The values a field takes (for filter pickers), most frequent first."""
    require(actor, Permission.VIEW_DASHBOARDS)
    expression = field_expression(name)
    query = (select(expression, func.count()).where(*conditions(filters), expression.is_not(None))
             .group_by(expression).order_by(func.count().desc()).limit(limit))
    with store.read() as session:
        return [row[0] for row in session.execute(query)]


def metadata_keys(store: Store, *, sample: int = 2000) -> list[str]:
    """Business metadata keys the latest events carry (read from a small sample of rows, not the table)."""
    with store.read() as session:
        rows = session.execute(select(E.meta).order_by(E.id.desc()).limit(sample)).scalars()
        keys = set()
        for meta in rows:
            if isinstance(meta, dict):
                keys.update(k for k, v in meta.items() if isinstance(v, (str, int, float, bool)))
    return sorted(keys)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
