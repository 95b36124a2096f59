"""Times `workbench events ingest` on 1M events against pandas `to_sql` and per-row ORM inserts.

All three load the same Parquet file into the real `inferenceevent` table of a freshly migrated workbench home
(same indexes), each as a whole process:
  - ours:    `workbench events ingest FILE --json` (checks every value, computes costs, one bulk write:
             executemany on SQLite, COPY on PostgreSQL);
  - to_sql:  pandas reads the file, shapes it into the table's columns (JSON text for input and metadata, event
             ids) and calls `DataFrame.to_sql(..., if_exists="append", chunksize=50_000)`, no checks;
  - per-row: one ORM object and one transaction per event (what a naive request handler does), on a sample,
             extrapolated to the full count; also ORM objects in one transaction, for reference.
Prints seconds, events/s and ratios; asserts nothing about time.

    .venv/bin/python bench/ingest.py --rows 1000000 [--postgres] [--sample 5000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
# The repository root replaces bench/ on the path (bench/profile.py would shadow the standard library's profile).
sys.path[0] = str(ROOT)
WORKBENCH = Path(sys.executable).parent / "workbench"

TO_SQL = r"""
import json, os, sys, time
import numpy as np, pandas as pd
from sqlalchemy import JSON, create_engine
frame = pd.read_parquet(sys.argv[1])
n = len(frame)
out = pd.DataFrame({
    "event_id": ["evt_%024x" % i for i in range(n)], "response_id": None,
    "time": pd.to_datetime(frame["time"], utc=True).dt.tz_localize(None) if os.environ["DB"] == "sqlite"
            else pd.to_datetime(frame["time"], utc=True),
    "deployment": None, "deployment_version": None, "arm": None, "model": frame["model"], "adapter": None,
    "template_version": None, "application": frame["application"], "user_id": frame["user_id"],
    "input": [[{"role": "user", "content": t}] for t in frame["input"]], "output": frame["output"],
    "finish_reason": None, "latency_s": frame["latency_s"], "ttft_s": None, "tokens_in": frame["tokens_in"],
    "tokens_out": frame["tokens_out"], "cost": frame["cost"], "status": frame["status"], "error": None,
    "feedback_score": frame["feedback"], "feedback_comment": None, "feedback_at": None,
    "metadata": [{"segment": s, "region": r} for s, r in zip(frame["segment"], frame["region"])],
    "guard_flags": None, "source": "file",
})
out = out[[c for c in out.columns if out[c].notna().any()]]  # all-empty columns stay NULL (pandas would type them text)
engine = create_engine(os.environ["URL"])
# JSON columns as SQLAlchemy JSON (serialised by the driver layer; PostgreSQL refuses text for json).
out.to_sql("inferenceevent", engine, if_exists="append", index=False, chunksize=50_000,
           dtype={"input": JSON(), "metadata": JSON()})
"""

PER_ROW = r"""
import json, os, sys, time
from datetime import timezone
import pandas as pd
from core.home import open_store
from core.storage.tables import InferenceEvent
store = open_store()
frame = pd.read_parquet(sys.argv[1]).head(int(sys.argv[2]))
one_transaction = sys.argv[3] == "one"
rows = frame.to_dict("records")
started = time.perf_counter()
def event(i, r):
    return InferenceEvent(event_id="evt_%024x" % i, time=r["time"].to_pydatetime().replace(tzinfo=timezone.utc), model=r["model"], application=r["application"],
                          user_id=r["user_id"], input=[{"role": "user", "content": r["input"]}], output=r["output"],
                          latency_s=r["latency_s"], tokens_in=int(r["tokens_in"]), tokens_out=int(r["tokens_out"]),
                          cost=r["cost"], status=r["status"], feedback_score=r["feedback"],
                          meta={"segment": r["segment"], "region": r["region"]}, source="file")
if one_transaction:
    with store.write() as session:
        for i, r in enumerate(rows):
            session.add(event(i, r))
else:
    for i, r in enumerate(rows):
        with store.write() as session:
            session.add(event(i, r))
