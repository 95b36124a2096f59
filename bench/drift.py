"""Times `workbench monitor drift` against Evidently's DataDriftPreset on the same 500k-row reference and current
tables (numeric, categorical and a text column, with a known shift), then embedding drift on 100k vs 100k prompts,
and (with --events N) a saved monitor's run over 60 daily windows of N events.

Both drift reports run as whole processes on the same Parquet files (the workbench reads them as dataset
versions, imported beforehand), and each process's wall time and peak memory (max RSS) are measured. Before the
timing counts, the per-column verdicts of the two are checked to agree with each other and with the known shift.
Prints ratios; asserts nothing about time.

    make bench-drift            # sets up .venv-bench-drift with Evidently (it needs pandas < 3) and runs this
    .venv/bin/python bench/drift.py --rows 500000 --repeats 1 --prompts 100000 --events 200000
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

# The repository root instead of bench/ first on the path: bench/profile.py must not shadow the standard library's
# `profile` module (cProfile imports it, and torch imports cProfile when MiniLM loads).
sys.path[0] = str(Path(__file__).resolve().parent.parent)
from bench.profile import run_child  # noqa: E402  (the same wall-time and max-RSS wrapper)

ROOT = Path(__file__).resolve().parent.parent
BENCH_PYTHON = ROOT / ".venv-bench-drift" / "bin" / "python"
WORKBENCH = Path(sys.executable).parent / "workbench"
COLUMNS = {"latency": "numeric", "tokens": "numeric", "score": "numeric", "topic": "categorical",
           "region": "categorical", "message": "text"}
EXPECTED = {"latency": True, "tokens": False, "score": False, "topic": True, "region": False, "message": True}

EVIDENTLY_SCRIPT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from evidently import Dataset, DataDefinition, Report
from evidently.presets import DataDriftPreset
reference, current = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
definition = DataDefinition(numerical_columns=["latency", "tokens", "score"], categorical_columns=["topic", "region"],
                            text_columns=["message"])
snapshot = Report([DataDriftPreset()]).run(Dataset.from_pandas(current, data_definition=definition),
                                           Dataset.from_pandas(reference, data_definition=definition))
out = {}
for metric in snapshot.dict()["metrics"]:
    name = metric.get("metric_name") or ""
    if name.startswith("ValueDrift("):
        params = dict(p.split("=", 1) for p in name[len("ValueDrift("):-1].split(","))
        value, threshold = float(metric["value"]), float(params["threshold"])
        p_value = "p_value" in params["method"].lower() or "test" in params["method"].lower()
        out[params["column"]] = {"method": params["method"], "value": value, "threshold": threshold,
                                 "drift": value < threshold if p_value else value >= threshold}
json.dump(out, open(sys.argv[3], "w"))
"""

TOPICS = ["billing", "claims", "login", "shipping", "refund", "policy", "travel", "pet"]
PHRASES = {
    "billing": "I was charged twice on my card this month and need the invoice corrected",
    "claims": "my insurance claim for the accident damage was refused and I want to appeal",
    "login": "I cannot sign in because the verification code never arrives",
    "shipping": "the parcel with my documents is late and the tracking page shows nothing",
    "refund": "when will the refund for the cancelled plan arrive on my account",
    "policy": "please add a second driver to my motor policy from next month",
    "travel": "does my travel insurance cover a cancelled flight because of a strike",
    "pet": "is the vet bill for my dog covered by the pet plan",
}


