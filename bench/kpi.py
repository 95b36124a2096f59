"""Times the KPI queries (SQL aggregates, core.kpi.query) against loading the event table into pandas and
grouping there, on 1M events in a SQLite workbench home; then `workbench kpi show` as a whole process against a
pandas process reading the same events from Parquet.

The workload is the dashboard's: every KPI overall, per segment (a metadata key) and per day x segment.
Before any time counts, both sides' numbers are checked to agree (counts exactly, sums to 1e-9 relative,
percentiles from the rollups' sketches within 1%). The rollups are brought up to date once before timing (what
ingestion pays; reported separately), so the timed queries read rollups only (distinct users exactly, from the
cells' user sets).
The pandas peer reads only the columns the KPIs need (not the prompt and output text), which favours it.
Runs are interleaved (ours, theirs, ...); the best of --repeats is reported. Prints ratios; asserts nothing.

    .venv/bin/python bench/kpi.py --events 1000000 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # the root instead of bench/: bench/profile.py must not shadow the stdlib module
WORKBENCH = Path(sys.executable).parent / "workbench"
COLUMNS = ("time", "model", "deployment", "deployment_version", "application", "user_id", "latency_s", "ttft_s",
           "tokens_in", "tokens_out", "cost", "status", "feedback_score", "metadata", "guard_flags")


# --- the pandas side (also run as its own process on Parquet: `bench/kpi.py --peer FILE OUT`) -----------------

def pandas_report(frame: pd.DataFrame) -> dict:
    """Overall, per segment and per day x segment, each KPI from the same base aggregates the database computes."""
    from core.kpi import registry

    d = frame.assign(
        is_error=frame["status"].eq("error"), is_rl=frame["status"].eq("rate_limited"),
        thumbs=frame["feedback_score"].ge(0.5), day=frame["time"].dt.floor("D"), all="all")

    def grouped(keys):
        g = d.groupby(keys, sort=True, dropna=False)
        base = g.agg(requests=("status", "size"), errors=("is_error", "sum"), rate_limited=("is_rl", "sum"),
                     tokens_in=("tokens_in", "sum"), tokens_out=("tokens_out", "sum"), cost=("cost", "sum"),
                     cost_n=("cost", "count"), feedback_count=("feedback_score", "count"),
                     thumbs_up=("thumbs", "sum"), score_sum=("feedback_score", "sum"), users=("user_id", "nunique"),
                     applications=("application", "nunique"), guard_incidents=("flagged", "sum"),
                     latency_n=("latency_s", "count"), latency_sum=("latency_s", "sum"),
                     ttft_n=("ttft_s", "count"), ttft_sum=("ttft_s", "sum"))
        for column, quantiles in registry.PERCENTILES.items():
            q = g[column].quantile(list(quantiles)).unstack()
            for quantile in quantiles:
                base[f"{column}_p{int(round(quantile * 100))}"] = q[quantile]
        out = {}
        for key, row in base.iterrows():
            values = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for name in ("requests", "errors", "rate_limited", "tokens_in", "tokens_out", "cost_n", "feedback_count",
                         "thumbs_up", "users", "applications", "guard_incidents", "latency_n", "ttft_n"):
                values[name] = int(values[name])
            out[key] = registry.compute_all(values)
        return out

    overall = grouped(["all"])["all"]
    groups = grouped(["segment"])
    series = grouped(["day", "segment"])
    return {"overall": overall,
            "groups": [{"by": {"segment": k}, "kpis": v} for k, v in groups.items()],
            "series": [{"period": f"{day:%Y-%m-%d}", "by": {"segment": seg}, "kpis": v}
                       for (day, seg), v in series.items()]}


def pandas_from_sqlite(database: Path) -> dict:
    """The peer in-process: the event table's KPI columns into pandas, metadata parsed, then grouped."""
    import sqlite3

    with sqlite3.connect(database) as connection:
        frame = pd.read_sql(f"SELECT {', '.join(chr(34) + c + chr(34) for c in COLUMNS)} FROM inferenceevent",
                            connection)
    frame["time"] = pd.to_datetime(frame["time"])
    frame["segment"] = [json.loads(m).get("segment") if m else None for m in frame["metadata"]]
    frame["flagged"] = ~frame["guard_flags"].isna() & ~frame["guard_flags"].isin(["null", "[]"])
    return pandas_report(frame)


def peer_process(parquet: str, out: str) -> None:
    frame = pd.read_parquet(parquet)
    json.dump(pandas_report(frame), open(out, "w"), default=str)


# --- data ---------------------------------------------------------------------------------------------------

