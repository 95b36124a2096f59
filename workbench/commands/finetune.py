"""`workbench finetune run|check`, `workbench jobs list|show|logs|cancel|resume`, `workbench worker`.

Every FinetuneConfig field is an option of the same name in kebab case (`--learning-rate 2e-4`), with the
field's help text; `--config FILE` takes a saved config and options given on the line override it.
"""
from __future__ import annotations

import sys
from dataclasses import MISSING
from pathlib import Path

from core.errors import InvalidInput


def _cli():
    from workbench import cli

    return cli


def _config_from(args):
    from core.finetune.config import FIELDS, FinetuneConfig, from_preset

    given = {name: getattr(args, name) for name in FIELDS if getattr(args, name, None) is not None}
    if args.config:
        base = FinetuneConfig.load(args.config).to_dict()
    elif args.preset:
        base = from_preset(args.preset, base_model="x", dataset="x").to_dict()
        base.pop("base_model"), base.pop("dataset")
    else:
        base = {}
    values = {**base, **given}
    missing = [f"--{n.replace('_', '-')}" for n in ("base_model", "dataset") if not values.get(n)]
    if missing:
        raise InvalidInput(f"Give {' and '.join(missing)} (or --config FILE holding them).")
    return FinetuneConfig.from_dict(values)


