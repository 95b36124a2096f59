"""Launching fine-tunes: pre-flight, then a queued job that the worker starts."""
from __future__ import annotations

import time

from core.errors import InvalidInput
from core.finetune import preflight
from core.finetune.config import FinetuneConfig
from core.governance.roles import Actor
from core.jobs import queue, worker
from core.storage.db import Store


def launch(store: Store, *, actor: Actor, config: FinetuneConfig, sweep_id: str | None = None,
           start_worker: bool = True) -> queue.JobInfo:
    """Checks the config (errors stop it, with every reason in one message), queues the job and makes sure a
    worker will run it."""
    checks = preflight.run(store, actor=actor, config=config)
    errors = [c.message for c in checks.checks if c.level == "error"]
    if errors:
        raise InvalidInput(" ".join(errors))
    gpus = min(config.gpus, len(preflight.cuda_devices()))
    name = f"{config.base_model} on {config.dataset}"
    job = queue.submit(store, actor=actor, kind="finetune", name=name, config=config.to_dict(), gpus=gpus,
                       sweep_id=sweep_id)
    if start_worker:
        worker.ensure_worker(store.settings)
    return job


def wait(store: Store, *, actor: Actor, job_id: int, timeout_s: float | None = None, poll_s: float = 1.0,
         on_update=None) -> queue.JobInfo:
    """Returns when the job has finished (or `timeout_s` passed); `on_update(job)` sees each poll."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        queue.reconcile(store)
        job = queue.get_job(store, actor=actor, job_id=job_id)
        if on_update:
            on_update(job)
        if job.status in queue.FINISHED or (deadline is not None and time.monotonic() > deadline):
            return job
        if job.status == queue.QUEUED:
            worker.ensure_worker(store.settings)
        time.sleep(poll_s)
