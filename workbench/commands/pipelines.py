"""`workbench pipelines ...`: save, list, show, run and delete prompt pipelines; list and export their runs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from core.errors import InvalidInput


def _cli():
    from workbench import cli

    return cli


def _read_definition(path: str) -> tuple[list, str | None]:
    """A JSON file holding a list of steps, or an object {"description": ..., "steps": [...]}."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"{path} is not a file.")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    if isinstance(data, dict):
        if "steps" not in data:
            raise InvalidInput(f"{path} holds an object without 'steps'; write a list of steps, or an object with "
                               "'steps' and an optional 'description'.")
        description = data.get("description")
        return data["steps"], description if isinstance(description, str) else None
    return data, None


def cmd_save(args) -> int:
    from core import pipelines

    cli = _cli()
    steps, description = _read_definition(args.file)
    store = cli._store()
    info, changed = pipelines.save_pipeline(store, actor=cli._actor(args, store), name=args.name, steps=steps,
                                            description=args.description if args.description is not None else description)
    if args.json:
        cli._print_json({**info.to_dict(), "changed": changed})
    else:
        verb = "Saved" if changed else "No change to"
        print(f"{verb} pipeline {info.name}: {' -> '.join(s.name for s in info.steps)}")
    return 0


def cmd_list(args) -> int:
    from core import pipelines

    cli = _cli()
    store = cli._store()
    found = pipelines.list_pipelines(store, actor=cli._actor(args, store))
    if args.json:
        cli._print_json([p.to_dict() for p in found])
    elif not found:
        print("No pipeline yet; save one with `workbench pipelines save NAME --file steps.json`.")
    else:
        cli._print_table([{"name": p.name, "steps": " -> ".join(s.name for s in p.steps), "runs": p.runs,
                           "updated": p.updated_at.strftime("%Y-%m-%d %H:%M"), "by": p.updated_by} for p in found])
    return 0


def cmd_show(args) -> int:
    from core import pipelines

    cli = _cli()
    store = cli._store()
    info = pipelines.get_pipeline(store, actor=cli._actor(args, store), name=args.name)
    if args.json:
        cli._print_json(info.to_dict())
        return 0
    print(f"{info.name}: {info.description or '(no description)'}")
    print(f"updated {info.updated_at:%Y-%m-%d %H:%M} UTC by {info.updated_by}; {info.runs} run(s)")
    for n, step in enumerate(info.steps, start=1):
        if step.kind == "generate":
            inputs = ", ".join(f"{k}={v}" for k, v in step.inputs.items())
            extra = (f"; settings {json.dumps(step.settings)}" if step.settings else "") + \
                    ("; numeric" if step.numeric else "")
            print(f"{n}. {step.name} [generate] {step.template} on {step.model} ({inputs}){extra}")
        else:
            reference = f" against {step.reference}" if step.reference else ""
            print(f"{n}. {step.name} [metric] {step.metric} of {step.output}{reference}")
    return 0


def _figures_rows(run) -> list[dict]:
    rows = []
    for name in run.step_names:
        f = run.step_figures(name)
        if f.get("kind") == "generate":
            detail = (f"{f['answered']} answered, mean {_num(f.get('mean_tokens_out'))} tokens out, "
                      f"{_num(f.get('tokens_per_s'))} tokens/s, {_num(f.get('latency_s'))} s")
            if "mean_value" in f:
                detail += f", mean value {_num(f.get('mean_value'))}"
        elif f.get("kind") == "metric":
            detail = f"mean {f.get('label', f.get('metric'))} {_num(f.get('mean_value'))} over {f.get('values', 0)} rows"
        else:
            detail = "not run"
        rows.append({"step": name, "errors": f.get("errors", ""), "figures": detail})
    return rows


def _num(value) -> str:
    return "-" if value is None else f"{value:,.2f}"


def cmd_run(args) -> int:
    from core import pipelines
    from core.inference.generate import GenerationSettings
    from core.jobs import actions
    from core.pipelines import jobs
    from workbench.commands.jobs import print_submitted, wait_and_print
    from workbench.commands.options import from_options

    cli = _cli()
    settings = from_options(args, GenerationSettings)
    store = cli._store()
    actor = cli._actor(args, store)
    job = jobs.submit_pipeline_run(store, actor=actor, name=args.name, dataset_version=args.dataset, rows=args.rows,
                                   settings=settings)
    if not args.wait:
        print_submitted(job, args.json)
        return 0
    if not args.json and sys.stderr.isatty():
        wait_and_print(store, actor, job, as_json=False)
    else:
        actions.wait(store, actor=actor, job_id=job.id)
    run = pipelines.run_of_job(store, actor=actor, job_id=job.id)
    if run is None:
        done = actions.get(store, actor=actor, job_id=job.id)
        raise InvalidInput(f"Pipeline job {job.id} {done.status} before it started: {done.error or 'no reason given'}")
    if args.json:
        cli._print_json(run.to_dict(with_outputs=True))
    else:
        print(f"Run {run.id} of {run.pipeline} over {run.rows} row(s) of {run.dataset_version}: {run.status}"
              + (f" ({run.error})" if run.error else ""))
        cli._print_table(_figures_rows(run))
        print(f"Export the cells with `workbench pipelines export {run.id} --format csv --out FILE`.")
    return 0 if run.status == "succeeded" else 1