def _print_job(job, as_json: bool) -> None:
    cli = _cli()
    if as_json:
        cli._print_json(job.to_dict())
        return
    line = f"job {job.id} {job.status}: step {job.step}/{job.max_steps or '?'} · {job.name} · by {job.created_by}"
    print(line)
    if job.metrics.get("loss") is not None or job.metrics.get("train_loss") is not None:
        shown = {k: job.metrics[k] for k in ("loss", "eval_loss", "train_loss", "tokens_per_s") if k in job.metrics}
        print("  " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    if job.error:
        print(f"  {job.error}")
    if job.model:
        print(f"  adapter registered as {job.model} ({job.adapter_path})")


def _wait(store, actor, job, as_json: bool) -> int:
    from core.finetune import launch
    from core.jobs import queue

    shown = {"step": -1}

    def update(current):
        if not as_json and sys.stderr.isatty() and current.step != shown["step"]:
            shown["step"] = current.step
            print(f"\r{current.status}: step {current.step}/{current.max_steps or '?'}", end="", file=sys.stderr,
                  flush=True)

    done = launch.wait(store, actor=actor, job_id=job.id, on_update=update)
    if not as_json and sys.stderr.isatty():
        print(file=sys.stderr)
    _print_job(done, as_json)
    return 0 if done.status == queue.SUCCEEDED else 1


def cmd_finetune_run(args) -> int:
    from core.finetune import launch

    cli = _cli()
    config = _config_from(args)
    store = cli._store()
    actor = cli._actor(args, store)
    job = launch.launch(store, actor=actor, config=config)
    if args.wait:
        return _wait(store, actor, job, args.json)
    _print_job(job, args.json)
    return 0


def cmd_finetune_check(args) -> int:
    from core.finetune import preflight

    cli = _cli()
    config = _config_from(args)
    store = cli._store()
    result = preflight.run(store, actor=cli._actor(args, store), config=config)
    if args.json:
        cli._print_json(result.to_dict())
    else:
        for check in result.checks:
            print(f"{check.level}: {check.message}")
        if result.estimate:
            e = result.estimate
            print(f"estimate: {e['steps']:,} steps, about {e['minutes']} minutes and {e['memory_gb']} GiB "
                  f"(assumes {e['assumes']})")
        print("ready to launch" if result.ok else "not launchable: fix the errors above")
    return 0 if result.ok else 2


def cmd_jobs_list(args) -> int:
    from core.jobs import queue

    from core.finetune import launch

    cli = _cli()
    store = cli._store()
    launch.reconcile_all(store)
    jobs = queue.list_jobs(store, actor=cli._actor(args, store), status=args.status, created_by=args.by)
    if args.json:
        cli._print_json([j.to_dict() for j in jobs])
    elif not jobs:
        print("No job yet; launch one with `workbench finetune run --base MODEL --dataset NAME`.")
    else:
        cli._print_table([{"id": j.id, "status": j.status, "step": f"{j.step}/{j.max_steps or '?'}",
                           "by": j.created_by, "created": f"{j.created_at:%Y-%m-%d %H:%M}", "name": j.name,
                           "model": j.model or ""} for j in jobs])
    return 0


def cmd_jobs_show(args) -> int:
    from core.jobs import queue

    from core.finetune import launch

    cli = _cli()
    store = cli._store()
    launch.reconcile_all(store)
    _print_job(queue.get_job(store, actor=cli._actor(args, store), job_id=args.id), args.json)
    return 0


def cmd_jobs_logs(args) -> int:
    from core.jobs import queue

    cli = _cli()
    store = cli._store()
    job = queue.get_job(store, actor=cli._actor(args, store), job_id=args.id)
    if job.launcher == "ray":
        from core.jobs import ray_launcher

        text = ray_launcher.logs(store, job)
        lines = text.splitlines()
        print("\n".join(lines[-args.tail:] if args.tail else lines))
        return 0
    if not job.log_path.exists():
        print(f"Job {job.id} has no log yet ({job.status}).", file=sys.stderr)
        return 0
    lines = job.log_path.read_text(errors="replace").splitlines()
    print("\n".join(lines[-args.tail:] if args.tail else lines))
    return 0


def cmd_jobs_cancel(args) -> int:
    from core.jobs import launcher, queue

    cli = _cli()
    store = cli._store()
    job = queue.cancel(store, actor=cli._actor(args, store), job_id=args.id, stop=launcher.stop)
    _print_job(job, args.json)
    return 0


def cmd_jobs_resume(args) -> int:
    from core.finetune import launch

    cli = _cli()
    store = cli._store()
    actor = cli._actor(args, store)
    job = launch.resume(store, actor=actor, job_id=args.id)
    if args.wait:
        return _wait(store, actor, job, args.json)
    _print_job(job, args.json)
    return 0


def cmd_sweeps_launch(args) -> int:
    from core.finetune import sweeps

    cli = _cli()
    config = _config_from(args)
    dimensions = [sweeps.parse_dimension(text) for text in args.search or ()]
    store = cli._store()
    sweep = sweeps.launch_sweep(store, actor=cli._actor(args, store), base=config, dimensions=dimensions,
                                method=args.method, trials=args.trials, parallel=args.parallel, seed=args.sweep_seed)
    if args.json:
        cli._print_json(sweep)
    else:
        print(f"Sweep {sweep['id']} ({sweep['method']}, {sweep['trials']} trials) queued; follow it with "
              f"`workbench sweeps show {sweep['id']}`.")
    return 0


def cmd_sweeps_show(args) -> int:
    from core.finetune import sweeps

    cli = _cli()
    store = cli._store()
    rows = sweeps.ranking(store, actor=cli._actor(args, store), sweep_id=args.id)
    if args.json:
        cli._print_json(rows)
    else:
        cli._print_table([{k: ("" if v is None else v) for k, v in row.items()} for row in rows])
    return 0


def cmd_worker(args) -> int:
    import logging

    from core.jobs import worker

    cli = _cli()
    logging.getLogger("workbench.worker").setLevel(logging.INFO)
    code = worker.run_worker(cli._store(), poll_s=args.poll, exit_when_idle=args.exit_when_idle)
    if code == 3:
        raise InvalidInput("Another worker already serves this workbench home.")
    return code


def _add_config_options(command) -> None:
    from core.finetune.config import FIELDS, PRESETS

    command.add_argument("--config", metavar="FILE", help="A saved config (JSON); options given here override it.")
    command.add_argument("--preset", choices=list(PRESETS), help="Start from a preset (quick check, balanced, quality).")
    for name, f in FIELDS.items():
        flag = "--base" if name == "base_model" else f"--{name.replace('_', '-')}"
        help_text = f.metadata.get("help", "")
        if f.default is not MISSING:
            help_text += f" Default: {f.default}."
        kwargs = {"dest": name, "default": None, "help": help_text}
        if f.type == "bool":
            kwargs["metavar"] = "true|false"
        elif f.metadata.get("choices"):
            kwargs["choices"] = list(f.metadata["choices"])
        else:
            kwargs["metavar"] = name.upper() if f.type == "str" else "N"
        aliases = [flag, "--base-model"] if name == "base_model" else [flag]
        command.add_argument(*aliases, **kwargs)


def register(commands, add) -> None:
    cli = _cli()
    finetune = commands.add_parser("finetune", help="LoRA / QLoRA fine-tunes.", description="LoRA / QLoRA fine-tunes.")
    sub = finetune.add_subparsers(dest="finetune_command", metavar="ACTION", parser_class=cli._Parser, required=True)
    run = add(sub, "run", cmd_finetune_run, "Check and queue a fine-tune (a worker is started if none runs).")
    _add_config_options(run)
    run.add_argument("--wait", action="store_true", help="Return when the job ends; exit 0 only if it succeeded.")
    check = add(sub, "check", cmd_finetune_check, "Pre-flight checks and estimates without launching.")
    _add_config_options(check)

    jobs = commands.add_parser("jobs", help="Fine-tuning jobs: list, show, logs, cancel, resume.",
                               description="Fine-tuning jobs: list, show, logs, cancel, resume.")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", parser_class=cli._Parser, required=True)
    listing = add(jobs_sub, "list", cmd_jobs_list, "List jobs, newest first, with who launched them.")
    listing.add_argument("--status", help="Only jobs in this state.")
    listing.add_argument("--by", metavar="USER", help="Only jobs this user launched.")
    for name, func, text in (("show", cmd_jobs_show, "Show one job."),
                             ("cancel", cmd_jobs_cancel, "Cancel a queued or running job (stops its processes)."),
                             ("resume", cmd_jobs_resume, "Queue an interrupted, failed or cancelled job again; it "
                                                         "continues from its last complete checkpoint.")):
        command = add(jobs_sub, name, func, text)
        command.add_argument("id", type=int)
        if name == "resume":
            command.add_argument("--wait", action="store_true", help="Return when the job ends.")
    logs = add(jobs_sub, "logs", cmd_jobs_logs, "Print a job's log.", json_flag=False)
    logs.add_argument("id", type=int)
    logs.add_argument("--tail", type=int, default=0, help="Only the last N lines.")

    sweeps = commands.add_parser("sweeps", help="Fine-tuning sweeps: many jobs over a search space.",
                                 description="Fine-tuning sweeps: many jobs over a search space.")
    sweeps_sub = sweeps.add_subparsers(dest="sweeps_command", metavar="ACTION", parser_class=cli._Parser, required=True)
    sweep_launch = add(sweeps_sub, "launch", cmd_sweeps_launch, "Queue a grid, random or Optuna (TPE) sweep.")
    _add_config_options(sweep_launch)
    sweep_launch.add_argument("--search", action="append", metavar="FIELD=SPEC", required=True,
                              help="A setting to vary: FIELD=V1,V2,... or FIELD=LOW:HIGH[:log]; repeatable.")
    sweep_launch.add_argument("--method", choices=["grid", "random", "optuna"], default="grid")
    sweep_launch.add_argument("--trials", type=int, default=8, help="Trials for random and optuna sweeps.")
    sweep_launch.add_argument("--parallel", type=int, default=2, help="Optuna trials in flight at once.")
    sweep_launch.add_argument("--sweep-seed", type=int, default=0, help="Seed of the random or TPE draws.")
    sweep_show = add(sweeps_sub, "show", cmd_sweeps_show, "A sweep's trials, best evaluation loss first.")
    sweep_show.add_argument("id")

    worker = add(commands, "worker", cmd_worker, "Run the job worker in the foreground (the app starts one too).",
                 json_flag=False)
    worker.add_argument("--exit-when-idle", action="store_true", help="Stop when no job is queued or running.")
    worker.add_argument("--poll", type=float, default=1.0, help="Seconds between looks at the queue.")
