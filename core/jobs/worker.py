"""The worker: takes queued jobs in order and gives each a process and its GPUs when they are free.

One worker per workbench home (a file lock says which); `workbench worker` runs one in a terminal, the app
starts one, and submitting a local job starts one when none is running. A job process reports its own progress
and end to the database, so the worker holds no state a restart could lose.

Slots: kinds marked `exclusive` (a fine-tune) get the GPUs they ask for, or, on a machine without GPUs, run one
at a time, first come first served. Other kinds (a comparison, a pipeline run: minutes of inference) run beside
them, up to LIGHT_SLOTS at once, in their own queue order, so a short comparison never waits behind an hour of
training; it shares the cores with it instead (both slow down a little, nobody waits for ever).
"""
from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import replace

from sqlmodel import col, select

from core.jobs import launcher, queue
from core.settings import Settings
from core.storage.db import Store
from core.storage.tables import Job

log = logging.getLogger("workbench.worker")
LOCK_NAME = "worker.lock"
LIGHT_SLOTS = 2  # jobs of non-exclusive kinds running at once


def gpu_count() -> int:
    """CUDA devices this machine has (0 without CUDA); read without initialising CUDA in this process."""
    if os.environ.get("WORKBENCH_GPUS") is not None:  # an explicit override, e.g. to keep cards for other work
        return max(int(os.environ["WORKBENCH_GPUS"]), 0)
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
        return len([line for line in out.stdout.splitlines() if line.strip()]) if out.returncode == 0 else 0
    except (OSError, subprocess.SubprocessError):
        return 0


@contextmanager
def worker_lock(settings: Settings, *, wait: bool = False):
    """Yields True while this process holds the worker lock of the home, False if another worker holds it."""
    settings.home.mkdir(parents=True, exist_ok=True)
    handle = open(settings.home / LOCK_NAME, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield True
    finally:
        handle.close()


def worker_running(settings: Settings) -> bool:
    with worker_lock(settings) as mine:
        return not mine


def _exclusive(kind: str) -> bool:
    from core.jobs.kinds import KINDS

    return KINDS[kind].exclusive if kind in KINDS else True  # an unknown kind is taken for heavy


def _busy(store: Store) -> tuple[set[int], int, int]:
    """GPU indices held by running jobs, how many exclusive jobs run on the CPU, how many light jobs run."""
    busy, cpu_jobs, light = set(), 0, 0
    with store.read() as session:
        for row in session.exec(select(Job).where(Job.status == queue.RUNNING, Job.launcher == "local")).all():
            if not _exclusive(row.kind):
                light += 1
            elif row.devices:
                busy.update(row.devices)
            else:
                cpu_jobs += 1
    return busy, cpu_jobs, light


def tick(store: Store, *, gpus: int) -> list[int]:
    """One pass: mark dead jobs interrupted, start the queued jobs that fit; returns the ids started."""
    queue.reconcile(store)
    from core.finetune import sweeps

    sweeps.advance_all(store)  # optuna sweeps queue their next trials as earlier ones finish
    from core.monitoring import jobs as monitor_jobs

    monitor_jobs.queue_due_runs(store)  # monitors on a daily/weekly schedule (checked once a minute)
    started = []
    with store.read() as session:
        waiting = session.exec(select(Job).where(Job.status == queue.QUEUED, Job.launcher == "local")
                               .order_by(col(Job.id))).all()
    heavy_blocked = False
    for row in waiting:
        busy, cpu_jobs, light = _busy(store)
        job = queue.JobInfo.of(row)
        devices = None
        if not _exclusive(job.kind):
            if light >= LIGHT_SLOTS:
                continue  # light jobs wait for a light slot, not for the fine-tunes
        else:
            if heavy_blocked:
                continue  # first come, first served among exclusive jobs
            wanted = min(job.gpus, gpus) if gpus else 0
            if wanted:
                free = [d for d in range(gpus) if d not in busy]
                if len(free) < wanted:
                    heavy_blocked = True
                    continue
                devices = free[:wanted]
            elif cpu_jobs or busy:
                heavy_blocked = True  # one exclusive job at a time on a machine without GPUs (they share the cores)
                continue
        pid = launcher.start(job, devices)
        if queue.claim(store, job.id, pid=pid, devices=devices) is None:
            launcher.stop(replace(job, pid=pid))  # cancelled between the read and the start
            continue
        started.append(job.id)
        log.info("started job %s (pid %s, devices %s)", job.id, pid, devices)
    return started


def _has_work(store: Store) -> bool:
    with store.read() as session:
        return session.exec(select(Job.id).where(col(Job.status).in_(queue.ACTIVE), Job.launcher == "local")).first() \
            is not None


def run_worker(store: Store, *, poll_s: float = 1.0, exit_when_idle: bool = False, max_ticks: int | None = None) -> int:
    """Runs until stopped (or, with exit_when_idle, until no job is queued or running). Returns 0; 3 when another
    worker already serves this home."""
    with worker_lock(store.settings) as mine:
        if not mine:
            log.info("another worker already serves %s", store.settings.home)
            return 3
        gpus = gpu_count()
        ticks = 0
        while True:
            tick(store, gpus=gpus)
            ticks += 1
            if max_ticks is not None and ticks >= max_ticks:
                return 0
            if exit_when_idle and not _has_work(store):
                return 0
            time.sleep(poll_s)


def ensure_worker(settings: Settings) -> bool:
    """Starts a detached worker that exits when the queue is empty, unless one runs; True if it started one."""
    if worker_running(settings):
        return False
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    launcher.spawn([sys.executable, "-m", "core.jobs.worker", "--exit-when-idle"],
                   log_path=settings.logs_dir / "worker.log",
                   env={**os.environ, "WORKBENCH_HOME": str(settings.home),
                        "WORKBENCH_DATABASE_URL": settings.database_url})
    return True


def main(argv: list[str] | None = None) -> int:
    import argparse

    from core.home import open_store

    parser = argparse.ArgumentParser(prog="python -m core.jobs.worker")
    parser.add_argument("--exit-when-idle", action="store_true")
    parser.add_argument("--poll", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return run_worker(open_store(), poll_s=args.poll, exit_when_idle=args.exit_when_idle)


if __name__ == "__main__":
    sys.exit(main())
