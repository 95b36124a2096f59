"""Hourly rollups of the event log, so dashboards sum a few thousand rows instead of scanning every event.

One `KpiRollup` row holds one hour of events of one model x deployment x version x application, for all traffic
(key "") and again per value of each business metadata key; day rows (the sum of a day's hour rows) serve periods
made of whole days, hour rows any other whole-hour period (key "segment", value "claims"...): exact counts and
sums, and latency / time-to-first-token as log-bucket sketches (bucket i holds values in (g^(i-1), g^i] with
g = 1.02; a bucket is read back as 2 g^i / (g + 1), within 1% of every value in it), which merge by adding counts.

`refresh` brings the rollups up to date: every hour that received events since the last refresh (by row id, so
late and out-of-order events count) or whose feedback changed (the audited `event.feedback` actions) is recomputed
from the events of that hour alone, inside one write transaction. An hour's rollup is therefore always exactly
what a full recomputation gives (tests/core/kpi/test_rollups.py checks it after out-of-order and duplicate
ingestion). `aggregate` answers a KPI query from rollups when its filters and split fit them (hour-aligned period;
model, deployment, version, application and at most one metadata key); otherwise core.kpi.query scans events.
Distinct end users cannot be summed across hours, so `users` is always counted exactly on the events.
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from sqlalchemy import (String, cast, delete, distinct, func, insert, literal, literal_column, select, text,
                        union_all)

from core.kpi import registry
from core.kpi.query import COLUMNS, KpiFilter, bucket_expression, conditions, field_expression
from core.storage.db import Store
from core.storage.tables import AuditEvent, InferenceEvent as E, KpiRollup as R, KpiRollupState

GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
DIMENSIONS = ("model", "deployment", "deployment_version", "application")
SUMS = ("requests", "errors", "rate_limited", "tokens_in", "tokens_out", "cost", "cost_n", "feedback_count",
        "thumbs_up", "score_sum", "guard_incidents", "latency_n", "latency_sum", "ttft_n", "ttft_sum")
METHOD = "sketch (each within 1% of the exact value)"
_READ_CHUNK = 20_000
_LOCK_KEY = 0x6B7069  # "kpi": the PostgreSQL advisory lock held while rollups are refreshed


# --- sketches -------------------------------------------------------------------------------------------------

def bucket(value: float) -> str:
    return "z" if value <= 0 else str(math.ceil(math.log(value) / _LOG_GAMMA))


def bucket_value(name: str) -> float:
    return 0.0 if name == "z" else 2 * GAMMA ** int(name) / (GAMMA + 1)


def sketch_quantiles(sketch: dict[str, int], quantiles) -> dict[float, float | None]:
    """Quantiles with numpy's linear interpolation between the ranks' bucket values."""
    n = sum(sketch.values())
    if not n:
        return {q: None for q in quantiles}
    ordered = sorted(((bucket_value(b), c) for b, c in sketch.items() if c), key=lambda bc: bc[0])

    def at(rank: int) -> float:
        seen = 0
        for value, count in ordered:
            seen += count
            if rank < seen:
                return value
        return ordered[-1][0]

    found = {}
    for q in quantiles:
        position = q * (n - 1)
        low = int(position)
        lower = at(low)
        upper = at(low + 1) if low + 1 < n else lower
        found[q] = lower + (position - low) * (upper - lower)
    return found


# --- refresh --------------------------------------------------------------------------------------------------

def _hour_text(postgres: bool):
    if postgres:
        return func.to_char(func.timezone("UTC", E.time), "YYYY-MM-DD HH24")
    return func.substr(cast(E.time, String), 1, 13)


def _parse_hour(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H").replace(tzinfo=timezone.utc)


def _meta_value(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)[:256]
    return None


def refresh(store: Store) -> int:
    """Recomputes every hour with new events or changed feedback since the last refresh; returns how many."""
    postgres = store.engine.dialect.name == "postgresql"
    with store.write() as session:
        connection = session.connection()
        if postgres:  # one refresher at a time (SQLite's BEGIN IMMEDIATE already serialises writers)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        state = session.get(KpiRollupState, 1)
        if state is None:
            state = KpiRollupState(id=1, last_event_id=0, last_audit_id=0)
        last_id = connection.execute(select(func.max(E.id))).scalar() or 0
        last_audit = connection.execute(select(func.max(AuditEvent.id))
                                        .where(AuditEvent.action == "event.feedback")).scalar() or 0
        if last_id == state.last_event_id and last_audit == state.last_audit_id:
            return 0
        hours: set[str] = set()
        if last_id > state.last_event_id:
            hours.update(connection.execute(select(_hour_text(postgres)).distinct().where(
                E.id > state.last_event_id, E.id <= last_id)).scalars())
        if last_audit > state.last_audit_id:
            changed = list(connection.execute(select(AuditEvent.target_id).where(
                AuditEvent.action == "event.feedback", AuditEvent.id > state.last_audit_id,
                AuditEvent.id <= last_audit)).scalars())
            for start in range(0, len(changed), 500):
                hours.update(connection.execute(select(_hour_text(postgres)).distinct().where(
                    E.event_id.in_(changed[start:start + 500]))).scalars())
        parsed = sorted(_parse_hour(h) for h in hours)
        for begin, end in _ranges(parsed):
            _recompute(connection, begin, end, postgres)
        for begin, end in _ranges(sorted({h.replace(hour=0) for h in parsed}), step=timedelta(days=1)):
            _recompute_days(connection, begin, end)
        state.last_event_id, state.last_audit_id = last_id, last_audit
        state.refreshed_at = datetime.now(timezone.utc)
        session.add(state)
        return len(hours)


def _ranges(starts: list[datetime], step: timedelta = timedelta(hours=1)) -> list[tuple[datetime, datetime]]:
    ranges = []
    for start in starts:
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], start + step)
        else:
            ranges.append((start, start + step))
    return ranges


def _recompute_days(connection, begin: datetime, end: datetime) -> None:
    """Day rows: the sum of the day's hour rows (sketches merged), read for periods made of whole days."""
    connection.execute(delete(R).where(R.grain == "day", R.hour >= begin, R.hour < end))
    cells: dict[tuple, dict] = {}
    query = select(R).where(R.grain == "hour", R.hour >= begin, R.hour < end)
    for row in connection.execute(query).mappings():
        hour = row["hour"] if row["hour"].tzinfo else row["hour"].replace(tzinfo=timezone.utc)
        key = (hour.replace(hour=0), row["model"], row["deployment"], row["deployment_version"], row["application"],
               row["key"], row["value"])
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = {name: 0 for name in SUMS}
            cell["latency_sketch"], cell["ttft_sketch"] = defaultdict(int), defaultdict(int)
        for name in SUMS:
            cell[name] += row[name]
        for name in ("latency_sketch", "ttft_sketch"):
            for bucket_name, count in (row[name] or {}).items():
                cell[name][bucket_name] += count
    rows = []
    for (day, model, deployment, version, application, key, value), cell in cells.items():
        rows.append({**cell, "grain": "day", "hour": day, "model": model, "deployment": deployment,
                     "deployment_version": version, "application": application, "key": key, "value": value,
                     "latency_sketch": dict(cell["latency_sketch"]), "ttft_sketch": dict(cell["ttft_sketch"])})
    for start in range(0, len(rows), 5000):
        connection.execute(insert(R), rows[start:start + 5000])


