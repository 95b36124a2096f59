"""The fine-tuning job process: `python -m core.finetune.run --job ID` (started by the worker).

It waits until the worker has marked the job running with its pid, trains, registers the adapter with its
lineage and reports the end. SIGTERM (cancel) ends it quietly: whoever cancelled has already recorded that.
A crash is recorded as failed with one sentence; a SIGKILL leaves the row running, and the next reconcile
marks it interrupted.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from core.jobs import queue

log = logging.getLogger("workbench.finetune")


def adapter_name(job: queue.JobInfo, config) -> str:
    return config.adapter_name.strip() or f"{config.base_model}-ft-{job.id}"


def run_job(store, job: queue.JobInfo, progress=None) -> dict | None:
    """The fine-tune kind's function (core/jobs/kinds.py); reports steps and metrics through its own heartbeat."""
    done = execute(store, job)
    return {"model": done.model} if done is not None else None


def execute(store, job: queue.JobInfo) -> queue.JobInfo | None:
    from core.data import versions
    from core.finetune.config import FinetuneConfig
    from core.finetune.examples import prepare
    from core.finetune.train import train
    from core.models import registry, sources

    config = FinetuneConfig.from_dict(job.config)
    actor = queue.launcher_actor(store, job)
    base = registry.get_model(store, actor=actor, name=config.base_model)
    train_version = versions.get_version(store, actor=actor, ref=config.dataset)
    frame = versions.load_frame(store, actor=actor, version=train_version)
    eval_frame, eval_ref = None, None
    if config.eval_dataset.strip():
        eval_version = versions.get_version(store, actor=actor, ref=config.eval_dataset)
        eval_frame, eval_ref = versions.load_frame(store, actor=actor, version=eval_version), eval_version.ref

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base.path, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if config.method != "dpo":
        data = prepare(tokenizer, frame, config, eval_frame)
        log.info("job %s: %s train / %s eval examples (%s format), %s rows skipped, %s truncated", job.id,
                 len(data.train), len(data.eval), data.format, len(data.skipped_rows), data.truncated)
    rank0 = int(os.environ.get("RANK", "0")) == 0

    def report(metrics: dict) -> bool:
        if not rank0:
            return True
        step, max_steps = metrics.get("step"), metrics.get("max_steps")
        shown = {k: v for k, v in metrics.items() if k not in ("step", "max_steps", "epoch", "time_s")}
        return queue.heartbeat(store, job.id, step=step, max_steps=max_steps, metrics=shown or None)

    if config.method == "dpo":  # preference tuning: TRL's DPOTrainer (core/finetune/dpo.py)
        from core.finetune.dpo import train_dpo

        result = train_dpo(base_path=base.path, frame=frame, eval_frame=eval_frame, tokenizer=tokenizer,
                           config=config, run_dir=Path(job.run_dir), report=report, resume=job.resume)
        shape = {"format": "preference", "train_examples": result.metrics.get("train_pairs"),
                 "eval_examples": result.metrics.get("eval_pairs")}
    else:
        result = train(base_path=base.path, data=data, tokenizer=tokenizer, config=config,
                       run_dir=Path(job.run_dir), report=report, resume=job.resume)
        shape = {"format": data.format, "train_examples": len(data.train), "eval_examples": len(data.eval)}
    if result.stopped or not rank0:
        return None
    if config.method != "dpo" and result.metrics.get("seconds_per_step"):
        _record_pace(store, job, config, base.name, train_version.sha256, result.metrics)
    name = adapter_name(job, config)
    if registry.is_registered(store, name):
        name = f"{name}-{job.attempt}"
    sources.add_adapter(store, actor=actor, name=name, path=result.adapter_dir, base_model=base.name)
    registry.update_info(store, actor=actor, name=name, action="model.lineage", changes={
        "job_id": job.id, "dataset_version": train_version.ref, "eval_dataset_version": eval_ref,
        "config": config.to_dict(), "metrics": result.metrics, "launched_by": job.created_by,
        "method": config.method, **shape,
    })
    return queue.finish(store, job.id, queue.SUCCEEDED, adapter_path=str(result.adapter_dir), model=name,
                        metrics={**job.metrics, **result.metrics}, result={"model": name})


def _record_pace(store, job: queue.JobInfo, config, model: str, dataset_sha: str, metrics: dict) -> None:
    """This job's real pace becomes the pre-flight's figure for its settings (core/finetune/speed.py), with the
    other work the machine had meanwhile (sampled between steps)."""
    from core.finetune import preflight, speed

    try:
        speed.record_job(store.settings.home, device=speed.device_class(preflight.cuda_devices()), model=model,
                         dataset_sha=dataset_sha, config=config, job_id=job.id,
                         micro_step_s=metrics["seconds_per_step"] / config.gradient_accumulation,
                         startup_s=metrics.get("startup_s"), load=metrics.get("other_load_per_core", 0.0))
    except OSError as exc:  # a read-only cache costs the next estimate its correction, not this job its adapter
        log.warning("job %s: could not record its pace for the pre-flight estimate: %s", job.id, exc)


def main(argv: list[str] | None = None) -> int:
    """`python -m core.finetune.run --job ID`: the job entry of core.jobs.run, with SIGTERM ending it at once."""
    from core.jobs import run

    return run.main(argv, hard_stop=True)


if __name__ == "__main__":
    sys.exit(main())
