"""`workbench compare ...`: run a grid of prompt versions x models, list, show and export saved runs."""
from __future__ import annotations

import sys

from core.errors import InvalidInput
from workbench.commands.context import add_group, print_json, print_table


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{flag} takes NAME=VALUE; '{value}' has no '='.")
        pairs[key.strip()] = rest
    return pairs


def _typed_inputs(args, store, actor) -> list[dict]:
    """Rows from --input (one row each, filling the one variable --var leaves open) and --var (every row)."""
    from core.prompts import templates

    given = _pairs(args.var, "--var")
    if not args.input:
        return [given]
    needed: list[str] = []
    for ref in args.prompt:
        for name in templates.get_version(store, actor=actor, ref=ref).variables:
            if name not in needed and name not in given:
                needed.append(name)
    if len(needed) != 1:
        open_names = ", ".join(needed) or "none"
        raise InvalidInput(f"--input fills the one variable that --var leaves open, but the prompts leave {len(needed)} "
                           f"open ({open_names}); give the others with --var NAME=VALUE.")
    return [{**given, needed[0]: text} for text in args.input]


def _summary_rows(report) -> list[dict]:
    rows = []
    for row in report.to_dict()["columns"]:
        shown = {"column": row["column"], "cells": row["cells"]}
        if report.metric:
            shown[report.metric] = "" if row.get(report.metric) is None else f"{row[report.metric]:.3g}"
            shown["wins"] = row["wins"]
        shown["latency_s"] = "" if row["mean_latency_s"] is None else f"{row['mean_latency_s']:.2f}"
        shown["tokens/s"] = "" if row["mean_tokens_per_s"] is None else f"{row['mean_tokens_per_s']:.1f}"
        shown["cost_usd"] = f"{row['cost_usd']:.4f}"
        rows.append(shown)
    return rows


def _print_run(run, as_json: bool) -> None:
    from core.compare import runs

    report = runs.summary(run)
    if as_json:
        print_json({"run": run.to_dict(), "summary": report.to_dict(), "cells": [c.to_dict() for c in run.cells]})
        return
    print(f"Run {run.id}: {run.name}")
    print(f"  {run.status} · {run.source} · by {run.created_by} on {run.created_at:%Y-%m-%d %H:%M} UTC")
    if run.error:
        print(f"  error: {run.error}")
    print_table(_summary_rows(report))
    for cell in run.cells:
        print(f"\n[{cell.label}]")
        print(cell.output or "")


def _selection(args):
    from core.compare import runs

    picked = [flag for flag, given in (("--sample-seed", args.sample_seed is not None), ("--where", bool(args.where)),
                                       ("--row-numbers", bool(args.row_numbers))) if given]
    if len(picked) > 1:
        raise InvalidInput(f"Choose one way to pick rows: {' or '.join(picked)}, not several.")
    if not picked:
        return None
    if args.where:
        column, sep, text = args.where.partition("~")
        if not sep or not column.strip():
            raise InvalidInput(f"--where takes COLUMN~TEXT (rows whose COLUMN contains TEXT); got '{args.where}'.")
        return runs.RowSelection(rows=args.rows, filter_column=column.strip(), filter_text=text)
    if args.row_numbers:
        return runs.RowSelection(row_numbers=runs.parse_row_numbers(args.row_numbers))
    return runs.RowSelection(rows=args.rows, sample_seed=args.sample_seed)


def cmd_compare_run(ctx) -> int:
    from core.compare import jobs, runs
    from core.inference.generate import GenerationSettings
    from workbench.commands.jobs import print_submitted, wait_and_print
    from workbench.commands.options import from_options

    args = ctx.args
    if args.dataset and (args.input or args.var):
        raise InvalidInput("Give typed input (--input/--var) or --dataset, not both.")
    if not args.dataset and (args.rows is not None or args.map or args.sample_seed is not None or args.where
                             or args.row_numbers):
        raise InvalidInput("--rows, --map, --sample-seed, --where and --row-numbers go with --dataset.")
    if not args.dataset and not args.input and not args.var:
        raise InvalidInput("Give the input: --input TEXT, --var NAME=VALUE, or --dataset NAME@N --rows K.")
    settings = from_options(args, GenerationSettings)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics is not None else None
    store, actor = ctx.store, ctx.actor
    common = dict(prompts=args.prompt, models=args.model, reference_column=args.reference, settings=settings,
                  metrics=metrics, name=args.name)
    if args.dataset:
        selection = _selection(args)
        rows = None if selection is not None and selection.row_numbers else args.rows
        job = jobs.submit_comparison(store, actor=actor, dataset_version=args.dataset, rows=rows,
                                     variable_map=_pairs(args.map, "--map"), selection=selection, **common)
    else:
        job = jobs.submit_comparison(store, actor=actor, inputs=_typed_inputs(args, store, actor), **common)
    if not args.wait:
        print_submitted(job, args.json)
        return 0
    if not args.json and sys.stderr.isatty():
        code = wait_and_print(store, actor, job, as_json=False)
    else:
        from core.jobs import actions

        done = actions.wait(store, actor=actor, job_id=job.id)
        code = 0 if done.status == "succeeded" else 1
    run = runs.run_of_job(store, actor=actor, job_id=job.id)
    if run is None:
        from core.jobs import queue

        done = queue.get_job(store, actor=actor, job_id=job.id)
        raise InvalidInput(f"Comparison job {job.id} {done.status} before it started: {done.error or 'no reason given'}")
    _print_run(run, args.json)
    return code


