"""`workbench events ...`: ingest event files, list events, export them as a dataset version."""
from __future__ import annotations

from core.errors import InvalidInput
from workbench.commands import context



def _filters(args, default_limit: int):
    from core.events.query import EventFilter, parse_time, parse_where

    return EventFilter(since=parse_time(args.since, "--since"), until=parse_time(args.until, "--until"),
                       model=args.model, deployment=args.deployment, application=args.application,
                       status=args.status, endpoint=args.endpoint, where=parse_where(args.where),
                       limit=args.limit if args.limit is not None else default_limit)


def cmd_ingest(args) -> int:
    from core.events.ingest import ingest_file

    store = context.open_store()
    result = ingest_file(store, actor=context.actor_of(args, store), path=args.file, skip_bad_rows=args.skip_bad_rows)
    if args.json:
        context.print_json(result.to_dict())
    else:
        print(result.message)
    return 0


def cmd_list(args) -> int:
    from core.events.query import list_events

    store = context.open_store()
    found = list_events(store, actor=context.actor_of(args, store), filters=_filters(args, 100))
    if args.json:
        context.print_json([e.to_dict() for e in found])
    elif not found:
        print("No event matches. Events arrive from `workbench serve`, the Python call core.events.log.log_events, "
              "or files through `workbench events ingest FILE`.")
    else:
        context.print_table([{
            "event": e.event_id, "time": f"{e.time:%Y-%m-%d %H:%M:%S}", "model": e.model,
            "deployment": f"{e.deployment}@{e.deployment_version}" if e.deployment else "",
            "application": e.application or "", "status": e.status,
            "latency_s": "" if e.latency_s is None else f"{e.latency_s:.2f}",
            "tokens": f"{e.tokens_in or 0}/{e.tokens_out or 0}",
            "feedback": "" if e.feedback_score is None else f"{e.feedback_score:g}",
        } for e in found])
    return 0


def cmd_export(args) -> int:
    from core.events.export import export_events
    from core.events.query import MAX_LIMIT

    if not args.name:
        raise InvalidInput("Name the dataset to export to with --name DATASET.")
    store = context.open_store()
    version = export_events(store, actor=context.actor_of(args, store), filters=_filters(args, MAX_LIMIT), name=args.name)
    if args.json:
        context.print_json(version.to_dict())
    else:
        print(f"Saved {version.rows:,} events as {version.ref} ({version.source}).")
    return 0


def _filter_options(command, limit_help: str) -> None:
    command.add_argument("--since", metavar="T", help="From this time on (ISO date or time, UTC unless it says).")
    command.add_argument("--until", metavar="T", help="Before this time.")
    command.add_argument("--model", metavar="M")
    command.add_argument("--deployment", metavar="D")
    command.add_argument("--application", metavar="A", help="The application (its API key's name).")
    command.add_argument("--status", choices=("ok", "error", "rate_limited"))
    command.add_argument("--endpoint", choices=("chat", "completions", "embeddings"),
                         help="The API the calls went through.")
    command.add_argument("--where", action="append", metavar="KEY=VALUE",
                         help="Business metadata equal to a value, e.g. segment=claims; repeatable.")
    command.add_argument("--limit", type=int, metavar="N", help=limit_help)


def register(commands, add) -> None:
    events = commands.add_parser("events", help="The inference event log: ingest, list, export.",
                                 description="The inference event log: ingest, list, export.")
    sub = events.add_subparsers(dest="events_command", metavar="ACTION", parser_class=context.Parser, required=True)
    ingest = add(sub, "ingest", cmd_ingest, "Add the events of a Parquet, JSON Lines or CSV file (columns time, "
                                            "model, input required; other columns are metadata). Same content "
                                            "twice adds nothing.")
    ingest.add_argument("file", metavar="FILE")
    ingest.add_argument("--skip-bad-rows", action="store_true", help="Leave out bad rows instead of stopping.")
    listing = add(sub, "list", cmd_list, "List events, newest first.")
    _filter_options(listing, "At most N events (default 100).")
    export = add(sub, "export", cmd_export, "Save the matching events as a new version of a dataset.")
    _filter_options(export, "At most N events, the newest (default 100,000).")
    export.add_argument("--name", metavar="DATASET", required=True, help="The dataset to add the version to.")
