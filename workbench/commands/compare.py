"""`workbench compare ...`: run a grid of prompt versions x models, list, show and export saved runs."""
from __future__ import annotations

import sys

from core.errors import InvalidInput


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
    from workbench.cli import _print_json, _print_table

    report = runs.summary(run)
    if as_json:
        _print_json({"run": run.to_dict(), "summary": report.to_dict(), "cells": [c.to_dict() for c in run.cells]})
        return
    print(f"Run {run.id}: {run.name}")
    print(f"  {run.status} · {run.source} · by {run.created_by} on {run.created_at:%Y-%m-%d %H:%M} UTC")
    if run.error:
        print(f"  error: {run.error}")
    _print_table(_summary_rows(report))
    for cell in run.cells:
        print(f"\n[{cell.label}]")
        print(cell.output or "")


def cmd_compare_run(args) -> int:
    from core.compare import runs
    from core.inference.generate import GenerationSettings
    from workbench.cli import _actor, _store

    if args.dataset and (args.input or args.var):
        raise InvalidInput("Give typed input (--input/--var) or --dataset, not both.")
    if not args.dataset and (args.rows is not None or args.map):
        raise InvalidInput("--rows and --map go with --dataset.")
    if not args.dataset and not args.input and not args.var:
        raise InvalidInput("Give the input: --input TEXT, --var NAME=VALUE, or --dataset NAME@N --rows K.")
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                                  seed=args.seed, stop=tuple(args.stop or ()))
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics is not None else None
    store = _store()
    actor = _actor(args, store)
    progress = None if args.json or not sys.stderr.isatty() else \
        (lambda done, total: print(f"\r{done}/{total} cells", end="", file=sys.stderr, flush=True))
    common = dict(prompts=args.prompt, models=args.model, reference_column=args.reference, settings=settings,
                  metrics=metrics, name=args.name, progress=progress)
    if args.dataset:
        run = runs.run_comparison(store, actor=actor, dataset_version=args.dataset, rows=args.rows,
                                  variable_map=_pairs(args.map, "--map"), **common)
    else:
        run = runs.run_comparison(store, actor=actor, inputs=_typed_inputs(args, store, actor), **common)
    if progress:
        print(file=sys.stderr)
    _print_run(run, args.json)
    return 0


def cmd_compare_list(args) -> int:
    from core.compare import runs
    from workbench.cli import _actor, _print_json, _print_table, _store

    store = _store()
    found = runs.list_runs(store, actor=_actor(args, store))
    if args.json:
        _print_json([r.to_dict() for r in found])
    elif not found:
        print("No comparison run yet; start one with `workbench compare run --prompt NAME@V --model NAME --input TEXT`.")
    else:
        _print_table([{"id": r.id, "name": r.name if len(r.name) <= 60 else r.name[:59] + "…", "status": r.status,
                       "columns": len(r.prompts) * len(r.models), "rows": r.rows, "by": r.created_by,
                       "created": r.created_at.strftime("%Y-%m-%d %H:%M")} for r in found])
    return 0


def cmd_compare_show(args) -> int:
    from core.compare import runs
    from workbench.cli import _actor, _store

    store = _store()
    _print_run(runs.get_run(store, actor=_actor(args, store), run_id=args.id), args.json)
    return 0


def cmd_compare_export(args) -> int:
    from pathlib import Path

    from core.compare import runs
    from core.files import write_atomically
    from workbench.cli import _actor, _print_json, _store

    out = Path(args.out)
    if not out.parent.exists():
        raise InvalidInput(f"The folder {out.parent} does not exist.")
    store = _store()
    content, _ = runs.export_bytes(store, actor=_actor(args, store), run_id=args.id, fmt=args.format)
    write_atomically(out, content)
    if args.json:
        _print_json({"run_id": int(str(args.id).lstrip("#")), "format": args.format, "path": str(out),
                     "bytes": len(content)})
    else:
        print(f"Wrote run {args.id} as {args.format.upper()} to {out}")
    return 0


def cmd_compare_delete(args) -> int:
    from core.compare import runs
    from workbench.cli import _actor, _print_json, _store

    store = _store()
    run = runs.delete_run(store, actor=_actor(args, store), run_id=args.id)
    _print_json(run.to_dict()) if args.json else print(f"Deleted run {run.id} ({run.name}).")
    return 0


def register(commands, add) -> None:
    from workbench.cli import _Parser

    compare = commands.add_parser("compare", help="Compare prompt versions x models on typed input or dataset rows.",
                                  description="Compare prompt versions x models on typed input or dataset rows.")
    sub = compare.add_subparsers(dest="compare_command", metavar="ACTION", parser_class=_Parser, required=True)
    run = add(sub, "run", cmd_compare_run, "Run every prompt version with every model on the input and save the grid "
                                           "with latency, tokens, cost and scores.")
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
    run.add_argument("--name", help="Name of the run (default: prompts x models on the input).")
    run.add_argument("--max-new-tokens", type=int, default=128)
    run.add_argument("--temperature", type=float, default=0.0, help="0 means greedy decoding.")
    run.add_argument("--top-p", type=float, default=1.0)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--stop", action="append", help="A string that ends an answer; repeatable.")
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