def _recompute(connection, begin: datetime, end: datetime, postgres: bool) -> None:
    connection.execute(delete(R).where(R.grain == "hour", R.hour >= begin, R.hour < end))
    cells: dict[tuple, list] = {}
    query = select(_hour_text(postgres), E.model, E.deployment, E.deployment_version, E.application, E.meta,
                   E.status, E.tokens_in, E.tokens_out, E.cost, E.feedback_score, E.guard_flags, E.latency_s,
                   E.ttft_s).where(E.time >= begin, E.time < end)
    hours: dict[str, datetime] = {}
    result = connection.execute(query, execution_options={"stream_results": True})
    for rows in iter(lambda: result.fetchmany(_READ_CHUNK), []):
        for (hour, model, deployment, version, application, meta, status, tokens_in, tokens_out, cost, score,
             flags, latency, ttft) in rows:
            base = (hours.get(hour) or hours.setdefault(hour, _parse_hour(hour)), model or "", deployment or "",
                    -1 if version is None else version, application or "")
            keys = [(*base, "", "")]
            if isinstance(meta, dict):
                keys += [(*base, str(k)[:128], v) for k, v in ((k, _meta_value(v)) for k, v in meta.items())
                         if v is not None]
            flagged = 1 if flags else 0
            for key in keys:
                cell = cells.get(key)
                if cell is None:
                    cell = cells[key] = [0] * len(SUMS) + [defaultdict(int), defaultdict(int)]
                cell[0] += 1
                cell[1] += status == "error"
                cell[2] += status == "rate_limited"
                cell[3] += tokens_in or 0
                cell[4] += tokens_out or 0
                if cost is not None:
                    cell[5] += cost
                    cell[6] += 1
                if score is not None:
                    cell[7] += 1
                    cell[8] += score >= 0.5
                    cell[9] += score
                cell[10] += flagged
                if latency is not None:
                    cell[11] += 1
                    cell[12] += latency
                    cell[15][bucket(latency)] += 1
                if ttft is not None:
                    cell[13] += 1
                    cell[14] += ttft
                    cell[16][bucket(ttft)] += 1
    rows = []
    for (hour, model, deployment, version, application, key, value), cell in cells.items():
        row = dict(zip(SUMS, cell[:len(SUMS)]))
        row.update(grain="hour", hour=hour, model=model, deployment=deployment, deployment_version=version,
                   application=application, key=key, value=value, latency_sketch=dict(cell[15]),
                   ttft_sketch=dict(cell[16]))
        row["cost"], row["score_sum"] = float(row["cost"]), float(row["score_sum"])
        row["latency_sum"], row["ttft_sum"] = float(row["latency_sum"]), float(row["ttft_sum"])
        rows.append(row)
    for start in range(0, len(rows), 5000):
        connection.execute(insert(R), rows[start:start + 5000])