def cmd_compare_list(ctx) -> int:
    from core.compare import runs

    found = runs.list_runs(ctx.store, actor=ctx.actor)
    return ctx.table([r.to_dict() for r in found],
                     [{"id": r.id, "name": r.name if len(r.name) <= 60 else r.name[:59] + "…", "status": r.status,
                       "columns": len(r.prompts) * len(r.models), "rows": r.rows, "by": r.created_by,
                       "created": r.created_at.strftime("%Y-%m-%d %H:%M")} for r in found],
                     empty="No comparison run yet; start one with `workbench compare run --prompt NAME@V --model NAME "
                           "--input TEXT`.")


def cmd_compare_show(ctx) -> int:
    from core.compare import runs

    _print_run(runs.get_run(ctx.store, actor=ctx.actor, run_id=ctx.args.id), ctx.json)
    return 0


def cmd_compare_export(ctx) -> int:
    from pathlib import Path

    from core.compare import runs
    from core.files import write_atomically

    args = ctx.args
    out = Path(args.out)
    if not out.parent.exists():
        raise InvalidInput(f"The folder {out.parent} does not exist.")
    content, _ = runs.export_bytes(ctx.store, actor=ctx.actor, run_id=args.id, fmt=args.format)
    write_atomically(out, content)
    return ctx.show({"run_id": int(str(args.id).lstrip("#")), "format": args.format, "path": str(out),
                     "bytes": len(content)}, f"Wrote run {args.id} as {args.format.upper()} to {out}")


def cmd_compare_delete(ctx) -> int:
    from core.compare import runs

    run = runs.delete_run(ctx.store, actor=ctx.actor, run_id=ctx.args.id)
    return ctx.show(run.to_dict(), f"Deleted run {run.id} ({run.name}).")


def register(commands, add) -> None:
    sub = add_group(commands, "compare", "Compare prompt versions x models on typed input or dataset rows.")
    run = add(sub, "run", cmd_compare_run, "Submit a comparison job: every prompt version with every model on the "
                                           "input, saved as a grid with latency, tokens, cost and scores.")
    run.add_argument("--prompt", action="append", required=True, metavar="NAME@V",
                     help="Prompt version (NAME, NAME@VERSION or NAME@LABEL); repeatable.")
    run.add_argument("--model", action="append", required=True, metavar="NAME", help="Registered chat model; repeatable.")
    run.add_argument("--input", action="append", metavar="TEXT",
                     help="Value of the prompts' one open variable; repeatable, one input row each.")
    run.add_argument("--var", action="append", metavar="NAME=VALUE", help="A template variable's value; repeatable.")
    run.add_argument("--dataset", metavar="NAME@N", help="Dataset version whose rows are the inputs.")
    run.add_argument("--rows", type=int, help="How many rows of the dataset version, from the first (default 20, at most 500).")
    run.add_argument("--map", action="append", metavar="VAR=COLUMN",
                     help="Read a template variable from a differently named column; repeatable.")
    run.add_argument("--reference", metavar="COLUMN", help="Column (or --var name) holding the reference answer; "
                                                           "turns on BLEU, chrF, ROUGE and exact match.")
    run.add_argument("--metrics", metavar="A,B", help="Comma-separated metrics (default: the reference metrics when "
                                                      "there is a reference, plus length_words and readability).")
    run.add_argument("--sample-seed", type=int, metavar="SEED",
                     help="A seeded random sample of --rows rows instead of the first ones.")
    run.add_argument("--where", metavar="COLUMN~TEXT", help="Only rows whose COLUMN contains TEXT (the first --rows).")
    run.add_argument("--row-numbers", metavar="1,4,10-12", help="These rows (numbered from 1), in this order.")
    run.add_argument("--name", help="Name of the run (default: prompts x models on the input).")
    run.add_argument("--wait", action="store_true", help="Return when the comparison has ended and print the grid "
                                                         "(without it, print the job and return at once).")
    from core.inference.generate import GenerationSettings
    from workbench.commands.options import add_options

    add_options(run, GenerationSettings)  # --max-new-tokens, --temperature, --top-p, --seed, --stop, --batch-size
    add(sub, "list", cmd_compare_list, "List saved comparison runs, newest first.")
    show = add(sub, "show", cmd_compare_show, "Show a saved run: summary per column and every output.")
    show.add_argument("id", metavar="ID")
    export = add(sub, "export", cmd_compare_export, "Export a run's cells as CSV (formulas neutralised) or JSONL "
                                                    "(one object per cell with every setting).")
    export.add_argument("id", metavar="ID")
    export.add_argument("--format", required=True, choices=["csv", "jsonl"])
    export.add_argument("--out", required=True, help="File to write.")
    delete = add(sub, "delete", cmd_compare_delete, "Delete a run and its cells (its creator or an admin).")
    delete.add_argument("id", metavar="ID")
