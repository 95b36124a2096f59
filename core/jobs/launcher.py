"""Where a job's process runs: one `Launcher` protocol, three implementations.

- `LocalLauncher` ("local", the default): the worker of this workbench home starts `python -m ENTRY --job ID` as a
  process of its own when a slot is free. Each job gets its own process group (so cancel stops it and any
  children, e.g. torchrun's workers), its own CUDA_VISIBLE_DEVICES, and its output in run_dir/log.txt. Several
  GPUs run data parallel under torchrun.
- `RayLauncher` ("ray", when WORKBENCH_RAY_ADDRESS is set): the same command through Ray's job submission API
  (core/jobs/ray_launcher.py); it runs any kind.
- `InProcessLauncher` ("inprocess", for tests and scripts): runs the job in the calling process at once, through
  the same kind function and the same lifecycle.

Every launcher answers the same four calls, so the actions in core/jobs/actions.py never ask which one it is:
`start(store, job)` hands a queued job over, `stop(store, job)` stops its process, `logs(store, job)` returns
its output, `reconcile(store)` marks jobs whose process vanished as interrupted.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Protocol

from core.jobs.queue import JobInfo, process_alive
from core.storage.db import Store

STOP_GRACE_S = 5.0
REPO = Path(__file__).resolve().parents[2]


class Launcher(Protocol):
    name: str

    def start(self, store: Store, job: JobInfo) -> None: ...

    def stop(self, store: Store, job: JobInfo) -> None: ...

    def logs(self, store: Store, job: JobInfo) -> str: ...

    def reconcile(self, store: Store) -> list[int]: ...


# --- processes on this machine -----------------------------------------------------------------------------

def spawn(command: list[str], *, log_path: Path, env: dict[str, str]) -> int:
    """Starts `command` in a new session (it outlives its parent: the app, the CLI or the worker), output to
    `log_path`; returns its pid. A thread waits on it, so it never lingers as a zombie of a long-lived parent
    (the app process starts workers, the worker starts jobs)."""
    log = open(log_path, "ab")
    try:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=env, cwd=str(REPO))
    finally:
        log.close()
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    return process.pid


def command_for(job: JobInfo, devices: list[int] | None) -> list[str]:
    from core.jobs.kinds import get_kind

    module = get_kind(job.kind).entry
    if devices and len(devices) > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={len(devices)}",
                "-m", module, "--job", str(job.id)]
    return [sys.executable, "-m", module, "--job", str(job.id)]


def start(job: JobInfo, devices: list[int] | None, *, env: dict[str, str] | None = None) -> int:
    """Starts the job's process detached from the caller; returns its pid (the worker calls this)."""
    from core.jobs.kinds import get_kind

    environment = {**os.environ, **(env or {})}
    if get_kind(job.kind).exclusive or devices:
        # An empty CUDA_VISIBLE_DEVICES hides every GPU: a CPU job never grabs a card another job holds.
        environment["CUDA_VISIBLE_DEVICES"] = ",".join(str(d) for d in devices) if devices else ""
    environment["PYTHONUNBUFFERED"] = "1"
    environment.setdefault("HF_HUB_OFFLINE", "1")
    return spawn(command_for(job, devices), log_path=Path(job.run_dir) / "log.txt", env=environment)


def stop(job: JobInfo, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to the job's process group, SIGKILL after `grace_s` if it is still there."""
    if not job.pid or not process_alive(job.pid, job.id):
        return
    try:
        group = os.getpgid(job.pid)
    except ProcessLookupError:
        return
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not process_alive(job.pid, job.id):
            return
        time.sleep(0.1)
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


def read_log(job: JobInfo) -> str:
    return job.log_path.read_text(errors="replace") if job.log_path.exists() else ""


class LocalLauncher:
    name = "local"

    def start(self, store: Store, job: JobInfo) -> None:
        from core.jobs import worker

        worker.ensure_worker(store.settings)  # the worker starts the process when a slot is free

    def stop(self, store: Store, job: JobInfo) -> None:
        stop(job)

    def logs(self, store: Store, job: JobInfo) -> str:
        return read_log(job)

    def reconcile(self, store: Store) -> list[int]:
        from core.jobs import queue

        return queue.reconcile(store)


class RayLauncher:
    name = "ray"

    def start(self, store: Store, job: JobInfo) -> None:
        from core.jobs import ray_launcher

        ray_launcher.start(store, job)

    def stop(self, store: Store, job: JobInfo) -> None:
        from core.jobs import ray_launcher

        ray_launcher.stop(store, job)

    def logs(self, store: Store, job: JobInfo) -> str:
        from core.jobs import ray_launcher

        return ray_launcher.logs(store, job)

    def reconcile(self, store: Store) -> list[int]:
        if not store.settings.ray_address:
            return []
        from core.jobs import ray_launcher

        return ray_launcher.reconcile(store)


class InProcessLauncher:
    """Runs the job here and now (start returns when it has ended); its output goes to the run folder's log."""

    name = "inprocess"

    def start(self, store: Store, job: JobInfo) -> None:
        from core.jobs import run

        run.run_here(store, job.id)

    def stop(self, store: Store, job: JobInfo) -> None:
        pass  # the row is cancelled; the work stops at its next progress report

    def logs(self, store: Store, job: JobInfo) -> str:
        return read_log(job)

    def reconcile(self, store: Store) -> list[int]:
        return []  # it ends before start returns


LAUNCHERS: dict[str, Launcher] = {launcher.name: launcher
                                  for launcher in (LocalLauncher(), RayLauncher(), InProcessLauncher())}


def launcher_for(name: str) -> Launcher:
    from core.errors import InvalidInput

    try:
        return LAUNCHERS[name]
    except KeyError:
        raise InvalidInput(f"'{name}' is not a launcher; choose one of {', '.join(LAUNCHERS)}.") from None
