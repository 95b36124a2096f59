"""Launching fine-tunes: pre-flight, then a job of the `finetune` kind (core/jobs/actions.submit)."""
from __future__ import annotations

from core.errors import InvalidInput
from core.finetune import preflight
from core.finetune.config import FinetuneConfig
from core.governance.roles import Actor
from core.jobs import actions, queue
from core.storage.db import Store


def launch(store: Store, *, actor: Actor, config: FinetuneConfig, sweep_id: str | None = None,
           start_worker: bool = True) -> queue.JobInfo:
    """Checks the config (errors stop it, with every reason in one message), then submits the job to the
    launcher the settings name (the local worker, or the Ray cluster)."""
    checks = preflight.run(store, actor=actor, config=config)
    errors = [c.message for c in checks.checks if c.level == "error"]
    if errors:
        raise InvalidInput(" ".join(errors))
    name = f"{config.base_model} on {config.dataset}"
    launcher = actions.default_launcher(store)
    if launcher == "ray":
        from core.jobs import ray_launcher

        ray_launcher.check_address(store.settings.ray_address, store.settings.ray_token)
        gpus = min(config.gpus, ray_launcher.cluster_gpus(store.settings))  # CPU clusters run CPU jobs
    else:
        gpus = min(config.gpus, len(preflight.cuda_devices()))
    if launcher == "local" and not start_worker:
        return queue.submit(store, actor=actor, kind="finetune", name=name, config=config.to_dict(), gpus=gpus,
                            sweep_id=sweep_id)
    return actions.submit(store, actor=actor, kind="finetune", name=name, config=config.to_dict(), gpus=gpus,
                          launcher=launcher, sweep_id=sweep_id)


# The same actions as every other kind; kept under these names for the callers that fine-tune.
reconcile_all = actions.refresh
resume = actions.resume
wait = actions.wait
