"""`workbench monitor ...`: drift between datasets and event ranges, saved monitors and their runs, alerts."""
from __future__ import annotations

import sys

from core.errors import InvalidInput
from workbench.commands import context



def _pairs(items: list[str] | None, what: str, convert=str) -> dict:
    """["latency_s=ks"] -> {"latency_s": "ks"}."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(f"'{item}' is not a {what}; write FIELD=VALUE.")
        try:
            out[key.strip()] = convert(value.strip())
        except ValueError:
            raise InvalidInput(f"'{value}' in '{item}' is not a number.") from None
    return out


def _fields(text: str | None) -> list[str] | None:
    return [f.strip() for f in text.split(",") if f.strip()] if text else None


def _where(items):
    from core.events.query import parse_where

    return parse_where(items)


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def cmd_drift(args) -> int:
    from core.monitoring import drift
    from core.monitoring.sources import parse_source

    store = context.open_store()
    actor = context.actor_of(args, store)
    where = _where(args.where)
    filters = dict(deployment=args.deployment, application=args.application, model=args.model)
    reference = parse_source(args.reference, where=where if args.reference.startswith("events") else None,
                             **(filters if args.reference.startswith("events") else {}))
    current = parse_source(args.current, where=where if args.current.startswith("events") else None,
                           **(filters if args.current.startswith("events") else {}))
    progress = None if args.json else (lambda note: print(note, file=sys.stderr))
    report = drift.compare_sources(store, actor=actor, reference=reference, current=current,
                                   fields=_fields(args.fields), tests=_pairs(args.test, "test choice"),
                                   thresholds=_pairs(args.threshold, "threshold", float), progress=progress)
    if args.json:
        context.print_json(report.to_json())
        return 0
    print(f"{report.reference} -> {report.current}")
    context.print_table([{"field": f.field, "kind": f.kind, "test": f.test, "statistic": _fmt(f.statistic),
                       "p_value": _fmt(f.p_value), "threshold": _fmt(f.threshold),
                       "drift": "DRIFT" if f.drift_detected else "-", "ref": f.reference_size, "cur": f.current_size}
                      for f in report.fields])
    print(f"\n{sum(f.drift_detected for f in report.fields)} of {len(report.fields)} fields drifted "
          f"({report.share_drifted:.0%}). {report.summary}")
    return 0


def cmd_create(args) -> int:
    from core.monitoring import monitors

    store = context.open_store()
    fields = _fields(args.fields)
    if not fields:
        raise InvalidInput("Name the fields to watch with --fields a,b,c (see `workbench monitor fields`).")
    info = monitors.create_monitor(
        store, actor=context.actor_of(args, store), name=args.name, reference=args.reference, fields=fields,
        window=args.window, since=args.since, until=args.until, deployment=args.deployment,
        application=args.application, model=args.model, where=_where(args.where),
        tests=_pairs(args.test, "test choice"), thresholds=_pairs(args.threshold, "threshold", float),
        min_windows=args.min_windows, schedule=args.schedule, description=args.description)
    if args.json:
        context.print_json(info.to_dict())
    else:
        print(f"Created monitor {info.name} (id {info.id}): {', '.join(info.fields)}; {info.reference_label} vs "
              f"{info.current_label}; alerts after {info.min_windows} drifting window(s) in a row.")
    return 0


def cmd_list(args) -> int:
    from core.monitoring import monitors

    store = context.open_store()
    found = monitors.list_monitors(store, actor=context.actor_of(args, store))
    if args.json:
        context.print_json([m.to_dict() for m in found])
    elif not found:
        print("No monitor yet; create one with `workbench monitor create NAME --reference REF --fields a,b`.")
    else:
        context.print_table([{"id": m.id, "name": m.name, "reference": m.reference_label,
                           "window": m.current.get("window"), "fields": ", ".join(m.fields), "schedule": m.schedule,
                           "last_run": f"{m.last_run_at:%Y-%m-%d %H:%M}" if m.last_run_at else "never"}
                          for m in found])
    return 0


def cmd_show(args) -> int:
    from core.monitoring import monitors, runs

    store = context.open_store()
    actor = context.actor_of(args, store)
    info = monitors.get_monitor(store, actor=actor, ref=args.name)
    latest = runs.latest_run(store, actor=actor, monitor_id=info.id)
    points = runs.timeline(store, actor=actor, monitor_id=info.id)
    last_window = max((p.window_start for p in points), default=None)
    latest_points = [p for p in points if p.window_start == last_window]
    if args.json:
        context.print_json({"monitor": info.to_dict(), "latest_run": latest.to_dict() if latest else None,
                         "latest_window": [{"window_start": p.window_start.isoformat(), "field": p.field,
                                            "kind": p.kind, "test": p.test, "statistic": p.statistic,
                                            "p_value": p.p_value, "threshold": p.threshold,
                                            "drift_detected": p.drift_detected, "reference_size": p.reference_size,
                                            "current_size": p.current_size} for p in latest_points]})
        return 0
    print(f"{info.name} (id {info.id}) by {info.created_by}: {info.reference_label} vs {info.current_label}")
    print(f"fields: {', '.join(info.fields)}; alerts after {info.min_windows} window(s) in a row; "
          f"schedule {info.schedule}")
    if latest is None:
        print("Never run; `workbench monitor run NAME` runs it.")
        return 0
    print(f"latest run {latest.id}: {latest.status}, {latest.windows} windows; {latest.summary or latest.error or ''}")
    if latest_points:
        print(f"\nwindow starting {last_window:%Y-%m-%d}:")
        context.print_table([{"field": p.field, "test": p.test, "statistic": _fmt(p.statistic),
                           "p_value": _fmt(p.p_value), "threshold": _fmt(p.threshold),
                           "drift": "DRIFT" if p.drift_detected else "-", "ref": p.reference_size,
                           "cur": p.current_size} for p in latest_points])
    return 0


def cmd_run(args) -> int:
    from core.monitoring import alerts, monitors, runs

    store = context.open_store()
    actor = context.actor_of(args, store)
    info = monitors.get_monitor(store, actor=actor, ref=args.name)

    def progress(done, total, note):
        if not args.json:
            print(f"[{done}/{total}] {note}", file=sys.stderr)

    run = runs.run_monitor(store, actor=actor, monitor_id=info.id, progress=progress)
    alerts.wait_for_webhooks(10)
    if args.json:
        context.print_json(run.to_dict())
    else:
        print(f"Run {run.id} of {info.name}: {run.windows} windows. {run.summary}")
        if run.alert_id:
            print(f"Alert {run.alert_id} is open for: {', '.join(run.drifted_fields)}.")
    return 0


def cmd_delete(args) -> int:
    from core.monitoring import monitors

    store = context.open_store()
    info = monitors.delete_monitor(store, actor=context.actor_of(args, store), ref=args.name)
    if args.json:
        context.print_json({"deleted": info.name, "id": info.id})
    else:
        print(f"Deleted monitor {info.name} with its runs; its alerts stay in the alert list.")
    return 0


def cmd_fields(args) -> int:
    from core.monitoring import drift_tests
    from core.monitoring.fields import BUILT_IN

    rows = [{"field": s.name, "kind": s.kind, "label": s.label, "sampled": "yes" if s.sampled else ""}
            for s in BUILT_IN.values()]
    tests = [{"test": t.name, "label": t.label, "kinds": ", ".join(t.kinds), "default_threshold": t.threshold,
              "score": t.score} for t in drift_tests.load_all().values()]
    if args.json:
        context.print_json({"fields": rows, "tests": tests})
    else:
        context.print_table(rows)
        print("\nPlus meta.KEY for any event metadata key, and any column of a dataset version.\n")
        context.print_table(tests)
    return 0


def cmd_alerts(args) -> int:
    from core.monitoring import alerts

    store = context.open_store()
    found = alerts.list_alerts(store, actor=context.actor_of(args, store), status=args.status)
    if args.json:
        context.print_json([a.to_dict() for a in found])
    elif not found:
        print("No alert.")
    else:
        context.print_table([{"id": a.id, "status": a.status, "severity": a.severity, "kind": a.kind, "source": a.source,
                           "opened": f"{a.opened_at:%Y-%m-%d %H:%M}", "title": a.title} for a in found])
    return 0


def _handle(args, verb) -> int:
    from core.monitoring import alerts

    store = context.open_store()
    action = alerts.acknowledge if verb == "acknowledge" else alerts.resolve
    alert = action(store, actor=context.actor_of(args, store), alert_id=args.id, note=args.note)
    if args.json:
        context.print_json(alert.to_dict())
    else:
        print(f"Alert {alert.id} {alert.status} by {alert.acknowledged_by if verb == 'acknowledge' else alert.resolved_by}.")
    return 0


def cmd_ack(args) -> int:
    return _handle(args, "acknowledge")


def cmd_resolve(args) -> int:
    return _handle(args, "resolve")


def _event_filters(parser) -> None:
    parser.add_argument("--where", action="append", metavar="KEY=VALUE", help="Only events whose metadata KEY "
                                                                               "equals VALUE; repeatable.")
    parser.add_argument("--deployment", help="Only events of this deployment.")
    parser.add_argument("--application", help="Only events of this application (API key name).")
    parser.add_argument("--model", help="Only events of this model.")


def _choices(parser) -> None:
    parser.add_argument("--test", action="append", metavar="FIELD=TEST", help="Test for a field (default: by kind "
                                                                             "and sample size); repeatable.")
    parser.add_argument("--threshold", action="append", metavar="FIELD=VALUE", help="Threshold for a field's test "
                                                                                    "(p-value or distance).")


def register(commands, add) -> None:
    group = commands.add_parser("monitor", help="Drift monitoring of datasets and production events; alerts.",
                                description="Drift monitoring of datasets and production events; alerts.")
    sub = group.add_subparsers(dest="monitor_command", metavar="ACTION", parser_class=context.Parser, required=True)
    drift = add(sub, "drift", cmd_drift, "Drift of CURRENT against REFERENCE, field by field.")
    drift.add_argument("--reference", required=True, metavar="REF", help="NAME, NAME@VERSION or events:FROM..TO.")
    drift.add_argument("--current", required=True, metavar="CUR", help="NAME, NAME@VERSION or events:FROM..TO.")
    drift.add_argument("--fields", help="Comma-separated fields (default: every field both sides share).")
    _event_filters(drift)
    _choices(drift)
    create = add(sub, "create", cmd_create, "Save a monitor: a reference against daily or weekly windows of events.")
    create.add_argument("name")
    create.add_argument("--reference", required=True, metavar="REF", help="NAME, NAME@VERSION, events:FROM..TO, or "
                        "lineage (the data the --deployment's model was fine-tuned on).")
    create.add_argument("--fields", required=True, help="Comma-separated fields to watch.")
    create.add_argument("--window", choices=("day", "week"), default="day")
    create.add_argument("--since", help="First day of the current windows (default: after the reference).")
    create.add_argument("--until", help="End of the current windows (default: the latest event).")
    _event_filters(create)
    _choices(create)
    create.add_argument("--min-windows", type=int, default=1, help="Drifting windows in a row before an alert.")
    create.add_argument("--schedule", choices=("daily", "weekly", "manual"), default="daily")
    create.add_argument("--description")
    add(sub, "list", cmd_list, "List monitors.")
    show = add(sub, "show", cmd_show, "A monitor, its latest run and its latest window's results.")
    show.add_argument("name", metavar="NAME|ID")
    run = add(sub, "run", cmd_run, "Run a monitor now over all its windows (in this process).")
    run.add_argument("name", metavar="NAME|ID")
    delete = add(sub, "delete", cmd_delete, "Delete a monitor and its runs (its alerts stay).")
    delete.add_argument("name", metavar="NAME|ID")
    add(sub, "fields", cmd_fields, "The fields a monitor can watch and the drift tests.")
    listing = add(sub, "alerts", cmd_alerts, "List alerts (drift and KPI), newest first.")
    listing.add_argument("--status", choices=("active", "open", "acknowledged", "resolved"))
    ack = add(sub, "ack", cmd_ack, "Acknowledge an alert.")
    ack.add_argument("id", type=int)
    ack.add_argument("--note")
    resolve = add(sub, "resolve", cmd_resolve, "Resolve an alert.")
    resolve.add_argument("id", type=int)
    resolve.add_argument("--note")