def cmd_runs(args) -> int:
    from core import pipelines

    cli = _cli()
    store = cli._store()
    found = pipelines.list_runs(store, actor=cli._actor(args, store), name=args.name, limit=args.limit)
    if args.json:
        cli._print_json([r.to_dict() for r in found])
    elif not found:
        print("No run yet; start one with `workbench pipelines run NAME --dataset NAME@N --rows K`.")
    else:
        cli._print_table([{"id": r.id, "pipeline": r.pipeline, "dataset": r.dataset_version, "rows": r.rows,
                           "status": r.status, "started": r.created_at.strftime("%Y-%m-%d %H:%M"), "by": r.created_by}
                          for r in found])
    return 0


def cmd_export(args) -> int:
    from core import pipelines

    cli = _cli()
    store = cli._store()
    actor = cli._actor(args, store)
    run = pipelines.get_run(store, actor=actor, run_id=args.run_id)
    content = pipelines.export_run(run, args.format, inputs=pipelines.run_inputs(store, actor=actor, run=run))
    out = Path(args.out)
    if not out.parent.is_dir():
        raise InvalidInput(f"The folder {out.parent} does not exist.")
    out.write_bytes(content)
    result = {"run": run.id, "format": args.format, "path": str(out), "rows": run.rows}
    cli._print_json(result) if args.json else print(f"Wrote {run.rows:,} rows of run {run.id} to {out}")
    return 0


def cmd_delete(args) -> int:
    from core import pipelines

    cli = _cli()
    store = cli._store()
    removed = pipelines.delete_pipeline(store, actor=cli._actor(args, store), name=args.name)
    if args.json:
        cli._print_json(removed.to_dict())
    else:
        print(f"Deleted pipeline {removed.name}" + (f" and its {removed.runs} run(s)." if removed.runs else "."))
    return 0


def register(commands, add) -> None:
    from workbench.cli import _Parser

    group = commands.add_parser("pipelines", help="Prompt pipelines: chained generate and metric steps.",
                                description="Prompt pipelines: chained steps where one step's output fills the next "
                                            "step's variable, run over a dataset version.")
    sub = group.add_subparsers(dest="pipelines_command", metavar="ACTION", parser_class=_Parser, required=True)
    save = add(sub, "save", cmd_save, "Save (create or replace) a pipeline from a JSON file of steps.")
    save.add_argument("name")
    save.add_argument("--file", required=True, help="JSON: a list of steps, or {\"description\": ..., \"steps\": [...]}; "
                                                    "each step {\"name\", \"kind\": \"generate\", \"template\": "
                                                    "\"NAME@V\", \"model\", \"inputs\": {\"var\": \"column:C\" or "
                                                    "\"step:S\"}} or {\"name\", \"kind\": \"metric\", \"metric\", "
                                                    "\"output\": \"step:S\"}.")
    save.add_argument("--description", help="Replaces the file's description.")
    add(sub, "list", cmd_list, "List saved pipelines.")
    show = add(sub, "show", cmd_show, "Show a pipeline's steps.")
    show.add_argument("name")
    run = add(sub, "run", cmd_run, "Submit a pipeline run over the first rows of a dataset version as a job; with --wait, exit 1 "
                                     "when a step failed.")
    run.add_argument("name")
    run.add_argument("--dataset", required=True, metavar="NAME[@VERSION]", help="Dataset version to run over.")
    run.add_argument("--rows", type=int, default=20, help="First rows to run (1-500).")
    from core.inference.generate import GenerationSettings
    from workbench.commands.options import add_options

    add_options(run, GenerationSettings)  # each generate step may override them
    run.add_argument("--wait", action="store_true", help="Return when the run has ended and print its figures "
                                                         "(without it, print the job and return at once).")
    runs = add(sub, "runs", cmd_runs, "List runs, newest first (of one pipeline when named).")
    runs.add_argument("name", nargs="?")
    runs.add_argument("--limit", type=int, default=50)
    export = add(sub, "export", cmd_export, "Export a run's cells side by side; CSV neutralises formulas.")
    export.add_argument("run_id", type=int, metavar="RUN_ID")
    export.add_argument("--format", required=True, choices=["csv", "jsonl"])
    export.add_argument("--out", required=True, help="File to write.")
    delete = add(sub, "delete", cmd_delete, "Delete a pipeline with its runs (the audit log keeps the definition).")
    delete.add_argument("name")
