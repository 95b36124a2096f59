"""`workbench pipelines ...`: save, list, show, run and delete prompt pipelines; list and export their runs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from core.errors import InvalidInput
from workbench.commands.context import add_group, print_table


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


def cmd_save(ctx) -> int:
    from core import pipelines

    args = ctx.args
    steps, description = _read_definition(args.file)
    info, changed = pipelines.save_pipeline(ctx.store, actor=ctx.actor, name=args.name, steps=steps,
                                            description=args.description if args.description is not None else description)
    return ctx.show({**info.to_dict(), "changed": changed},
                    f"{'Saved' if changed else 'No change to'} pipeline {info.name}: "
                    f"{' -> '.join(s.name for s in info.steps)}")


def cmd_list(ctx) -> int:
    from core import pipelines

    found = pipelines.list_pipelines(ctx.store, actor=ctx.actor)
    return ctx.table([p.to_dict() for p in found],
                     [{"name": p.name, "steps": " -> ".join(s.name for s in p.steps), "runs": p.runs,
                       "updated": p.updated_at.strftime("%Y-%m-%d %H:%M"), "by": p.updated_by} for p in found],
                     empty="No pipeline yet; save one with `workbench pipelines save NAME --file steps.json`.")


def cmd_show(ctx) -> int:
    from core import pipelines

    info = pipelines.get_pipeline(ctx.store, actor=ctx.actor, name=ctx.args.name)
    if ctx.json:
        return ctx.show(info.to_dict())
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


def cmd_run(ctx) -> int:
    from core import pipelines
    from core.inference.generate import GenerationSettings
    from core.jobs import actions
    from core.pipelines import jobs
    from workbench.commands.jobs import print_submitted, wait_and_print
    from workbench.commands.options import from_options

    args = ctx.args
    settings = from_options(args, GenerationSettings)
    store, actor = ctx.store, ctx.actor
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
    def text() -> None:
        print(f"Run {run.id} of {run.pipeline} over {run.rows} row(s) of {run.dataset_version}: {run.status}"
              + (f" ({run.error})" if run.error else ""))
        print_table(_figures_rows(run))
        print(f"Export the cells with `workbench pipelines export {run.id} --format csv --out FILE`.")

    ctx.show(run.to_dict(with_outputs=True), text)
    return 0 if run.status == "succeeded" else 1


def cmd_runs(ctx) -> int:
    from core import pipelines

    found = pipelines.list_runs(ctx.store, actor=ctx.actor, name=ctx.args.name, limit=ctx.args.limit)
    return ctx.table([r.to_dict() for r in found],
                     [{"id": r.id, "pipeline": r.pipeline, "dataset": r.dataset_version, "rows": r.rows,
                       "status": r.status, "started": r.created_at.strftime("%Y-%m-%d %H:%M"), "by": r.created_by}
                      for r in found],
                     empty="No run yet; start one with `workbench pipelines run NAME --dataset NAME@N --rows K`.")


def cmd_export(ctx) -> int:
    from core import pipelines

    args, store, actor = ctx.args, ctx.store, ctx.actor
    run = pipelines.get_run(store, actor=actor, run_id=args.run_id)
    content = pipelines.export_run(run, args.format, inputs=pipelines.run_inputs(store, actor=actor, run=run))
    out = Path(args.out)
    if not out.parent.is_dir():
        raise InvalidInput(f"The folder {out.parent} does not exist.")
    out.write_bytes(content)
    return ctx.show({"run": run.id, "format": args.format, "path": str(out), "rows": run.rows},
                    f"Wrote {run.rows:,} rows of run {run.id} to {out}")


def cmd_delete(ctx) -> int:
    from core import pipelines

    removed = pipelines.delete_pipeline(ctx.store, actor=ctx.actor, name=ctx.args.name)
    return ctx.show(removed.to_dict(), f"Deleted pipeline {removed.name}"
                    + (f" and its {removed.runs} run(s)." if removed.runs else "."))


def register(commands, add) -> None:
    sub = add_group(commands, "pipelines", "Prompt pipelines: chained generate and metric steps.",
                    description="Prompt pipelines: chained steps where one step's output fills the next step's "
                                "variable, run over a dataset version.")
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
