"""Hourly rollups of the event log, so dashboards sum a few thousand rows instead of scanning every event.

One `KpiRollup` row holds one hour of events of one model x deployment x version x application, for all traffic
(key "") and again per value of each business metadata key; day rows (the same for a whole day) serve periods
made of whole days, hour rows any other whole-hour period (key "segment", value "claims"...): exact counts and
sums, latency / time-to-first-token as log-bucket sketches (bucket i holds values in (g^(i-1), g^i] with
g = 1.02; a bucket is read back as 2 g^i / (g + 1), within 1% of every value in it), which merge by adding counts,
and the cell's distinct end users as a sorted set of user numbers (`KpiUser`), whose union over any cells gives
distinct users exactly.

`refresh` brings the rollups up to date: every day with an hour that received events since the last refresh (by
row id, so late and out-of-order events count) or whose feedback changed (the audited `event.feedback` actions) is
recomputed from that day's events alone, with one read and numpy aggregation (no Python loop per event), inside
one write transaction. A rollup is therefore always exactly what a full recomputation gives
(tests/core/kpi/test_rollups.py checks it after out-of-order and duplicate ingestion). `aggregate` answers a KPI
query from rollups when its filters and split fit them (hour-aligned period; model, deployment, version,
application and at most one metadata key); otherwise core.kpi.query scans events.
"""
from __future__ import annotations

import json
import math
import operator
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
from sqlalchemy import String, Text, case, cast, delete, distinct, func, literal_column, select, text

from core.kpi import registry
from core.kpi.query import COLUMNS, KpiFilter
from core.storage.db import Store
from core.storage.tables import AuditEvent, InferenceEvent as E, KpiRollup as R, KpiRollupState, KpiUser

GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
DIMENSIONS = ("model", "deployment", "deployment_version", "application")
SUMS = ("requests", "errors", "rate_limited", "tokens_in", "tokens_out", "cost", "cost_n", "feedback_count",
        "thumbs_up", "score_sum", "guard_incidents", "latency_n", "latency_sum", "ttft_n", "ttft_sum")
METHOD = "sketch (each within 1% of the exact value)"
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
        for day in sorted({_parse_hour(h).replace(hour=0) for h in hours}):
            _recompute_day(connection, day, postgres)
        state.last_event_id, state.last_audit_id = last_id, last_audit
        state.refreshed_at = datetime.now(timezone.utc)
        session.add(state)
        return len(hours)


def _insert_ignoring_duplicates(connection, table):
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table)