def make_events(store, n: int, seed: int = 3) -> pd.DataFrame:
    """n events over 60 days through the events' bulk fast path (core.events.log.insert_rows); returns the frame."""
    from core.events.log import COLUMNS as DB_COLUMNS, insert_rows

    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-09-01T00:00:00")
    seconds = np.sort(rng.integers(0, 60 * 86400, n))
    times = start + seconds.astype("timedelta64[s]") + rng.integers(0, 1_000_000, n).astype("timedelta64[us]")
    status = rng.choice(np.array(["ok", "error", "rate_limited"]), n, p=[0.95, 0.035, 0.015])
    ok = status == "ok"
    latency = np.where(ok, np.round(rng.lognormal(0.0, 0.5, n), 6), np.nan)
    ttft = np.where(ok & (rng.random(n) < 0.8), np.round(rng.uniform(0.05, 0.6, n), 6), np.nan)
    tokens_in = rng.integers(20, 800, n)
    tokens_out = np.where(ok, rng.integers(1, 400, n), 0)
    cost = np.round((tokens_in * 0.0005 + tokens_out * 0.0015) / 1000, 9)
    feedback = np.where(ok & (rng.random(n) < 0.25), (rng.random(n) < 0.8).astype(float), np.nan)
    segments = rng.choice(np.array(["retail", "business", "claims"]), n, p=[0.6, 0.3, 0.1])
    regions = rng.choice(np.array(["EU", "US", "APAC"]), n)
    models = rng.choice(np.array(["smollm2-135m-instruct", "qwen2.5-7b"]), n)
    apps = rng.choice(np.array(["helpdesk-widget", "mobile-app", "email-assistant"]), n)
    users = np.char.add("cust-", rng.integers(0, 20000, n).astype(str))
    versions = np.where(seconds > 40 * 86400, 2, 1)
    flagged = rng.random(n) < 0.02
    frame = pd.DataFrame({"time": pd.to_datetime(times), "model": models, "deployment": "support-bot",
                          "deployment_version": versions, "application": apps, "user_id": users,
                          "latency_s": latency, "ttft_s": ttft, "tokens_in": tokens_in, "tokens_out": tokens_out,
                          "cost": cost, "status": status, "feedback_score": feedback, "segment": segments,
                          "flagged": flagged})
    time_text = pd.Series(times).dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist()
    guard = '[{"guard":"pii","stage":"output","action":"redact","span":[0,4]}]'
    chunk = 50_000
    with store._write_engine.begin() as connection:
        for begin in range(0, n, chunk):
            rows = []
            for i in range(begin, min(n, begin + chunk)):
                row = {
                    "event_id": f"evt_{i:024x}", "response_id": None, "time": time_text[i],
                    "deployment": "support-bot", "deployment_version": int(versions[i]), "arm": "primary",
                    "model": models[i], "adapter": None, "template_version": "ticket-reply@2",
                    "application": apps[i], "user_id": users[i],
                    "input": f'[{{"role":"user","content":"Question {i} about my policy and a claim I sent in"}}]',
                    "output": f"Answer {i}: thank you for writing; here is what to do next." if ok[i] else None,
                    "finish_reason": "stop" if ok[i] else None,
                    "latency_s": None if np.isnan(latency[i]) else float(latency[i]),
                    "ttft_s": None if np.isnan(ttft[i]) else float(ttft[i]),
                    "tokens_in": int(tokens_in[i]), "tokens_out": int(tokens_out[i]), "cost": float(cost[i]),
                    "status": status[i], "error": None if ok[i] else "failed",
                    "feedback_score": None if np.isnan(feedback[i]) else float(feedback[i]),
                    "feedback_comment": None, "feedback_at": None,
                    "metadata": json.dumps({"segment": segments[i], "region": regions[i]}),
                    "guard_flags": guard if flagged[i] else None, "source": "sdk",
                }
                rows.append(tuple(row.get(c) for c in DB_COLUMNS))  # columns it does not fill stay NULL
            insert_rows(connection, rows)
    return frame


# --- comparison ---------------------------------------------------------------------------------------------

