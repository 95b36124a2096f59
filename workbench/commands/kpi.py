"""`workbench kpi ...`: KPIs over the event log, changes with significance, targets and their alerts."""
from __future__ import annotations

from pathlib import Path

from core.errors import InvalidInput
from workbench.commands import context

SHOWN = ("requests", "error_rate", "latency_p50_s", "latency_p95_s", "latency_p99_s", "cost",
         "cost_per_1k_requests", "thumbs_up_rate", "users")



def _filters(args):
    from core.kpi import query

    return query.KpiFilter(
        since=query.parse_day(args.since) if args.since else None,
        until=query.parse_day(args.until, end=True) if args.until else None,
        deployment=args.deployment, model=getattr(args, "model", None),
        application=getattr(args, "application", None), where=query.parse_where(args.where))


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def cmd_show(args) -> int:
    from core.kpi import query

    store = context.open_store()
    names = [n.strip() for n in args.kpis.split(",")] if args.kpis else None
    report = query.compute_kpis(store, actor=context.actor_of(args, store), filters=_filters(args), by=args.by,
                                every=args.every, kpis=names, source="events" if args.exact else "auto")
    if args.json:
        context.print_json(report.to_dict())
        return 0
    shown = [n for n in (names or SHOWN) if n in report.overall]
    context.print_table([{"kpi": n, "value": _fmt(report.overall[n])} for n in shown])
    if report.groups:
        print()
        context.print_table([{args.by: g["by"][args.by], **{n: _fmt(g["kpis"][n]) for n in shown}}
                          for g in report.groups])
    if report.series:
        print()
        context.print_table([{"period": s["period"], **({args.by: s["by"][args.by]} if args.by else {}),
                           **{n: _fmt(s["kpis"][n]) for n in shown}} for s in report.series])
    print(f"\nPercentiles: {report.percentiles}.")
    return 0


def cmd_compare(args) -> int:
    from core.kpi import significance

    store = context.open_store()
    actor = context.actor_of(args, store)
    filters = _filters(args)
    names = [n.strip() for n in args.kpis.split(",")] if args.kpis else None
    if args.versions:
        if not args.deployment:
            raise InvalidInput("Name the deployment whose versions to compare with --deployment NAME.")
        result = significance.compare_versions(store, actor=actor, filters=filters.replace(deployment=None),
                                               deployment=args.deployment, version_a=args.versions[0],
                                               version_b=args.versions[1], kpis=names, alpha=args.alpha)
    else:
        result = significance.compare_periods(store, actor=actor, filters=filters, kpis=names, alpha=args.alpha)
    if args.json:
        context.print_json(result.to_dict())
        return 0
    print(f"{result.a_label} -> {result.b_label} (significance level {result.alpha:g})")
    context.print_table([{"kpi": c.kpi, "a": _fmt(c.a), "b": _fmt(c.b),
                       "change": "-" if c.relative is None else f"{c.relative:+.1%}",
                       "significant": ("*" + (f" {c.verdict}" if c.verdict else "")) if c.significant else "",
                       "p": _fmt(c.p_value), "n": f"{c.n_a}/{c.n_b}" if c.test else "", "test": c.test or ""}
                      for c in result.changes])
    return 0


def _scope(items) -> dict[str, str]:
    from core.kpi import query

    return query.parse_where(items)


def cmd_targets(args) -> int:
    from core.kpi import targets

    store = context.open_store()
    statuses = targets.target_statuses(store, actor=context.actor_of(args, store))
    if args.json:
        context.print_json([s.to_dict() for s in statuses])
    elif not statuses:
        print("No KPI target yet; set one with `workbench kpi target-set KPI --at-most VALUE`.")
    else:
        context.print_table([{"id": s.target.id, "target": s.target.describe(), "value": _fmt(s.value),
                           "status": s.status, "since": f"{s.since:%Y-%m-%d %H:%M}" if s.since else "-"}
                          for s in statuses])
    return 0


def cmd_target_set(args) -> int:
    from core.kpi import targets

    if (args.at_most is None) == (args.at_least is None):
        raise InvalidInput("Give exactly one of --at-most VALUE or --at-least VALUE.")
    store = context.open_store()
    info = targets.set_target(
        store, actor=context.actor_of(args, store), kpi=args.kpi,
        comparison="at_most" if args.at_most is not None else "at_least",
        threshold=args.at_most if args.at_most is not None else args.at_least, scope=_scope(args.where),
        deployment=args.deployment, window_hours=args.window_hours, severity=args.severity, note=args.note)
    context.print_json(info.to_dict()) if args.json else print(f"Target {info.id}: {info.describe()}.")
    return 0


def cmd_target_remove(args) -> int:
    from core.kpi import targets

    store = context.open_store()
    info = targets.remove_target(store, actor=context.actor_of(args, store), target_id=args.id)
    context.print_json(info.to_dict()) if args.json else print(f"Removed target {info.id}: {info.describe()}.")
    return 0


def cmd_check(args) -> int:
    from core.kpi import targets

    store = context.open_store()
    statuses = targets.check_targets(store, actor=context.actor_of(args, store))
    failing = [s for s in statuses if s.status == "failing"]
    if args.json:
        context.print_json([s.to_dict() for s in statuses])
    else:
        print(f"{len(statuses)} target(s) checked, {len(failing)} failing"
              + (": " + "; ".join(s.target.describe() for s in failing) if failing else "."))
    return 0


