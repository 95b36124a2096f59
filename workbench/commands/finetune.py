"""`workbench finetune run|check`, `workbench sweeps launch|show` (jobs themselves: workbench/commands/jobs.py).

Every FinetuneConfig field is an option of the same name in kebab case (`--learning-rate 2e-4`), with the
field's help text; `--config FILE` takes a saved config and options given on the line override it.
"""
from __future__ import annotations

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
    from workbench.commands.jobs import print_job

    print_job(job, as_json)


def _wait(store, actor, job, as_json: bool) -> int:
    from workbench.commands.jobs import wait_and_print

    return wait_and_print(store, actor, job, as_json)


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
    result = preflight.run(store, actor=cli._actor(args, store), config=config, measure=True)
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


def _add_config_options(command) -> None:
    from core.finetune.config import FIELDS, PRESETS

    command.add_argument("--config", metavar="FILE", help="A saved config (JSON); options given here override it.")
    command.add_argument("--preset", choices=list(PRESETS), help="Start from a preset (quick check, balanced, quality).")
    for name, f in FIELDS.items():
        flag = f.metadata.get("flag") or ("--base" if name == "base_model" else f"--{name.replace('_', '-')}")
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
