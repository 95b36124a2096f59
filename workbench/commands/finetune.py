"""`workbench finetune run|check`, `workbench sweeps launch|show` (jobs themselves: workbench/commands/jobs.py).

Every FinetuneConfig field is an option of the same name in kebab case (`--learning-rate 2e-4`), with the
field's help text; `--config FILE` takes a saved config and options given on the line override it.
"""
from __future__ import annotations

from core.errors import InvalidInput
from workbench.commands.context import add_group, print_table
from workbench.commands.options import add_options, given_options


def _config_from(args):
    from core.finetune.config import FinetuneConfig, from_preset

    given = given_options(args, FinetuneConfig)
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


def cmd_finetune_run(ctx) -> int:
    from core.finetune import launch

    config = _config_from(ctx.args)
    job = launch.launch(ctx.store, actor=ctx.actor, config=config)
    if ctx.args.wait:
        return _wait(ctx.store, ctx.actor, job, ctx.json)
    _print_job(job, ctx.json)
    return 0


def cmd_finetune_check(ctx) -> int:
    from core.finetune import preflight

    config = _config_from(ctx.args)
    result = preflight.run(ctx.store, actor=ctx.actor, config=config, measure=True)

    def text() -> None:
        for check in result.checks:
            print(f"{check.level}: {check.message}")
        if result.estimate:
            e = result.estimate
            print(f"estimate: {e['steps']:,} steps, about {e['minutes']} minutes and {e['memory_gb']} GiB "
                  f"(assumes {e['assumes']})")
        print("ready to launch" if result.ok else "not launchable: fix the errors above")

    ctx.show(result.to_dict(), text)
    return 0 if result.ok else 2


def cmd_sweeps_launch(ctx) -> int:
    from core.finetune import sweeps

    args = ctx.args
    config = _config_from(args)
    dimensions = [sweeps.parse_dimension(text) for text in args.search or ()]
    sweep = sweeps.launch_sweep(ctx.store, actor=ctx.actor, base=config, dimensions=dimensions,
                                method=args.method, trials=args.trials, parallel=args.parallel, seed=args.sweep_seed)
    return ctx.show(sweep, f"Sweep {sweep['id']} ({sweep['method']}, {sweep['trials']} trials) queued; follow it "
                           f"with `workbench sweeps show {sweep['id']}`.")


def cmd_sweeps_show(ctx) -> int:
    from core.finetune import sweeps

    rows = sweeps.ranking(ctx.store, actor=ctx.actor, sweep_id=ctx.args.id)
    return ctx.show(rows, lambda: print_table([{k: ("" if v is None else v) for k, v in row.items()} for row in rows]))


def _add_config_options(command) -> None:
    """--config, --preset and one option per FinetuneConfig field (values stay text: FinetuneConfig.from_dict
    converts them as it converts a config file's, with the same sentences)."""
    from core.finetune.config import PRESETS, FinetuneConfig

    command.add_argument("--config", metavar="FILE", help="A saved config (JSON); options given here override it.")
    command.add_argument("--preset", choices=list(PRESETS), help="Start from a preset (quick check, balanced, quality).")
    add_options(command, FinetuneConfig, flags={"base_model": ("--base", "--base-model")}, typed=False)


def register(commands, add) -> None:
    sub = add_group(commands, "finetune", "LoRA / QLoRA fine-tunes.")
    run = add(sub, "run", cmd_finetune_run, "Check and queue a fine-tune (a worker is started if none runs).")
    _add_config_options(run)
    run.add_argument("--wait", action="store_true", help="Return when the job ends; exit 0 only if it succeeded.")
    check = add(sub, "check", cmd_finetune_check, "Pre-flight checks and estimates without launching.")
    _add_config_options(check)

    sweeps_sub = add_group(commands, "sweeps", "Fine-tuning sweeps: many jobs over a search space.")
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