def cmd_export(args) -> int:
    from core.kpi import export, query

    store = context.open_store()
    actor = context.actor_of(args, store)
    report = query.compute_kpis(store, actor=actor, filters=_filters(args), by=args.by, every=args.every or "day")
    out = Path(args.out)
    if out.suffix.lower() == ".csv":
        out.write_text(export.to_csv(report), encoding="utf-8")
    elif out.suffix.lower() in (".html", ".htm"):
        from core.kpi import targets
        from workbench.ui import kpi_charts

        statuses = targets.target_statuses(store, actor=actor)
        out.write_text(kpi_charts.html_report(report, statuses=statuses), encoding="utf-8")
    else:
        raise InvalidInput(f"Write the export to a .csv or .html file, not '{out.name}'.")
    context.print_json({"path": str(out), "bytes": out.stat().st_size}) if args.json else print(f"Wrote {out}.")
    return 0


def cmd_refresh(args) -> int:
    import time

    from core.governance.roles import Permission, require
    from core.kpi import rollups

    store = context.open_store()
    require(context.actor_of(args, store), Permission.VIEW_DASHBOARDS)
    started = time.perf_counter()
    hours = rollups.refresh(store)
    seconds = time.perf_counter() - started
    context.print_json({"hours": hours, "seconds": round(seconds, 3)}) if args.json else \
        print(f"Recomputed the rollups of {hours:,} hour(s) in {seconds:.1f} s.")
    return 0


def _filter_options(command, *, by: bool = True) -> None:
    command.add_argument("--since", metavar="DATE", help="First day (YYYY-MM-DD, UTC) or time.")
    command.add_argument("--until", metavar="DATE", help="Last day, included (YYYY-MM-DD), or an exclusive time.")
    command.add_argument("--where", action="append", metavar="KEY=VALUE",
                         help="Only events whose metadata key (or column) has this value; repeatable.")
    command.add_argument("--deployment", metavar="NAME", help="Only this deployment's events.")
    command.add_argument("--model", metavar="NAME", help="Only this model's events.")
    command.add_argument("--application", metavar="NAME", help="Only this application's (API key's) events.")
    if by:
        command.add_argument("--by", metavar="FIELD",
                             help="Split by an event column (model, deployment_version...) or a metadata key.")
        command.add_argument("--every", choices=("day", "week"), help="Also a series per day or week.")


def register(commands, add) -> None:
    kpi = commands.add_parser("kpi", help="KPIs over the event log: usage, service, quality, targets.",
                              description="KPIs over the event log: usage, service, quality, targets.")
    sub = kpi.add_subparsers(dest="kpi_command", metavar="ACTION", parser_class=context.Parser, required=True)
    show = add(sub, "show", cmd_show, "KPIs overall, per group (--by) and per day or week (--every).")
    _filter_options(show)
    show.add_argument("--kpis", metavar="NAMES", help="Comma-separated KPI names (default: all).")
    show.add_argument("--exact", action="store_true",
                      help="Scan the events for exact percentiles instead of the hourly rollups' sketches (slower).")
    compare = add(sub, "compare", cmd_compare,
                  "Period over period (default) or two versions of a deployment, with significance markers.")
    _filter_options(compare, by=False)
    compare.add_argument("--versions", nargs=2, type=int, metavar=("A", "B"),
                         help="Compare these two versions of --deployment over the same period.")
    compare.add_argument("--alpha", type=float, default=0.01, help="Significance level (default 0.01).")
    compare.add_argument("--kpis", metavar="NAMES", help="Comma-separated KPI names (default: all).")
    add(sub, "targets", cmd_targets, "Targets with their current value, status and since when it holds.")
    target_set = add(sub, "target-set", cmd_target_set, "Set (or change) the target of a KPI; audited.")
    target_set.add_argument("kpi")
    target_set.add_argument("--at-most", type=float, metavar="VALUE", help="The KPI must stay at or below VALUE.")
    target_set.add_argument("--at-least", type=float, metavar="VALUE", help="The KPI must stay at or above VALUE.")
    target_set.add_argument("--where", action="append", metavar="KEY=VALUE", help="Only this segment; repeatable.")
    target_set.add_argument("--deployment", metavar="NAME", help="Only this deployment.")
    target_set.add_argument("--window-hours", type=int, default=24, help="Rolling window in hours (default 24).")
    target_set.add_argument("--severity", choices=("warning", "critical"), default="warning",
                            help="Severity of the alert a failing target raises.")
    target_set.add_argument("--note", help="Why this target.")
    target_remove = add(sub, "target-remove", cmd_target_remove, "Retire a target; audited.")
    target_remove.add_argument("id", type=int)
    add(sub, "refresh", cmd_refresh, "Bring the hourly KPI rollups up to date now (reading them also does; "
        "run it once after importing many events, or from cron).")
    add(sub, "check", cmd_check, "Evaluate every target now; failing ones raise a 'kpi' alert (for cron).")
    export = add(sub, "export", cmd_export, "Write the dashboard as CSV or as a self-contained HTML report.")
    _filter_options(export)
    export.add_argument("--out", required=True, metavar="FILE", help="A .csv or .html file.")
