"""`workbench jobs list|show|logs|cancel|resume` for jobs of every kind, and `workbench worker`.

Each command is one call to core/jobs/actions.py, the same call the pages make.
"""
from __future__ import annotations

import sys

from core.errors import InvalidInput
from workbench.commands.context import add_group, print_json


def print_job(job, as_json: bool) -> None:
    """A job as JSON (`JobInfo.to_dict()` plus its progress) or as a few lines of text."""
    from core.jobs import actions
    from core.jobs.kinds import KINDS

    progress = actions.progress(job)
    if as_json:
        print_json({**job.to_dict(), "progress": progress.to_dict()})
        return
    label = KINDS[job.kind].label if job.kind in KINDS else job.kind
    print(f"job {job.id} {job.status}: {label} · {progress.text} · {job.name} · by {job.created_by}")
    if job.metrics.get("loss") is not None or job.metrics.get("train_loss") is not None:
        shown = {k: job.metrics[k] for k in ("loss", "eval_loss", "train_loss", "tokens_per_s") if k in job.metrics}
        print("  " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    if job.error:
        print(f"  {job.error}")
    if job.model:
        print(f"  adapter registered as {job.model} ({job.adapter_path})")
    for key, value in (job.result or {}).items():
        if key != "model":
            print(f"  {key.replace('_', ' ')}: {value}")


def wait_and_print(store, actor, job, as_json: bool) -> int:
    """Waits for the job to end, showing its progress on a terminal; exit status 0 only if it succeeded."""
    from core.jobs import actions, queue

    shown = {"text": None}

    def update(current):
        text = f"{current.status}: {actions.progress(current).text}"
        if not as_json and sys.stderr.isatty() and text != shown["text"]:
            shown["text"] = text
            print(f"\r{text[:120]:<120}", end="", file=sys.stderr, flush=True)

    done = actions.wait(store, actor=actor, job_id=job.id, on_update=update)
    if not as_json and sys.stderr.isatty():
        print(file=sys.stderr)
    print_job(done, as_json)
    return 0 if done.status == queue.SUCCEEDED else 1


def print_submitted(job, as_json: bool) -> None:
    """What `... run` without --wait prints: the job, and how to follow it."""
    if as_json:
        print_json({"id": job.id, "kind": job.kind, "status": job.status})
    else:
        print(f"job {job.id} {job.status}: {job.name}")
        print(f"  follow it with `workbench jobs show {job.id}` or `workbench jobs logs {job.id}`")


def cmd_jobs_list(ctx) -> int:
    from core.jobs import actions

    args = ctx.args
    jobs = actions.list_jobs(ctx.store, actor=ctx.actor, kind=args.kind, status=args.status, created_by=args.by)
    return ctx.table([j.to_dict() for j in jobs],
                     [{"id": j.id, "kind": j.kind, "status": j.status, "progress": actions.progress(j).text[:40],
                       "by": j.created_by, "created": f"{j.created_at:%Y-%m-%d %H:%M}", "name": j.name[:60],
                       "model": j.model or ""} for j in jobs],
                     empty="No job yet; start one with `workbench finetune run`, `workbench compare run` or "
                           "`workbench pipelines run`.")


def cmd_jobs_show(ctx) -> int:
    from core.jobs import actions

    print_job(actions.get(ctx.store, actor=ctx.actor, job_id=ctx.args.id), ctx.json)
    return 0


def cmd_jobs_logs(ctx) -> int:
    from core.jobs import actions

    args = ctx.args
    text = actions.logs(ctx.store, actor=ctx.actor, job_id=args.id, tail=args.tail or None)
    if not text:
        print(f"Job {args.id} has no log yet.", file=sys.stderr)
        return 0
    print(text.rstrip("\n"))
    return 0


def cmd_jobs_cancel(ctx) -> int:
    from core.jobs import actions

    print_job(actions.cancel(ctx.store, actor=ctx.actor, job_id=ctx.args.id), ctx.json)
    return 0


def cmd_jobs_resume(ctx) -> int:
    from core.jobs import actions

    job = actions.resume(ctx.store, actor=ctx.actor, job_id=ctx.args.id)
    if ctx.args.wait:
        return wait_and_print(ctx.store, ctx.actor, job, ctx.json)
    print_job(job, ctx.json)
    return 0


def cmd_worker(ctx) -> int:
    import logging

    from core.jobs import worker

    logging.getLogger("workbench.worker").setLevel(logging.INFO)
    code = worker.run_worker(ctx.store, poll_s=ctx.args.poll, exit_when_idle=ctx.args.exit_when_idle)
    if code == 3:
        raise InvalidInput("Another worker already serves this workbench home.")
    return code


def register(commands, add) -> None:
    from core.jobs.kinds import KINDS

    jobs_sub = add_group(commands, "jobs", "Jobs of every kind (fine-tunes, comparisons, pipeline runs): list, show, "
                                           "logs, cancel, resume.",
                         description="Jobs of every kind: list, show, logs, cancel, resume.")
    listing = add(jobs_sub, "list", cmd_jobs_list, "List jobs, newest first, with their kind and who launched them.")
    listing.add_argument("--kind", choices=list(KINDS), help="Only jobs of this kind.")
    listing.add_argument("--status", help="Only jobs in this state.")
    listing.add_argument("--by", metavar="USER", help="Only jobs this user launched.")
    for name, func, text in (("show", cmd_jobs_show, "Show one job with its progress."),
                             ("cancel", cmd_jobs_cancel, "Cancel a queued or running job (stops its processes)."),
                             ("resume", cmd_jobs_resume, "Queue an interrupted, failed or cancelled fine-tune again; "
                                                         "it continues from its last complete checkpoint.")):
        command = add(jobs_sub, name, func, text)
        command.add_argument("id", type=int)
        if name == "resume":
            command.add_argument("--wait", action="store_true", help="Return when the job ends.")
    logs = add(jobs_sub, "logs", cmd_jobs_logs, "Print a job's log.", json_flag=False)
    logs.add_argument("id", type=int)
    logs.add_argument("--tail", type=int, default=0, help="Only the last N lines.")

    worker = add(commands, "worker", cmd_worker, "Run the job worker in the foreground (the app starts one too).",
                 json_flag=False)
    worker.add_argument("--exit-when-idle", action="store_true", help="Stop when no job is queued or running.")
    worker.add_argument("--poll", type=float, default=1.0, help="Seconds between looks at the queue.")
