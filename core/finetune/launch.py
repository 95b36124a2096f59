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
    name = f"{config.base_model} on {config.dataset}"
    if store.settings.ray_address:
        from core.jobs import ray_launcher

        ray_launcher.check_address(store.settings.ray_address, store.settings.ray_token)
        gpus = min(config.gpus, ray_launcher.cluster_gpus(store.settings))  # CPU clusters run CPU jobs
        job = queue.submit(store, actor=actor, kind="finetune", name=name, config=config.to_dict(),
                           gpus=gpus, launcher="ray", sweep_id=sweep_id)
        try:
            ray_launcher.start(store, job)
        except Exception as exc:
            queue.finish_unstarted(store, job.id, str(exc))
            raise
        return queue.get_job(store, actor=actor, job_id=job.id)
    gpus = min(config.gpus, len(preflight.cuda_devices()))
    job = queue.submit(store, actor=actor, kind="finetune", name=name, config=config.to_dict(), gpus=gpus,
                       sweep_id=sweep_id)
    if start_worker:
        worker.ensure_worker(store.settings)
    return job


def reconcile_all(store: Store) -> None:
    """Marks local and Ray jobs whose process is gone as interrupted."""
    queue.reconcile(store)
    if store.settings.ray_address:
        from core.jobs import ray_launcher

        ray_launcher.reconcile(store)


def resume(store: Store, *, actor: Actor, job_id: int) -> queue.JobInfo:
    """Queues a stopped job again where it ran (a local worker, or the Ray cluster)."""
    reconcile_all(store)
    job = queue.resume(store, actor=actor, job_id=job_id)
    if job.launcher == "ray":
        from core.jobs import ray_launcher

        ray_launcher.start(store, job)
    else:
        worker.ensure_worker(store.settings)
    return queue.get_job(store, actor=actor, job_id=job_id)


def wait(store: Store, *, actor: Actor, job_id: int, timeout_s: float | None = None, poll_s: float = 1.0,
         on_update=None) -> queue.JobInfo:
    """Returns when the job has finished (or `timeout_s` passed); `on_update(job)` sees each poll."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        reconcile_all(store)
        job = queue.get_job(store, actor=actor, job_id=job_id)
        if on_update:
            on_update(job)
        if job.status in queue.FINISHED or (deadline is not None and time.monotonic() > deadline):
            return job
        if job.status == queue.QUEUED and job.launcher == "local":
            worker.ensure_worker(store.settings)
        time.sleep(poll_s)