def _recompute_day(connection, day: datetime, postgres: bool) -> None:
    """Every hour row and the day rows of one day, from that day's events, aggregated with numpy.

    One read of the day's KPI columns (metadata as its JSON text, decoded once per distinct text; end users as
    their numbers in `KpiUser`); then the rows of each hour and of the day, for all traffic and per metadata
    value, are summed with bincount, the latency sketches counted per (cell, bucket) and the distinct end users
    kept per cell as a sorted array of user numbers (so any set of cells gives exact distinct users by union).
    """
    end = day + timedelta(days=1)
    connection.execute(delete(R).where(R.hour >= day, R.hour < end))
    in_day = (E.time >= day, E.time < end)
    connection.execute(_insert_ignoring_duplicates(connection, KpiUser).from_select(
        ["user_id"], select(E.user_id).distinct().where(*in_day, E.user_id.is_not(None))
    ).on_conflict_do_nothing(index_elements=["user_id"]))
    query = (select(E.id, _hour_text(postgres), E.model, E.deployment, E.deployment_version, E.application,
                    cast(E.meta, Text), KpiUser.id, E.status, E.tokens_in, E.tokens_out, E.cost, E.feedback_score,
                    _flagged(), E.latency_s, E.ttft_s)
             .select_from(E).outerjoin(KpiUser, KpiUser.user_id == E.user_id).where(*in_day))
    rows = connection.execute(query).all()
    if not rows:
        return
    columns = list(zip(*rows))
    order = np.argsort(np.array(columns[0], dtype=np.int64), kind="stable")  # sums in id order: reproducible

    def objects(index):
        return np.array(columns[index], dtype=object)[order]

    def numbers(index):
        return np.array(columns[index], dtype=np.float64)[order]  # None -> nan

    hours = objects(1)
    dims = pd.DataFrame({"hour": hours, "model": objects(2), "deployment": objects(3),
                         "deployment_version": objects(4), "application": objects(5)})
    dims["deployment_version"] = pd.Series(objects(4), dtype="float64").fillna(-1).astype(np.int64)
    for name in ("model", "deployment", "application"):
        dims[name] = dims[name].fillna("")
    event, pair, pairs = _explode(objects(6))
    status = objects(8)
    score = numbers(12)
    latency, ttft = numbers(14), numbers(15)
    users = np.array([-1 if u is None else u for u in columns[7]], dtype=np.int64)[order]
    measures = {
        "errors": (status == "error").astype(np.float64),
        "rate_limited": (status == "rate_limited").astype(np.float64),
        "tokens_in": np.nan_to_num(numbers(9)), "tokens_out": np.nan_to_num(numbers(10)),
        "cost": np.nan_to_num(numbers(11)), "cost_n": (~np.isnan(numbers(11))).astype(np.float64),
        "feedback_count": (~np.isnan(score)).astype(np.float64),
        "thumbs_up": (score >= 0.5).astype(np.float64), "score_sum": np.nan_to_num(score),
        "guard_incidents": numbers(13),
        "latency_n": (~np.isnan(latency)).astype(np.float64), "latency_sum": np.nan_to_num(latency),
        "ttft_n": (~np.isnan(ttft)).astype(np.float64), "ttft_sum": np.nan_to_num(ttft),
    }
    buckets = {"latency_sketch": _buckets(latency), "ttft_sketch": _buckets(ttft)}
    hour_starts = {text: _parse_hour(text) for text in set(hours.tolist())}
    plain = {name: dims[name].tolist() for name in ("model", "deployment", "deployment_version", "application")}
    hour_list = hours.tolist()
    out = []
    for grain, group_columns in (("hour", ["hour", "model", "deployment", "deployment_version", "application"]),
                                 ("day", ["model", "deployment", "deployment_version", "application"])):
        base = dims.groupby(group_columns, sort=True, dropna=False).ngroup().to_numpy()
        cells, first, inverse = np.unique(base[event] * len(pairs) + pair, return_index=True, return_inverse=True)
        count = len(cells)
        sums = {name: np.bincount(inverse, weights=values[event], minlength=count)
                for name, values in measures.items()}
        sums["requests"] = np.bincount(inverse, minlength=count).astype(np.float64)
        sketches = {name: _cell_sketches(inverse, event, values, count) for name, values in buckets.items()}
        user_sets = _cell_users(inverse, users[event], count)
        sums = {name: (values.tolist() if name in ("cost", "score_sum", "latency_sum", "ttft_sum")
                       else values.astype(np.int64).tolist()) for name, values in sums.items()}
        sources = event[first].tolist()
        cell_pairs = pair[first].tolist()
        for cell, where_from in enumerate(sources):
            key, value = pairs[cell_pairs[cell]]
            row = {name: sums[name][cell] for name in SUMS}
            row.update(grain=grain, hour=hour_starts[hour_list[where_from]] if grain == "hour" else day,
                       model=plain["model"][where_from], deployment=plain["deployment"][where_from],
                       deployment_version=plain["deployment_version"][where_from],
                       application=plain["application"][where_from], key=key, value=value,
                       latency_sketch=sketches["latency_sketch"][cell], ttft_sketch=sketches["ttft_sketch"][cell],
                       users=user_sets[cell])
            out.append(row)
    _insert_rows(connection, out, postgres)


_ROW_COLUMNS = ("grain", "hour", "model", "deployment", "deployment_version", "application", "key", "value",
                *SUMS, "latency_sketch", "ttft_sketch", "users")


def _insert_rows(connection, rows: list[dict], postgres: bool) -> None:
    """Inserts rollup rows through the driver's executemany (sketches already JSON text), thousands at a time."""
    if postgres:
        marks = ["%s::json" if name.endswith("_sketch") else "%s" for name in _ROW_COLUMNS]
    else:
        marks = ["?"] * len(_ROW_COLUMNS)
        for row in rows:  # SQLAlchemy's text form of SQLite DateTime values
            row["hour"] = row["hour"].strftime("%Y-%m-%d %H:%M:%S.%f")
    sql = (f"INSERT INTO kpirollup ({', '.join(chr(34) + c + chr(34) for c in _ROW_COLUMNS)}) "
           f"VALUES ({', '.join(marks)})")
    values = operator.itemgetter(*_ROW_COLUMNS)
    for start in range(0, len(rows), 5000):
        connection.exec_driver_sql(sql, [values(row) for row in rows[start:start + 5000]])


