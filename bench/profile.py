"""Times `workbench data profile` against ydata-profiling (ProfileReport(df, minimal=True)) on one 1M-row table.

Both run as whole processes on the same Parquet file, interleaved (ours, theirs, ours, theirs...), and each
process's wall time and peak memory (max RSS) are measured. Before timing counts, the shared statistics
(count, missing, distinct, mean, std) are checked to agree. Prints the ratios; asserts nothing about time.

    make bench-profile            # sets up .venv-bench with ydata-profiling (it needs pandas < 3) and runs this
    .venv/bin/python bench/profile.py --rows 1000000 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
WORKBENCH = Path(sys.executable).parent / "workbench"

YDATA_SCRIPT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from ydata_profiling import ProfileReport
frame = pd.read_parquet(sys.argv[1])
description = ProfileReport(frame, minimal=True, progress_bar=False).get_description()
out = {}
for name, v in description.variables.items():
    out[name] = {k: (float(v[k]) if v.get(k) is not None else None) for k in ("n", "n_missing", "n_distinct", "mean", "std") if k in v}
json.dump(out, open(sys.argv[2], "w"))
"""

TOPICS = ["refund", "invoice", "password reset", "shipping delay", "API rate limit", "login loop", "data export",
          "webhook signature", "mobile app crash", "account deletion", "SSO setup", "billing address"]
TEMPLATES = [
    "Summarise the customer's complaint about {t} in two sentences.",
    "Write a polite reply to a customer asking about {t}. Mention the expected timeline and apologise for the wait.",
    "Classify this ticket about {t} as billing, technical or account, and explain why.",
    "Draft a knowledge-base article on {t}: cause, how to check it, how to fix it, and when to contact support.",
    "Translate the following note about {t} into German, keeping product names unchanged.",
]


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """Realistic prompts with a long tail of lengths, plus categorical, numeric, timestamp and missing-heavy columns."""
    rng = np.random.default_rng(seed)
    template = rng.integers(0, len(TEMPLATES), rows)
    topic = rng.integers(0, len(TOPICS), rows)
    order = rng.integers(10_000, 99_999, rows)
    base = [TEMPLATES[a].format(t=TOPICS[b]) + f" Order {c}." for a, b, c in zip(template, topic, order)]
    tail = rng.random(rows) < 0.05
    extra = " Context: the customer wrote several times and attached logs from the last three days."
    prompt = [p + extra * int(k) if t else p for p, t, k in zip(base, tail, rng.integers(1, 12, rows))]
    missing_heavy = rng.normal(3.5, 1.0, rows).round(1)
    missing_heavy[rng.random(rows) < 0.8] = np.nan
    return pd.DataFrame({
        "prompt": prompt,
        "team": rng.choice(["support", "sales", "legal", "product", "finance"], rows, p=[0.5, 0.2, 0.05, 0.15, 0.1]),
        "latency_ms": rng.lognormal(6, 0.6, rows).round(1),
        "tokens_out": rng.integers(5, 800, rows),
        "created_at": (pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 300 * 86400, rows), unit="s")),
        "rating": missing_heavy,
    })


def run_child(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of a child, measured by a small wrapper process around it."""
    wrapper = [sys.executable, "-c",
               "import resource, subprocess, sys, time; t=time.perf_counter(); "
               "r=subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "dt=time.perf_counter()-t; m=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
               "sys.stderr.write(r.stderr[-3000:]) if r.returncode else None; "
               "print(f'{dt} {m}'); print(r.stdout, end=''); sys.exit(r.returncode)", *command]
    result = subprocess.run(wrapper, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{result.stderr[-3000:]}")
    first, _, rest = result.stdout.partition("\n")
    seconds, maxrss_kib = first.split()
    return float(seconds), float(maxrss_kib) / 1024, rest


def compare(ours: dict, theirs: dict) -> list[str]:
    problems = []
    for column in theirs:
        mine = next(c for c in ours["columns"] if c["name"] == column)
        pairs = {"n": mine["count"] + mine["missing"], "n_missing": mine["missing"], "n_distinct": mine.get("distinct")}
        stats = mine.get("numeric") or {}
        pairs.update({"mean": stats.get("mean"), "std": stats.get("std")})
        for key, value in pairs.items():
            other = theirs[column].get(key)
            if other is None or value is None:
                continue
            if not np.isclose(float(value), float(other), rtol=1e-6, atol=1e-9):
                problems.append(f"{column}.{key}: workbench {value} vs ydata {other}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not BENCH_PYTHON.exists():
        raise SystemExit("ydata-profiling lives in .venv-bench (it needs pandas < 3): run `make bench-profile`.")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        env = {**os.environ, "WORKBENCH_HOME": str(folder / "home"), "HF_HUB_OFFLINE": "1"}
        table = folder / "table.parquet"
        make_table(args.rows).to_parquet(table)
        print(f"table: {args.rows:,} rows, {table.stat().st_size / 2**20:.1f} MiB Parquet")
        subprocess.run([str(WORKBENCH), "init"], env=env, check=True, capture_output=True)
        subprocess.run([str(WORKBENCH), "data", "import", str(table), "--name", "bench"], env=env, check=True,
                       capture_output=True)
        script = folder / "ydata_run.py"
        script.write_text(YDATA_SCRIPT)
        ours_t, ours_m, theirs_t, theirs_m = [], [], [], []
        for repeat in range(args.repeats):
            seconds, memory, out = run_child([str(WORKBENCH), "data", "profile", "bench", "--refresh", "--json"], env)
            ours_t.append(seconds), ours_m.append(memory)
            report = json.loads(out)
            seconds, memory, _ = run_child([str(BENCH_PYTHON), str(script), str(table), str(folder / "ydata.json")])
            theirs_t.append(seconds), theirs_m.append(memory)
            print(f"run {repeat + 1}: workbench {ours_t[-1]:.1f} s, {ours_m[-1]:.0f} MiB | "
                  f"ydata-profiling {theirs_t[-1]:.1f} s, {theirs_m[-1]:.0f} MiB")
            if repeat == 0:
                problems = compare(report, json.loads((folder / "ydata.json").read_text()))
                print("shared statistics agree" if not problems else "DISAGREE: " + "; ".join(problems))
        best_ours, best_theirs = min(ours_t), min(theirs_t)
        print(f"speed-up: {best_theirs / best_ours:.1f}x faster than ydata-profiling (best of {args.repeats}; goal 20x)")
        print(f"peak memory: {max(ours_m):.0f} MiB vs {max(theirs_m):.0f} MiB "
              f"(ratio {max(ours_m) / max(theirs_m):.2f}; goal <= 1.00)")
        text = next(c for c in report["columns"] if c["name"] == "prompt")["text"]
        print(f"text statistics ydata-profiling does not compute: tokens p50 {text['tokens']['p50']:.0f}, "
              f"truncated {text['tokens']['truncated_share']:.2%}, near-duplicates {text['near_duplicates']['share']:.1%}, "
              f"languages {list(text['languages'])[:3]}, PII types {[p['type'] for p in text['pii']]}")


if __name__ == "__main__":
    main()
