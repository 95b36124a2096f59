"""Starting and stopping job processes on this machine.

Each job gets its own process group (so cancel stops it and any children, e.g. torchrun's workers), its own
CUDA_VISIBLE_DEVICES, and its output in run_dir/log.txt. Several GPUs run data parallel under torchrun.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.jobs.queue import JobInfo, process_alive

ENTRY = {"finetune": "core.finetune.run"}
STOP_GRACE_S = 5.0


def command_for(job: JobInfo, devices: list[int] | None) -> list[str]:
    module = ENTRY[job.kind]
    if devices and len(devices) > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={len(devices)}",
                "-m", module, "--job", str(job.id)]
    return [sys.executable, "-m", module, "--job", str(job.id)]


def start(job: JobInfo, devices: list[int] | None, *, env: dict[str, str] | None = None) -> int:
    """Starts the job's process detached from the caller (it outlives the app and the worker); returns its pid."""
    environment = {**os.environ, **(env or {})}
    # An empty CUDA_VISIBLE_DEVICES hides every GPU: a CPU job never grabs a card another job holds.
    environment["CUDA_VISIBLE_DEVICES"] = ",".join(str(d) for d in devices) if devices else ""
    environment["PYTHONUNBUFFERED"] = "1"
    environment.setdefault("HF_HUB_OFFLINE", "1")
    log = open(Path(job.run_dir) / "log.txt", "ab")
    try:
        process = subprocess.Popen(command_for(job, devices), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, env=environment,
                                   cwd=str(Path(__file__).resolve().parents[2]))
    finally:
        log.close()
    return process.pid


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
