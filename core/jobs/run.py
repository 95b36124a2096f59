"""The job process: `python -m core.jobs.run --job ID` runs one job of any registered kind.

It waits until the worker has marked the job running with its pid (a Ray-started process claims the job itself),
runs the kind's function with a `Progress` reporter, and reports the end: succeeded with the function's result,
or failed with one sentence (the log keeps the traceback). A cancel (the row becomes cancelled, then SIGTERM)
stops the work at its next progress report, quietly: whoever cancelled has already recorded it. A SIGKILL leaves
the row running, and the next reconcile marks it interrupted.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from typing import Any

from core.errors import WorkbenchError
from core.jobs import queue
from core.storage.db import Store

log = logging.getLogger("workbench.jobs")


class JobCancelled(Exception):
    """Raised inside the job's work once its row is no longer running (cancelled, or taken for dead)."""


class Progress:
    """`progress(done, total, note)` from inside a job: a heartbeat with the figures, at most every
    `every_s` seconds (always at the last item and when the note changes); raises JobCancelled when the job
    stopped running. `progress.cancelled` also says so without raising."""

    def __init__(self, store: Store, job_id: int, every_s: float = 0.5):
        self.store, self.job_id, self.every_s = store, job_id, every_s
        self._last = 0.0
        self._note: str | None = None
        self.cancelled = False

    def __call__(self, done: int, total: int | None = None, note: str | None = None) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s and note == self._note and (total is None or done < total):
            return
        self._last, self._note = now, note
        if not queue.heartbeat(self.store, self.job_id, step=int(done), max_steps=total, note=note):
            self.cancelled = True
            raise JobCancelled(f"Job {self.job_id} was cancelled.")


def wait_until_claimed(store: Store, job_id: int, timeout_s: float = 60.0) -> queue.JobInfo | None:
    """The job once it is running with this process (None if it ended or never started)."""
    from core.storage.tables import Job

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with store.read() as session:
            row = session.get(Job, job_id)
            if row is None or row.status in queue.FINISHED:
                return None
            launcher, status = row.launcher, row.status
            running = queue.JobInfo.of(row) if status == queue.RUNNING else None
        if status == queue.QUEUED and launcher == "ray":
            # Ray started this process: no local worker claims it, so it claims itself.
            claimed = queue.claim(store, job_id, pid=os.getpid(), devices=None)
            if claimed is not None:
                return claimed
            continue
        if running is not None:
            return running
        time.sleep(0.2)
    return None


def _rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def execute(store: Store, job: queue.JobInfo) -> int:
    """Runs a claimed job's kind function and reports how it ended; returns the process exit status."""
    from core.jobs.kinds import get_kind

    kind = get_kind(job.kind)
    try:
        result: dict[str, Any] | None = kind.function()(store, job, Progress(store, job.id))
    except JobCancelled:
        log.info("job %s: cancelled", job.id)
        return 0
    except WorkbenchError as exc:
        log.error("job %s failed: %s", job.id, exc)
        queue.finish(store, job.id, queue.FAILED, error=str(exc)[:2000])
        return 1
    except Exception as exc:  # the log keeps the traceback; the job row keeps one sentence
        traceback.print_exc()
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        queue.finish(store, job.id, queue.FAILED,
                     error=f"{kind.label} stopped with an unexpected error ({type(exc).__name__}: {first}); "
                           "see the job's log.")
        return 1
    if _rank0():  # the kind may have reported its own end (with its own columns); then this is a no-op
        queue.finish(store, job.id, queue.SUCCEEDED, result=result or None)
    return 0


def run_here(store: Store, job_id: int) -> int:
    """Claims a queued job for this process and runs it now (the in-process launcher)."""
    job = queue.claim(store, job_id, pid=os.getpid(), devices=None)
    if job is None:
        return 0
    return execute(store, job)


def _stop_on_sigterm(*_) -> None:
    raise JobCancelled("stopped by SIGTERM")


def main(argv: list[str] | None = None, *, hard_stop: bool = False) -> int:
    """The process entry. `hard_stop`: SIGTERM ends the process at once (a fine-tune's training threads);
    otherwise it raises JobCancelled in the work, which records its partial results as cancelled."""
    import argparse

    from core.home import open_store

    parser = argparse.ArgumentParser(prog="python -m core.jobs.run")
    parser.add_argument("--job", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, (lambda *_: os._exit(143)) if hard_stop else _stop_on_sigterm)
    store = open_store()
    job = wait_until_claimed(store, args.job)
    if job is None:
        log.warning("job %s is not running; nothing to do", args.job)
        return 0
    log.info("job %s: attempt %s, pid %s, devices %s", job.id, job.attempt, os.getpid(), job.devices)
    return execute(store, job)


if __name__ == "__main__":
    sys.exit(main())