# --- reading --------------------------------------------------------------------------------------------------

def _aligned(moment: datetime | None) -> bool:
    return moment is None or (moment.minute == 0 and moment.second == 0 and moment.microsecond == 0)


def plan(filters: KpiFilter, by: str | None) -> tuple[str, dict, str | None] | None:
    """(metadata key or "", column equality filters, metadata value filter) when rollups can answer; else None."""
    if not (_aligned(filters.since) and _aligned(filters.until)):
        return None
    columns = {name: getattr(filters, name) for name in ("deployment", "deployment_version", "model", "application")
               if getattr(filters, name) is not None}
    meta_key, meta_value = "", None
    for key, value in filters.where.items():
        if key in DIMENSIONS:
            if key == "deployment_version":
                try:
                    value = int(value)
                except ValueError:
                    return None
            columns[key] = value
        elif key in COLUMNS:
            return None
        else:
            key = key.removeprefix("meta.").removeprefix("metadata.")
            if meta_key:
                return None
            meta_key, meta_value = key, value
    if by:
        if by in COLUMNS:
            if by not in DIMENSIONS:
                return None
        else:
            key = by.removeprefix("meta.").removeprefix("metadata.")
            if meta_key and key != meta_key:
                return None
            meta_key = key
    return meta_key, columns, meta_value


def _dimension(name: str):
    column = getattr(R, name)
    return column  # sentinels ("" / -1) are turned back into None when read


def _unsentinel(name: str, value):
    if name == "deployment_version":
        return None if value == -1 else value
    return value if value != "" else None


def aggregate(store: Store, *, filters: KpiFilter, by: str | None, every: str | None,
              users: dict[tuple, int] | None = None) -> list[tuple[tuple, dict]] | None:
    """Like core.kpi.query.aggregate for keys (period?, by?), from rollups; None when they cannot answer."""
    planned = plan(filters, by)
    if planned is None:
        return None
    meta_key, columns, meta_value = planned
    postgres = store.engine.dialect.name == "postgresql"
    refresh(store)
    whole_days = all(m is None or m.hour == 0 for m in (filters.since, filters.until))
    where = [R.grain == ("day" if whole_days else "hour"), R.key == meta_key]
    if filters.since:
        where.append(R.hour >= filters.since)
    if filters.until:
        where.append(R.hour < filters.until)
    for name, value in columns.items():
        where.append(getattr(R, name) == ("" if value is None else value))
    if meta_value is not None:
        where.append(R.value == meta_value)
    names, keys = [], []
    if every:
        names.append("period")
        keys.append(_rollup_bucket(every, postgres))
    if by:
        names.append(by)
        keys.append(R.value if by not in COLUMNS else _dimension(by))
    labelled = [k.label(f"k{i}") for i, k in enumerate(keys)]
    group = [literal_column(f"k{i}") for i in range(len(keys))]
    sums = [func.coalesce(func.sum(getattr(R, name)), 0).label(name) for name in SUMS]
    apps = func.count(distinct(R.application)).filter(R.application != "").label("applications")
    query = select(*labelled, *sums, apps).where(*where)
    if group:
        query = query.group_by(*group)
    results: dict[tuple, dict] = {}
    with store.read() as session:
        for row in session.execute(query):
            mapping = row._mapping
            key = tuple(mapping[f"k{i}"] for i in range(len(keys)))
            if not mapping["requests"]:
                continue
            values = {name: mapping[name] for name in SUMS}
            for name in SUMS:
                values[name] = float(values[name]) if name in ("cost", "score_sum", "latency_sum", "ttft_sum") \
                    else int(values[name])
            values["applications"] = int(mapping["applications"])
            values["score_sum"] = values["score_sum"] if values["feedback_count"] else None
            results[key] = values
        sketches: dict[tuple, list[dict]] = defaultdict(lambda: [defaultdict(int), defaultdict(int)])
        for row in session.execute(select(*labelled, R.latency_sketch, R.ttft_sketch).where(*where)):
            key = tuple(row[:len(keys)])
            merged = sketches[key]
            for index, sketch in enumerate(row[len(keys):]):
                for name, count in (sketch or {}).items():
                    merged[index][name] += count
    for key, values in results.items():
        latency, ttft = sketches.get(key, ({}, {}))
        for column, sketch in (("latency_s", latency), ("ttft_s", ttft)):
            for q, value in sketch_quantiles(sketch, registry.PERCENTILES[column]).items():
                values[f"{column}_p{int(round(q * 100))}"] = value
    if users is None:
        users = _users(store, filters=filters, by=by, every=every, postgres=postgres)
    out = []
    for key, values in results.items():
        shown = list(key)
        if by and by in COLUMNS:
            shown[-1] = _unsentinel(by, shown[-1])
        values["users"] = users.get(tuple(shown), 0)
        out.append((tuple(shown), values))
    return out


