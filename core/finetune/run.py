"""The fine-tuning job process: `python -m core.finetune.run --job ID` (started by the worker).

It waits until the worker has marked the job running with its pid, trains, registers the adapter with its
lineage and reports the end. SIGTERM (cancel) ends it quietly: whoever cancelled has already recorded that.
A crash is recorded as failed with one sentence; a SIGKILL leaves the row running, and the next reconcile
marks it interrupted.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from core.errors import WorkbenchError
from core.jobs import queue

log = logging.getLogger("workbench.finetune")


def _wait_until_claimed(store, job_id: int, timeout_s: float = 60.0) -> queue.JobInfo | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with store.read() as session:
            from core.storage.tables import Job

            row = session.get(Job, job_id)
            if row is None or row.status in queue.FINISHED:
                return None
            if row.status == queue.QUEUED and row.launcher == "ray":
                # Ray started this process: no local worker claims it, so it claims itself.
                claimed = queue.claim(store, job_id, pid=os.getpid(), devices=None)
                if claimed is not None:
                    return claimed
                continue
            if row.status == queue.RUNNING:
                return queue.JobInfo.of(row)
        time.sleep(0.2)
    return None


def adapter_name(job: queue.JobInfo, config) -> str:
    return config.adapter_name.strip() or f"{config.base_model}-ft-{job.id}"


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

    result = train(base_path=base.path, data=data, tokenizer=tokenizer, config=config,
                   run_dir=Path(job.run_dir), report=report, resume=job.resume)
    if result.stopped or not rank0:
        return None
    name = adapter_name(job, config)
    if registry.is_registered(store, name):
        name = f"{name}-{job.attempt}"
    sources.add_adapter(store, actor=actor, name=name, path=result.adapter_dir, base_model=base.name)
    registry.update_info(store, actor=actor, name=name, action="model.lineage", changes={
        "job_id": job.id, "dataset_version": train_version.ref, "eval_dataset_version": eval_ref,
        "config": config.to_dict(), "metrics": result.metrics, "launched_by": job.created_by,
        "format": data.format, "train_examples": len(data.train), "eval_examples": len(data.eval),
    })
    return queue.finish(store, job.id, queue.SUCCEEDED, adapter_path=str(result.adapter_dir), model=name,
                        metrics={**job.metrics, **result.metrics})


def main(argv: list[str] | None = None) -> int:
    import argparse

    from core.home import open_store

    parser = argparse.ArgumentParser(prog="python -m core.finetune.run")
    parser.add_argument("--job", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    store = open_store()
    job = _wait_until_claimed(store, args.job)
    if job is None:
        log.warning("job %s is not running; nothing to do", args.job)
        return 0
    log.info("job %s: attempt %s, pid %s, devices %s", job.id, job.attempt, os.getpid(), job.devices)
    try:
        execute(store, job)
    except WorkbenchError as exc:
        log.error("job %s failed: %s", job.id, exc)
        queue.finish(store, job.id, queue.FAILED, error=str(exc)[:2000])
        return 1
    except Exception as exc:  # the log keeps the traceback; the job row keeps one sentence
        traceback.print_exc()
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        queue.finish(store, job.id, queue.FAILED,
                     error=f"Training stopped with an unexpected error ({type(exc).__name__}: {first}); "
                           "see the job's log.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