def _explode(meta_texts: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """(event index, pair index) for every event once with the pair ("", "") (all traffic) and once per scalar
    metadata key with its (key, value) pair; pairs[i] is the (key, value) of pair index i."""
    codes, texts = pd.factorize(pd.Series(meta_texts, dtype=object), use_na_sentinel=True)
    pairs: list[tuple[str, str]] = [("", "")]
    index = {("", ""): 0}
    per_text = []
    for raw in texts:
        try:
            meta = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            meta = None
        found = []
        if isinstance(meta, dict):
            for k, v in meta.items():
                v = _meta_value(v)
                if v is not None:
                    found.append(index.setdefault((str(k)[:128], v), len(index)))
        per_text.append(found)
    pairs = sorted(index, key=index.get)
    n = len(codes)
    lengths = np.array([len(found) for found in per_text] + [0], dtype=np.int64)  # the last: no metadata
    flat = np.array([p for found in per_text for p in found], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    codes = np.where(codes < 0, len(per_text), codes)
    per_event = lengths[codes]
    event = np.repeat(np.arange(n), per_event)
    offsets = np.arange(len(event)) - np.repeat(np.cumsum(per_event) - per_event, per_event)
    meta_pair = flat[np.repeat(starts[codes], per_event) + offsets] if len(event) else np.empty(0, np.int64)
    return (np.concatenate([np.arange(n), event]), np.concatenate([np.zeros(n, np.int64), meta_pair]), pairs)


_ZERO = 1 << 20  # the "z" bucket (values at or below zero) among the integer buckets


def _buckets(values: np.ndarray) -> np.ndarray:
    """The sketch bucket of each value (see `bucket`), _ZERO for values <= 0, -_ZERO - 1 where missing."""
    out = np.full(len(values), -_ZERO - 1, dtype=np.int64)
    present = ~np.isnan(values)
    positive = present & (values > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[positive] = np.ceil(np.log(values[positive]) / _LOG_GAMMA).astype(np.int64)
    out[present & (values <= 0)] = _ZERO
    return out


def _cell_sketches(inverse: np.ndarray, event: np.ndarray, buckets: np.ndarray, count: int) -> list[str]:
    """Each cell's sketch as JSON text ({"bucket": count, ...}, buckets in ascending order, "z" last)."""
    rows = buckets[event]
    present = rows > -_ZERO - 1
    low = int(rows[present].min()) if present.any() else 0
    width = _ZERO - low + 1
    keys, counts = np.unique(inverse[present] * width + (rows[present] - low), return_counts=True)
    cells, offsets = np.divmod(keys, width)
    names, which = np.unique(offsets + low, return_inverse=True)
    prefixes = ['"z":' if name == _ZERO else f'"{name}":' for name in names.tolist()]
    parts = [prefixes[i] + str(n) for i, n in zip(which.tolist(), counts.tolist())]
    bounds = np.searchsorted(cells, np.arange(count + 1)).tolist()
    return ["{" + ",".join(parts[bounds[c]:bounds[c + 1]]) + "}" for c in range(count)]


def _cell_users(inverse: np.ndarray, users: np.ndarray, count: int) -> list[bytes]:
    present = users >= 0
    width = int(users.max()) + 1 if present.any() else 1
    keys = np.unique(inverse[present] * width + users[present])
    cells, numbers = np.divmod(keys, width)
    bounds = np.searchsorted(cells, np.arange(count + 1))
    packed = numbers.astype("<u4")
    return [packed[bounds[c]:bounds[c + 1]].tobytes() for c in range(count)]


def _flagged():
    text = cast(E.guard_flags, String)
    return case((E.guard_flags.is_(None), 0), (text.in_(("null", "[]")), 0), else_=1)


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
    """Like core.kpi.query.aggregate for keys (period?, by?), from rollups; None when they cannot answer.

    Distinct end users come from the cells' user sets (exact) unless `users` gives them (an empty dict when no
    KPI asked for them: the sets are then not read)."""
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
        user_sets: dict[tuple, list[np.ndarray]] = defaultdict(list)
        read = [R.latency_sketch, R.ttft_sketch] + ([R.users] if users is None else [])
        for row in session.execute(select(*labelled, *read).where(*where)):
            key = tuple(row[:len(keys)])
            merged = sketches[key]
            for index in (0, 1):
                for name, count in (row[len(keys) + index] or {}).items():
                    merged[index][name] += count
            if users is None and row[-1]:
                user_sets[key].append(np.frombuffer(row[-1], dtype="<u4"))
    for key, values in results.items():
        latency, ttft = sketches.get(key, ({}, {}))
        for column, sketch in (("latency_s", latency), ("ttft_s", ttft)):
            for q, value in sketch_quantiles(sketch, registry.PERCENTILES[column]).items():
                values[f"{column}_p{int(round(q * 100))}"] = value
    out = []
    for key, values in results.items():
        shown = list(key)
        if by and by in COLUMNS:
            shown[-1] = _unsentinel(by, shown[-1])
        if users is None:  # the union of the cells' user sets: exact
            sets = user_sets.get(key)
            values["users"] = int(np.unique(np.concatenate(sets)).size) if sets else 0
        else:
            values["users"] = users.get(tuple(shown), 0)
        out.append((tuple(shown), values))
    return out


def _rollup_bucket(every: str, postgres: bool):
    if postgres:
        return func.to_char(func.date_trunc(every, func.timezone("UTC", R.hour)), "YYYY-MM-DD")
    if every == "day":
        return func.substr(cast(R.hour, String), 1, 10)
    return func.date(R.hour, "-6 days", "weekday 1")