def _rollup_bucket(every: str, postgres: bool):
    if postgres:
        return func.to_char(func.date_trunc(every, func.timezone("UTC", R.hour)), "YYYY-MM-DD")
    if every == "day":
        return func.substr(cast(R.hour, String), 1, 10)
    return func.date(R.hour, "-6 days", "weekday 1")


def _users(store: Store, *, filters: KpiFilter, by: str | None, every: str | None, postgres: bool) -> dict:
    """Distinct end users per (period, group), counted exactly on the events (they do not add up across hours)."""
    keys = []
    if every:
        keys.append(bucket_expression(every, postgres))
    if by:
        keys.append(field_expression(by))
    labelled = [k.label(f"k{i}") for i, k in enumerate(keys)]
    query = select(*labelled, func.count(distinct(E.user_id))).where(*conditions(filters))
    if keys:
        query = query.group_by(*[literal_column(f"k{i}") for i in range(len(keys))])
    with store.read() as session:
        found = {}
        for row in session.execute(query):
            key = list(row[:len(keys)])
            if by and by not in COLUMNS and key[-1] is not None:
                key[-1] = str(key[-1])
            found[tuple(str(k)[:10] if (every and i == 0) else k for i, k in enumerate(key))] = int(row[-1])
    return found


def users_by_view(store: Store, *, filters: KpiFilter, by: str | None, every: str | None) -> dict[str, dict]:
    """Distinct end users for the overall view ("overall"), per group ("groups") and per period x group
    ("series"), exactly, in one scan of the events: the distinct (period, group, user) triples once, then counted."""
    postgres = store.engine.dialect.name == "postgresql"
    columns = []
    if every:
        columns.append(("p", bucket_expression(every, postgres)))
    if by:
        columns.append(("g", field_expression(by)))
    triples = (select(*[expression.label(name) for name, expression in columns], E.user_id.label("u"))
               .where(*conditions(filters), E.user_id.is_not(None))
               .group_by(*[literal_column(name) for name, _ in columns], literal_column("u"))
               .cte("kpi_users"))
    views = [("overall", [])]
    if by:
        views.append(("groups", ["g"]))
    if every:
        views.append(("series", [name for name, _ in columns]))
    parts = []
    for view, names in views:
        period = cast(triples.c.p, String) if "p" in names else cast(literal(None), String)
        group = cast(triples.c.g, String) if "g" in names else cast(literal(None), String)
        part = select(literal(view).label("view"), period.label("p"), group.label("g"),
                      func.count(distinct(triples.c.u)).label("n"))
        if names:
            part = part.group_by(*[triples.c[name] for name in names])
        parts.append(part)
    found: dict[str, dict] = {view: {} for view, _ in views}
    with store.read() as session:
        for view, period, group, count in session.execute(union_all(*parts)):
            if group is not None and by == "deployment_version":
                group = int(group)
            if view == "overall":
                key = ()
            elif view == "groups":
                key = (group,)
            else:
                key = (period[:10], group) if by else (period[:10],)
            found[view][key] = int(count)
    return found
