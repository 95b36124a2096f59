"""How close the pre-flight time estimate comes to the real job: the bundled model's "quick check" on a dataset.

    WORKBENCH_HOME=/tmp/bench-ft .venv/bin/python bench/finetune_estimate.py [--dataset support-chat-sft]

Sets up the home if needed (bundled models, demo datasets), runs the pre-flight (which measures this machine
unless it has a cached measurement for this shape), then launches the real job and waits for it. Prints the
estimate, the job's wall time from submission to end, and their ratio; the goal is a ratio within 1/1.5..1.5.
Run it on an otherwise idle machine: a loaded one slows the measurement and the job by different amounts. The job
writes its real pace back, and the last line shows the estimate the next pre-flight makes from it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# The repository root instead of bench/ first on the path: bench/profile.py must not shadow the standard library's
# profile module, which torch imports.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from core.demo import seed_datasets
from core.finetune import launch, preflight
from core.finetune.config import PRESETS, FinetuneConfig
from core.governance.roles import LOCAL_OPERATOR
from core.home import init_workbench, open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="support-chat-sft")
    parser.add_argument("--preset", default="quick check", choices=list(PRESETS))
    args = parser.parse_args()
    init_workbench(with_models=True)
    store = open_store()
    seed_datasets(store, actor=LOCAL_OPERATOR)
    config = FinetuneConfig.from_dict({**PRESETS[args.preset], "base_model": "smollm2-135m-instruct",
                                       "dataset": args.dataset})
    started = time.perf_counter()
    estimate = preflight.run(store, actor=LOCAL_OPERATOR, config=config, measure=True).estimate
    print(f"pre-flight took {time.perf_counter() - started:.1f} s: {json.dumps(estimate)}", flush=True)
    started = time.perf_counter()
    job = launch.launch(store, actor=LOCAL_OPERATOR, config=config)
    job = launch.wait(store, actor=LOCAL_OPERATOR, job_id=job.id)
    wall = time.perf_counter() - started
    ratio = wall / (estimate["minutes"] * 60)
    print(f"job {job.id} {job.status}: {wall:.0f} s from submission to end; estimate {estimate['minutes'] * 60:.0f} s; "
          f"actual/estimate {ratio:.2f} ({'within' if 1 / 1.5 <= ratio <= 1.5 else 'outside'} 1.5x)")
    again = preflight.run(store, actor=LOCAL_OPERATOR, config=config).estimate
    print(f"the next estimate for these settings: {again['minutes'] * 60:.0f} s, {again['assumes']}")
    print(f"load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