print(json.dumps({"seconds": time.perf_counter() - started, "rows": len(rows)}))
"""

QUESTIONS = ["How do I reset my password?", "Why was I charged twice this month?", "Where is my refund?",
             "How do I file a claim for my stolen bicycle?", "Can I pause my policy while abroad?",
             "The verification code never arrives by SMS. What can I do?"]
ANSWERS = ["Open Settings, choose Security and follow the reset link we email you.",
           "I'm sorry about that; the second charge is a pre-authorisation and disappears within three days.",
           "Refunds reach your card five to seven working days after we approve them.",
           "You can file it online under Claims > New claim; add the police report number."]


def make_file(path: Path, rows: int) -> None:
    rng = np.random.default_rng(7)
    start = np.datetime64("2026-09-01T00:00:00")
    frame = pd.DataFrame({
        "time": (start + rng.integers(0, 90 * 86400, rows).astype("timedelta64[s]")).astype("datetime64[us]"),
        "model": rng.choice(["support-bot-v1", "support-bot-v2", "gpt-4o-mini"], rows),
        "application": rng.choice(["helpdesk-widget", "mobile-app", "email-assistant"], rows),
        "user_id": [f"cust-{i:05d}" for i in rng.integers(0, 20000, rows)],
        "input": rng.choice(QUESTIONS, rows), "output": rng.choice(ANSWERS, rows),
        "latency_s": rng.lognormal(0, 0.4, rows).round(3), "tokens_in": rng.integers(20, 400, rows),
        "tokens_out": rng.integers(10, 200, rows), "cost": (rng.random(rows) / 1000).round(6),
        "status": rng.choice(["ok", "ok", "ok", "ok", "error"], rows),
        "feedback": rng.choice([1.0, 0.0, np.nan, np.nan, np.nan], rows),
        "segment": rng.choice(["retail", "business", "claims"], rows), "region": rng.choice(["EU", "US", "APAC"], rows),
    })
    frame.to_parquet(path, index=False)


def fresh_home(base: Path, name: str, url: str | None) -> dict:
    home = base / name
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    if url:
        env["WORKBENCH_DATABASE_URL"] = url
    subprocess.run([str(WORKBENCH), "events", "list", "--json"], env=env, check=True, capture_output=True)
    return env


def timed(command: list[str], env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:3])} failed: {done.stderr.strip()[-500:]}")
    return seconds, done.stdout


def count(env: dict) -> int:
    code = ("from sqlalchemy import text; from core.home import open_store; s = open_store(); "
            "print(s.engine.connect().execute(text('select count(*) from inferenceevent')).scalar())")
    return int(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              check=True).stdout)


def run_database(label: str, base: Path, file: Path, rows: int, sample: int, new_url) -> dict:
    print(f"\n== {label} ==")
    env = fresh_home(base, f"{label}-ours", new_url())
    ours, out = timed([str(WORKBENCH), "events", "ingest", str(file), "--json"], env)
    assert json.loads(out)["events"] == rows and count(env) == rows
    print(f"workbench events ingest: {ours:8.1f} s  ({rows / ours:,.0f} events/s)")

    env = fresh_home(base, f"{label}-to-sql", new_url())
    url = env.get("WORKBENCH_DATABASE_URL") or f"sqlite:///{Path(env['WORKBENCH_HOME']) / 'workbench.db'}"
    to_sql, _ = timed([sys.executable, "-c", TO_SQL, str(file)], {**env, "URL": url, "DB": label})
    assert count(env) == rows
    print(f"pandas to_sql:           {to_sql:8.1f} s  ({rows / to_sql:,.0f} events/s)")

    results = {"ours_s": ours, "to_sql_s": to_sql}
    for mode, what in (("each", "one ORM object + one transaction per event"), ("one", "ORM objects, one transaction")):
        env = fresh_home(base, f"{label}-orm-{mode}", new_url())
        _, out = timed([sys.executable, "-c", PER_ROW, str(file), str(sample), mode], env)
        measured = json.loads(out)
        extrapolated = measured["seconds"] / measured["rows"] * rows
        results[f"orm_{mode}_s"] = extrapolated
        print(f"{what + ':':45s} {measured['seconds']:.1f} s for {measured['rows']:,} -> {extrapolated:,.0f} s "
              f"for {rows:,} (extrapolated)")
    print(f"ratios: vs to_sql {to_sql / ours:.1f}x, vs per-row ORM {results['orm_each_s'] / ours:.1f}x, "
          f"vs ORM in one transaction {results['orm_one_s'] / ours:.1f}x (higher is faster for workbench)")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=5000, help="Events timed for the per-row ORM paths.")
    parser.add_argument("--postgres", action="store_true", help="Also on a temporary PostgreSQL server.")
    parser.add_argument("--no-sqlite", action="store_true", help="Only PostgreSQL (with --postgres).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        base = Path(folder)
        file = base / "events.parquet"
        make_file(file, args.rows)
        print(f"{args.rows:,} events, {file.stat().st_size / 1e6:.0f} MB Parquet; machine: {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}")
        if not args.no_sqlite:
            run_database("sqlite", base, file, args.rows, args.sample, lambda: None)
        if args.postgres:
            from tests.support import postgres

            server = postgres.start(Path(tempfile.mkdtemp(prefix="workbench-pg-")))
            try:
                run_database("postgresql", base, file, args.rows, args.sample, server.create_database)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