def make_frame(rows: int, *, shifted: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weights = np.array([3, 1, 2, 2, 1, 1, 1, 1], float) if not shifted else np.array([2, 4, 2, 1, 1, 1, 1, 1], float)
    topic = rng.choice(TOPICS, rows, p=weights / weights.sum())
    order = rng.integers(100_000, 999_999, rows)
    extra = rng.random(rows) < (0.6 if shifted else 0.1)
    message = [f"Hello, {PHRASES[t]} (order {o})." + (" I already wrote twice and attached the police report." if e else "")
               for t, o, e in zip(topic, order, extra)]
    return pd.DataFrame({
        "latency": rng.lognormal(0.0, 0.35, rows) * (1.3 if shifted else 1.0),
        "tokens": rng.poisson(180, rows).astype("int64"),
        "score": rng.normal(0.0, 1.0, rows),
        "topic": topic,
        "region": rng.choice(["EU", "US", "APAC"], rows, p=[0.5, 0.35, 0.15]),
        "message": message,
    })


def workbench_verdicts(stdout: str) -> dict:
    data = json.loads(stdout)
    return {f["field"]: {"method": f["test"], "value": f["statistic"] if f["p_value"] is None else f["p_value"],
                         "threshold": f["threshold"], "drift": f["drift_detected"]} for f in data["fields"]}


def embedding_drift(home: Path, prompts: int) -> dict:
    """Embedding drift on `prompts` vs `prompts` texts: a seeded bounded sample embedded with the bundled MiniLM,
    then MMD (permutation test), the domain classifier and novelty; run twice with different samples."""
    os.environ["WORKBENCH_HOME"] = str(home)
    from core.home import open_store
    from core.models import bundled
    from core.monitoring import drift_tests
    from core.monitoring.drift import EMBED_SAMPLE
    from core.monitoring.embeddings import embed_texts

    store = open_store()
    if not bundled.is_installed(store.settings.models_dir, bundled.EMBEDDING_MODEL):
        bundled.install(store.settings.models_dir, bundled.EMBEDDING_MODEL)
    reference = make_frame(prompts, shifted=False, seed=11)["message"].tolist()
    current = make_frame(prompts, shifted=True, seed=12)["message"].tolist()
    same = make_frame(prompts, shifted=False, seed=13)["message"].tolist()
    out = {"sample_per_side": EMBED_SAMPLE, "runs": []}
    started = time.perf_counter()
    for label, other, seed in (("shifted", current, 0), ("shifted, other sample", current, 1),
                               ("same distribution", same, 0)):
        t, cpu = time.perf_counter(), time.process_time()
        rng = np.random.default_rng(seed)
        ref_sample = [reference[i] for i in rng.choice(len(reference), EMBED_SAMPLE, replace=False)]
        cur_sample = [other[i] for i in rng.choice(len(other), EMBED_SAMPLE, replace=False)]
        ref_vectors, cur_vectors = embed_texts(store, ref_sample), embed_texts(store, cur_sample)
        results = {name: drift_tests.get(name)(ref_vectors, cur_vectors, seed=seed)
                   for name in ("mmd", "domain_classifier", "novelty")}
        out["runs"].append({"label": label, "seconds": round(time.perf_counter() - t, 1),
                            "cpu_seconds": round(time.process_time() - cpu, 1),
                            **{n: {"statistic": r.statistic, "p_value": r.p_value, "drift": r.drift_detected}
                               for n, r in results.items()}})
    out["seconds_total"] = round(time.perf_counter() - started, 1)
    import torch

    out["threads"] = torch.get_num_threads()
    half = EMBED_SAMPLE // 2  # the classifier is scored on the held-out half of each side
    out["auc_standard_error_at_0.5"] = math.sqrt((2 * half + 1) / (12 * half * half))
    out["mmd_p_value_resolution"] = 1 / 201
    return out


def monitor_run(home: Path, events: int) -> None:
    """A saved monitor over 60 days of `events` events (shift from day 40): two weeks of reference, daily windows
    after them, five fields (prompt length, latency, thumbs-up, topic, errors), in this process."""
    import resource
    from datetime import datetime, timedelta, timezone

    os.environ["WORKBENCH_HOME"] = str(home)
    from core.events.log import log_events
    from core.events.schema import EventIn
    from core.governance.roles import SYSTEM
    from core.home import open_store
    from core.monitoring import monitors, runs

    store = open_store()
    rng = np.random.default_rng(0)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for part in range(0, events, 50_000):
        batch = []
        for i in range(part, min(part + 50_000, events)):
            day = i * 60 // events
            shifted = day >= 40
            topic = TOPICS[rng.choice(3, p=[0.3, 0.5, 0.2] if shifted else [0.5, 0.2, 0.3])]
            batch.append(EventIn(model="m", deployment="bot", time=start + timedelta(days=day, seconds=int(rng.integers(0, 86_000))),
                                 input=[{"role": "user", "content": f"Hello, {PHRASES[topic]}" + " please" * int(rng.integers(0, 30))}],
                                 output="ok", latency_s=float(rng.gamma(2, 0.6 if shifted else 0.5)),
                                 feedback_score=float(rng.random() < 0.7), metadata={"topic": topic}))
        log_events(store, batch, source="sdk")
    info = monitors.create_monitor(store, actor=SYSTEM, name="bench", reference="events:2026-01-01..2026-01-15",
                                   fields=["prompt_chars", "latency_s", "thumbs_up", "meta.topic", "error"],
                                   schedule="manual")
    # The first run also derives each event's text fields once (core/monitoring/text_fields.py); the second reads
    # them back, as every later scheduled run does.
    for label in ("first run (derives text fields)", "second run (cached)"):
        t, cpu = time.perf_counter(), time.process_time()
        run = runs.run_monitor(store, actor=SYSTEM, monitor_id=info.id)
        print(f"\nmonitor {label} over {run.windows} daily windows of {events:,} events: "
              f"{time.perf_counter() - t:.1f} s wall, {time.process_time() - cpu:.1f} s CPU, peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, load average "
              f"{os.getloadavg()[0]:.1f}\n  {run.summary}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500_000, help="Rows per table for the report timing (0: skip).")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--prompts", type=int, default=100_000, help="Prompts per side for embedding drift (0: skip).")
    parser.add_argument("--events", type=int, default=0, help="Events for a monitor run over 60 daily windows "
                                                                 "(0: skip).")
    args = parser.parse_args()
    if args.rows and not BENCH_PYTHON.exists():
        raise SystemExit("Evidently's venv is missing; run `make bench-drift`.")
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        tmp = Path(tmp)
        home = tmp / "home"
        if args.rows:
            compare_reports(args, tmp, home)
        if args.prompts:
            report_embedding_drift(home, args.prompts)
        if args.events:
            monitor_run(tmp / "events-home", args.events)


def compare_reports(args, tmp: Path, home: Path) -> None:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    ref_path, cur_path = tmp / "reference.parquet", tmp / "current.parquet"
    make_frame(args.rows, shifted=False, seed=1).to_parquet(ref_path, index=False)
    make_frame(args.rows, shifted=True, seed=2).to_parquet(cur_path, index=False)
    for name, path in (("reference", ref_path), ("current", cur_path)):
        result = run_child([str(WORKBENCH), "data", "import", str(path), "--name", name, "--json"], env=env)
        print(f"imported {name}: {args.rows:,} rows ({result[0]:.1f} s, not timed below)")
    ours_cmd = [str(WORKBENCH), "monitor", "drift", "--reference", "reference", "--current", "current",
                "--fields", ",".join(COLUMNS), "--json"]
    theirs_cmd = [str(BENCH_PYTHON), "-c", EVIDENTLY_SCRIPT, str(ref_path), str(cur_path), str(tmp / "ev.json")]
    ours_runs, theirs_runs = [], []
    for _ in range(args.repeats):
        seconds, rss, stdout = run_child(ours_cmd, env=env)
        ours_runs.append((seconds, rss))
        ours = workbench_verdicts(stdout)
        seconds, rss, _ = run_child(theirs_cmd)
        theirs_runs.append((seconds, rss))
        theirs = json.loads((tmp / "ev.json").read_text())
    print(f"\n{'column':10} {'workbench':34} {'evidently':44} agree  expected")
    agree = True
    for column in COLUMNS:
        a, b = ours[column], theirs[column]
        same = a["drift"] == b["drift"]
        agree &= same and a["drift"] == EXPECTED[column]
        print(f"{column:10} {a['method']:18} {a['value']:.4f} {'DRIFT' if a['drift'] else '-':5}   "
              f"{b['method'][:28]:28} {b['value']:.4f} {'DRIFT' if b['drift'] else '-':5}   "
              f"{'yes' if same else 'NO':5}  {'drift' if EXPECTED[column] else '-'}")
    if not agree:
        raise SystemExit("Per-column verdicts disagree; timings are not comparable.")
    ours_s, ours_m = min(r[0] for r in ours_runs), max(r[1] for r in ours_runs)
    theirs_s, theirs_m = min(r[0] for r in theirs_runs), max(r[1] for r in theirs_runs)
    print(f"\nworkbench monitor drift : {ours_s:7.1f} s  peak {ours_m:7.0f} MiB")
    print(f"Evidently DataDriftPreset: {theirs_s:7.1f} s  peak {theirs_m:7.0f} MiB")
    print(f"speed-up {theirs_s / ours_s:.1f}x (goal 10x), memory {ours_m / theirs_m:.2f}x of Evidently's "
          f"(best of {args.repeats}, whole processes, {os.cpu_count()} CPUs)")


def report_embedding_drift(home: Path, prompts: int) -> None:
    emb = embedding_drift(home, prompts)
    print(f"\nembedding drift, {prompts:,} vs {prompts:,} prompts, {emb['sample_per_side']} sampled "
          f"per side (MiniLM, {emb['threads']} threads): {emb['seconds_total']} s for 3 comparisons, the first "
          "including the model load")
    for run in emb["runs"]:
        print(f"  {run['label']:24} {run['seconds']:6.1f} s wall, {run['cpu_seconds']:6.1f} s CPU  MMD² {run['mmd']['statistic']:.4f} "
              f"p={run['mmd']['p_value']:.3f}  classifier AUC {run['domain_classifier']['statistic']:.3f}  "
              f"novel share {run['novelty']['statistic']:+.3f}  drift: "
              f"{'/'.join('Y' if run[n]['drift'] else 'n' for n in ('mmd', 'domain_classifier', 'novelty'))}")
    print(f"  sampling error: AUC standard error ≈ {emb['auc_standard_error_at_0.5']:.3f} at AUC 0.5 "
          f"(Hanley-McNeil, {emb['sample_per_side'] // 2} held out per side); MMD p-value resolution "
          f"{emb['mmd_p_value_resolution']:.4f} (200 permutations)")


if __name__ == "__main__":
    main()
