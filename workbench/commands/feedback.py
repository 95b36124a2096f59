"""`workbench feedback ...`: annotation projects, an annotator's queue and ratings, results, reviews and exports."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from core.errors import InvalidInput, WorkbenchError
from workbench.commands import context
from workbench.commands.generate import read_jsonl_objects



def _time(text: str | None, what: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what} '{text}' is not a date or time; write e.g. 2026-11-01 or 2026-11-01T12:00.") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _source(args):
    from core.feedback import sources

    chosen = [name for name, given in (("--dataset", args.dataset), ("--comparison", args.comparison),
                                       ("--events", args.events)) if given]
    if len(chosen) != 1:
        raise InvalidInput("Give one source: --dataset NAME[@V], --comparison RUN_ID or --events.")
    if args.dataset:
        return sources.DatasetSource(ref=args.dataset, prompt_column=args.prompt_column,
                                     response_columns=tuple(args.response_column or ()),
                                     messages_column=args.messages_column, model_column=args.model_column,
                                     rows=args.rows, seed=args.seed)
    if args.comparison:
        text = str(args.comparison).lstrip("#")
        if not text.isdigit():
            raise InvalidInput(f"'{args.comparison}' is not a comparison run id (see `workbench compare list`).")
        return sources.ComparisonSource(run_id=int(text), pairs=args.pairs, columns=tuple(args.column or ()))
    where = {}
    for entry in args.where or ():
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"'{entry}' is not a metadata filter; write --where KEY=VALUE.")
        where[key.strip()] = value
    return sources.EventSource(since=_time(args.since, "--since"), until=_time(args.until, "--until"),
                               deployment=args.deployment, model=args.model, where=where,
                               limit=args.rows or 100, stratify=args.stratify, seed=args.seed)


def _questions(args):
    from core.feedback.schema import Question, parse_question

    questions = [parse_question(spec) for spec in args.question or ()]
    if args.questions_file:
        try:
            data = json.loads(Path(args.questions_file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{args.questions_file} is not a readable JSON list of questions ({exc}).") from None
        if not isinstance(data, list):
            raise InvalidInput(f"{args.questions_file} must hold a JSON list of question objects.")
        questions += [Question.from_dict(q) for q in data]
    return questions


def cmd_create(args) -> int:
    from core.feedback import projects

    guidelines = None
    if args.guidelines:
        try:
            guidelines = Path(args.guidelines).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"The guidelines file {args.guidelines} cannot be read ({exc}).") from None
    if args.per_item is not None and args.overlap is not None:
        raise InvalidInput("Give --per-item or --overlap, not both.")
    store = context.open_store()
    project = projects.create_project(
        store, actor=context.actor_of(args, store), name=args.name, source=_source(args), questions=_questions(args),
        annotators=[a for a in (args.annotators or "").split(",") if a.strip()], per_item=args.per_item or 1,
        overlap=args.overlap, guidelines=guidelines, description=args.description, allow_markdown=args.markdown,
        seed=args.seed)
    if args.json:
        context.print_json({"project": project.name, "items": project.items, "id": project.id,
                         "annotators": project.annotators})
    else:
        print(f"Created project {project.name}: {project.items} items for {', '.join(project.annotators)}.")
    return 0


def cmd_generate(args) -> int:
    """Two models answer a sample of prompts as a job; the project appears when it ends (--wait waits for it)."""
    from core.feedback import jobs
    from core.inference.generate import GenerationSettings
    from core.jobs import actions, queue
    from workbench.commands.jobs import print_submitted, wait_and_print
    from workbench.commands.options import from_options

    if args.per_item is not None and args.overlap is not None:
        raise InvalidInput("Give --per-item or --overlap, not both.")
    variable_map = {}
    for entry in args.map or ():
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--map takes VAR=COLUMN; '{entry}' has no '='.")
        variable_map[key.strip()] = value.strip()
    questions = _questions(args) or [parse_default_question()]
    store = context.open_store()
    actor = context.actor_of(args, store)
    request = jobs.GenerateRequest(
        name=args.name, models=tuple(args.model or ()), dataset_version=args.dataset, questions=tuple(questions),
        annotators=tuple(a for a in (args.annotators or "").split(",") if a.strip()),
        prompt_column=args.prompt_column, prompt=args.prompt, variable_map=variable_map, rows=args.rows,
        seed=args.seed, settings=from_options(args, GenerationSettings, seed=args.seed),
        per_item=args.per_item or 1, overlap=args.overlap, guidelines=_guidelines(args),
        description=args.description, allow_markdown=args.markdown)
    job = jobs.submit(store, actor=actor, request=request)
    if not args.wait:
        print_submitted(job, args.json)
        return 0
    if not args.json and sys.stderr.isatty():
        wait_and_print(store, actor, job, as_json=False)
    done = actions.wait(store, actor=actor, job_id=job.id)
    result = done.result or {}
    if args.json:
        context.print_json({"project": result.get("annotation_project"), "items": result.get("items"), "job": done.id,
                         "status": done.status, "comparison_run": result.get("comparison_run"),
                         "error": done.error})
    elif done.status == queue.SUCCEEDED:
        print(f"Created project {result['annotation_project']}: {result['items']} items from comparison run "
              f"{result['comparison_run']} (job {done.id}).")
    else:
        print(f"Job {done.id} {done.status}: {done.error or 'no reason given'}; no project was made.")
    return 0 if done.status == queue.SUCCEEDED else 1


def parse_default_question():
    from core.feedback.schema import parse_question

    return parse_question("better:pairwise")


def _guidelines(args) -> str | None:
    if not args.guidelines:
        return None
    try:
        return Path(args.guidelines).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The guidelines file {args.guidelines} cannot be read ({exc}).") from None


def cmd_list(args) -> int:
    from core.feedback import projects

    store = context.open_store()
    found = projects.list_projects(store, actor=context.actor_of(args, store))
    if args.json:
        context.print_json([p.to_dict() for p in found])
    elif not found:
        print("No annotation project yet; make one with `workbench feedback create NAME ...`.")
    else:
        context.print_table([{"name": p.name, "status": p.status, "items": p.items, "ratings": p.ratings,
                           "source": p.source, "by": p.created_by} for p in found])
    return 0


def cmd_queue(args) -> int:
    from core.feedback import ratings

    store = context.open_store()
    items = ratings.queue(store, actor=context.actor_of(args, store), project=args.name, include_done=args.all)
    if args.json:
        context.print_json({"items": [i.to_dict() for i in items]})
    elif not items:
        print("Nothing left to rate in this project.")
    else:
        context.print_table([{"item": i.item_id, "status": i.status,
                           "prompt": " ".join(i.to_dict()["prompt"].split())[:60]} for i in items])
    return 0


def cmd_rate(args) -> int:
    from core.feedback import ratings

    store = context.open_store()
    actor = context.actor_of(args, store)
    done, problems = [], []
    for number, record in read_jsonl_objects(args.source):
        try:
            missing = [k for k in ("item", "question", "value") if k not in record]
            if missing:
                raise InvalidInput(f"the line lacks {', '.join(missing)}")
            result = ratings.rate(store, actor=actor, project=args.name, item_id=_item_id(record["item"]),
                                  question=str(record["question"]), value=record["value"],
                                  seconds=record.get("seconds"))
            done.append({"line": number, **result.to_dict()})
        except WorkbenchError as exc:
            problems.append({"line": number, "error": str(exc)})
    if args.json:
        context.print_json({"rated": len(done), "results": done, "errors": problems})
    else:
        print(f"Recorded {len(done)} answer(s).")
        for problem in problems:
            print(f"line {problem['line']}: {problem['error']}")
    return 2 if problems else 0


def _item_id(value) -> int:
    text = str(value).strip().lstrip("#")
    if not text.isdigit():
        raise InvalidInput(f"'{value}' is not an item id")
    return int(text)


def cmd_stats(args) -> int:
    from core.feedback import results

    store = context.open_store()
    stats = results.project_stats(store, actor=context.actor_of(args, store), project=args.name, by=args.by,
                                  rounds=args.rounds)
    if args.json:
        context.print_json(stats.to_dict())
        return 0
    print(f"{stats.project.name}: {stats.items} items, {stats.ratings} ratings, {stats.done_items} items finished, "
          f"{stats.disagreements} disagreement(s).")
    for name, a in stats.agreement.items():
        print(f"  {name} ({a.level}): alpha {_fmt(a.krippendorff_alpha)}, kappa {_fmt(a.cohen_kappa)} "
              f"over {a.items} shared items")
    if stats.leaderboard:
        context.print_table([{"model": s.model, "bt_score": f"{s.score:.0f}", "95% ci": f"{s.low:.0f}-{s.high:.0f}",
                           "elo": f"{s.elo:.0f}", "games": s.games} for s in stats.leaderboard])
    if stats.scores:
        context.print_table([{"question": s.question, "group": s.group, "mean": f"{s.estimate.mean:.2f}",
                           "95% ci": f"{s.estimate.low:.2f}-{s.estimate.high:.2f}", "n": s.estimate.n}
                          for s in stats.scores])
    context.print_table([{"annotator": a.annotator, "done": f"{a.done}/{a.assigned}", "median_s": _fmt(a.median_seconds),
                       "per_hour": _fmt(a.items_per_hour), "majority": _fmt(a.agreement_with_majority)}
                      for a in stats.annotators])
    return 0


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def cmd_export(args) -> int:
    from core.feedback import exports

    store = context.open_store()
    result = exports.export(store, actor=context.actor_of(args, store), project=args.name, fmt=args.format, out=args.out,
                            dataset=args.dataset, min_score=args.min_score, margin=args.margin)
    if args.json:
        context.print_json(result.to_dict())
    else:
        print(f"Wrote {result.rows} {result.format} rows to {result.path}; saved as {result.dataset_version}.")
    return 0


def cmd_review(args) -> int:
    from core.feedback import results

    store = context.open_store()
    found = results.disagreements(store, actor=context.actor_of(args, store), project=args.name,
                                  include_settled=not args.open)
    if args.json:
        context.print_json({"disagreements": [d.to_dict() for d in found]})
    elif not found:
        print("No disagreements.")
    else:
        context.print_table([{"item": d.item_id, "question": d.question,
                           "answers": ", ".join(f"{k}={v}" for k, v in d.answers.items()),
                           "settled": "" if d.settled is None else d.settled} for d in found])
    return 0


def cmd_settle(args) -> int:
    from core.feedback import results

    store = context.open_store()
    value = json.loads(args.value) if args.value.startswith("[") else args.value
    stored = results.settle(store, actor=context.actor_of(args, store), project=args.name, item_id=_item_id(args.item),
                            question=args.question, value=value, note=args.note)
    if args.json:
        context.print_json({"item": _item_id(args.item), "question": args.question, "value": stored})
    else:
        print(f"Settled item {args.item}, {args.question}: {stored}.")
    return 0


def cmd_status(args, status: str) -> int:
    from core.feedback import projects

    store = context.open_store()
    project = projects.set_status(store, actor=context.actor_of(args, store), project=args.name, status=status)
    if args.json:
        context.print_json({"project": project.name, "status": project.status})
    else:
        print(f"Project {project.name} is {project.status}.")
    return 0


def _add_project_options(parser) -> None:
    """The options every way of making a project shares: its questions file, who rates and how the work is split,
    the guidelines and how outputs are shown."""
    parser.add_argument("--questions-file", help="A JSON list of questions with labels, anchors and options.")
    parser.add_argument("--annotators", required=True, help="Comma-separated account names, or role:annotator.")
    parser.add_argument("--per-item", type=int, help="Annotators per item, taken round-robin (default 1).")
    parser.add_argument("--overlap", type=float, help="Instead of --per-item: this share of items (e.g. 0.2) goes to "
                                                      "two annotators, the rest to one.")
    parser.add_argument("--guidelines", metavar="FILE.md", help="Markdown guidelines shown beside each item.")
    parser.add_argument("--description")
    parser.add_argument("--markdown", action="store_true", help="Show outputs as sanitised Markdown (no HTML, "
                                                                "links or images) instead of plain text.")


def register(commands, add) -> None:
    feedback = commands.add_parser("feedback", help="Human feedback: annotation projects, ratings, results, exports.",
                                   description="Human feedback: annotation projects, ratings, results, exports.")
    sub = feedback.add_subparsers(dest="feedback_command", metavar="ACTION", parser_class=context.Parser, required=True)
    create = add(sub, "create", cmd_create, "Make an annotation project from a dataset version, a comparison run or "
                                            "logged events; prints {\"project\", \"items\"} with --json.")
    create.add_argument("name")
    create.add_argument("--dataset", metavar="NAME[@V]", help="Source: rows of a dataset version.")
    create.add_argument("--prompt-column", help="The dataset column holding the prompt.")
    create.add_argument("--response-column", action="append", help="A dataset column holding a response; twice for "
                                                                   "pairwise items.")
    create.add_argument("--messages-column", help="A dataset column of chat messages ending on the answer to rate.")
    create.add_argument("--model-column", help="A dataset column naming the model that answered.")
    create.add_argument("--comparison", metavar="RUN_ID", help="Source: the cells of a saved comparison run.")
    create.add_argument("--pairs", action="store_true", help="With --comparison: pairs of cells of the same input "
                                                             "(for pairwise questions) instead of single cells.")
    create.add_argument("--column", action="append", metavar="'PROMPT · MODEL'", help="With --comparison: only these "
                                                                                      "columns; repeatable.")
    create.add_argument("--events", action="store_true", help="Source: a sample of logged inference events.")
    create.add_argument("--since", help="With --events: from this time (ISO date or time, UTC).")
    create.add_argument("--until", help="With --events: before this time.")
    create.add_argument("--deployment", help="With --events: only this deployment.")
    create.add_argument("--model", help="With --events: only this model.")
    create.add_argument("--where", action="append", metavar="KEY=VALUE", help="With --events: a metadata filter.")
    create.add_argument("--stratify", metavar="FIELD", help="With --events: sample evenly over this field (model, "
                                                            "deployment, arm, template_version or a metadata key).")
    create.add_argument("--rows", type=int, help="Sample this many rows (dataset) or events (default 100).")
    create.add_argument("--seed", type=int, default=0, help="Seed of the sample and of the side shuffles.")
    create.add_argument("--question", action="append", metavar="NAME:KIND",
                        help="A question: NAME:likert[=SCALE], NAME:thumbs, NAME:pairwise, NAME:ranking, NAME:text "
                             "(a corrected answer), NAME:tags=a,b,c; repeatable.")
    _add_project_options(create)
    generate = add(sub, "generate", cmd_generate, "Make a project from two models answering the same prompts now: a "
                                                  "job (progress and cancel as `workbench jobs`); with --wait and "
                                                  "--json prints {\"project\", \"items\", \"job\", ...}.")
    generate.add_argument("name")
    generate.add_argument("--model", action="append", required=True, metavar="NAME",
                          help="A registered chat model or adapter; give two.")
    generate.add_argument("--dataset", required=True, metavar="NAME[@V]", help="The dataset version holding prompts.")
    generate.add_argument("--prompt-column", help="The column holding each prompt (the user message as it stands).")
    generate.add_argument("--prompt", metavar="NAME[@V]", help="Or: a prompt version whose variables read columns.")
    generate.add_argument("--map", action="append", metavar="VAR=COLUMN", help="With --prompt: read a variable from "
                                                                               "a differently named column.")
    generate.add_argument("--rows", type=int, default=50, help="Prompts to sample (seeded; at most "
                                                                               "500). Default: %(default)s.")
    generate.add_argument("--seed", type=int, default=0, help="Seed of the sample, the side shuffles and sampling.")
    generate.add_argument("--question", action="append", metavar="NAME:KIND",
                          help="A question for pairs: NAME:pairwise (default better:pairwise), NAME:ranking, "
                               "NAME:tags=a,b; repeatable.")
    _add_project_options(generate)
    generate.add_argument("--wait", action="store_true", help="Return when the job has ended, naming the project "
                                                             "(without it, print the job and return at once).")
    from core.inference.generate import GenerationSettings
    from workbench.commands.options import add_options

    add_options(generate, GenerationSettings, skip=("seed",))  # --max-new-tokens, --temperature, --top-p, ...
    add(sub, "list", cmd_list, "List annotation projects (annotators: theirs).")
    queue = add(sub, "queue", cmd_queue, "The acting annotator's pending items (--user NAME).")
    queue.add_argument("name")
    queue.add_argument("--all", action="store_true", help="Also the items already rated or flagged.")
    rate = add(sub, "rate", cmd_rate, "Record answers from a JSONL file of {\"item\", \"question\", \"value\"} lines, "
                                      "each in its own transaction (pairwise A/B as shown in your queue).")
    rate.add_argument("name")
    rate.add_argument("--from", dest="source", required=True, metavar="FILE.jsonl")
    stats = add(sub, "stats", cmd_stats, "Ratings, agreement per question, annotators, scores and the leaderboard.")
    stats.add_argument("name")
    stats.add_argument("--by", default="column", choices=("column", "model", "prompt_version"),
                       help="Group results by model, prompt version, or both (column).")
    stats.add_argument("--rounds", type=int, default=1000, help="Bootstrap rounds for the intervals.")
    export = add(sub, "export", cmd_export, "Export ratings as SFT conversations, DPO preference pairs or CSV; also "
                                            "saved as a dataset version.")
    export.add_argument("name")
    export.add_argument("--format", required=True, choices=("sft", "dpo", "csv"))
    export.add_argument("--out", required=True, metavar="FILE")
    export.add_argument("--dataset", help="Dataset to save the export into (default PROJECT-FORMAT).")
    export.add_argument("--min-score", type=float, default=4.0, help="SFT: lowest consensus Likert score kept.")
    export.add_argument("--margin", type=float, default=1.0, help="DPO: smallest Likert difference that makes a pair.")
    review = add(sub, "review", cmd_review, "Items where annotators disagree, with every answer (reviewers).")
    review.add_argument("name")
    review.add_argument("--open", action="store_true", help="Only those not settled yet.")
    settle = add(sub, "settle", cmd_settle, "Settle a disagreement: the final answer (A is the item's first response).")
    settle.add_argument("name")
    settle.add_argument("--item", required=True)
    settle.add_argument("--question", required=True)
    settle.add_argument("--value", required=True)
    settle.add_argument("--note")
    for action, status in (("close", "closed"), ("open", "open")):
        toggle = add(sub, action, lambda a, status=status: cmd_status(a, status),
                     f"{'Close' if status == 'closed' else 'Reopen'} a project for ratings.")
        toggle.add_argument("name")