def same(ours: dict, theirs: dict) -> list[str]:
    """Differences between two reports (empty when identical within 1e-9 relative for floats)."""
    problems = []

    def close(name, a, b):
        if a is None or b is None:
            return a is None and b is None
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        tolerance = 0.01 if name.endswith("_s") and "_p" in name else 1e-9
        return math.isclose(a, b, rel_tol=tolerance, abs_tol=1e-12)

    def compare(label, a, b):
        for name in a:
            if not close(name, a[name], b.get(name)):
                problems.append(f"{label} {name}: {a[name]} vs {b.get(name)}")

    compare("overall", ours["overall"], theirs["overall"])
    theirs_groups = {g["by"]["segment"]: g["kpis"] for g in theirs["groups"]}
    for group in ours["groups"]:
        compare(f"group {group['by']}", group["kpis"], theirs_groups.get(group["by"]["segment"], {}))
    theirs_series = {(s["period"], s["by"]["segment"]): s["kpis"] for s in theirs["series"]}
    if len(theirs_series) != len(ours["series"]):
        problems.append(f"series: {len(ours['series'])} vs {len(theirs_series)} entries")
    for entry in ours["series"]:
        compare(f"series {entry['period']} {entry['by']}", entry["kpis"],
                theirs_series.get((entry["period"], entry["by"]["segment"]), {}))
    return problems


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer", nargs=2, metavar=("PARQUET", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        peer_process(*args.peer)
        return

    with tempfile.TemporaryDirectory(prefix="kpi-bench-") as folder:
        home = Path(folder) / "home"
        os.environ["WORKBENCH_HOME"] = str(home)
        os.environ.pop("WORKBENCH_DATABASE_URL", None)
        from core.governance.roles import SYSTEM
        from core.home import open_store
        from core.kpi import query, registry

        store = open_store()
        started = time.perf_counter()
        frame = make_events(store, args.events)
        print(f"{args.events:,} events written in {time.perf_counter() - started:.1f} s "
              f"({(home / 'workbench.db').stat().st_size / 1e6:.0f} MB database)", flush=True)
        database = Path(store.engine.url.database)
        from core.kpi import rollups

        started = time.perf_counter()
        hours = rollups.refresh(store)
        print(f"rollups built for {hours:,} hours in {time.perf_counter() - started:.1f} s (paid once, as events "
              f"arrive; load average {os.getloadavg()[0]:.1f})", flush=True)

        def ours():
            return query.compute_kpis(store, actor=SYSTEM, by="segment", every="day").to_dict()

        ours_times, theirs_times = [], []
        for attempt in range(args.repeats):
            seconds, ours_result = timed(ours)
            ours_times.append(seconds)
            seconds, theirs_result = timed(lambda: pandas_from_sqlite(database))
            theirs_times.append(seconds)
            if attempt == 0:
                problems = same(ours_result, theirs_result)
                print(f"percentiles: {ours_result['percentiles']}; " + (
                    "numbers agree" if not problems else f"DIFFERENCES: {problems[:5]}"), flush=True)
            print(f"  in-process run {attempt + 1}: SQL {ours_times[-1]:.2f} s, pandas {theirs_times[-1]:.2f} s",
                  flush=True)
        print(f"in-process (best of {args.repeats}): SQL aggregates {min(ours_times):.2f} s, pandas over the table "
              f"{min(theirs_times):.2f} s -> {min(theirs_times) / min(ours_times):.1f}x (load average {os.getloadavg()[0]:.1f})")
        without_users, _ = timed(lambda: query.compute_kpis(store, actor=SYSTEM, by="segment", every="day", kpis=[
            k for k in registry.KPIS if k not in ("users", "cost_per_user")]))
        print(f"  the same report without distinct users (no user sets read): {without_users:.2f} s", flush=True)

        parquet = Path(folder) / "events.parquet"
        frame.to_parquet(parquet, index=False)
        env = {**os.environ, "WORKBENCH_HOME": str(home)}
        process_ours, process_theirs = [], []
        for attempt in range(args.repeats):
            out = Path(folder) / "ours.json"
            started = time.perf_counter()
            with open(out, "w") as handle:
                done = subprocess.run([str(WORKBENCH), "kpi", "show", "--by", "segment", "--every", "day", "--json"],
                                      stdout=handle, stderr=subprocess.PIPE, text=True, env=env)
            if done.returncode:
                print(f"workbench kpi show failed: {done.stderr.strip().splitlines()[-1]}")
                break
            process_ours.append(time.perf_counter() - started)
            peer_out = Path(folder) / "theirs.json"
            started = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--peer", str(parquet), str(peer_out)], env=env, check=True)
            process_theirs.append(time.perf_counter() - started)
            if attempt == 0:
                problems = same(json.loads(out.read_text()), json.loads(peer_out.read_text()))
                print("process numbers agree" if not problems else f"PROCESS DIFFERENCES: {problems[:5]}")
            print(f"  process run {attempt + 1}: workbench kpi show {process_ours[-1]:.2f} s, "
                  f"pandas on Parquet {process_theirs[-1]:.2f} s", flush=True)
        if not process_ours or len(process_ours) != len(process_theirs):
            store.dispose()
            return
        print(f"whole process (best of {args.repeats}): workbench kpi show {min(process_ours):.2f} s, pandas process "
              f"on Parquet {min(process_theirs):.2f} s -> {min(process_theirs) / min(process_ours):.2f}x "
              f"(load average {os.getloadavg()[0]:.1f})")
        store.dispose()


if __name__ == "__main__":
    main()
