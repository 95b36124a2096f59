"""`workbench data ...`: import files as dataset versions, list, show, profile, redact, transform and export them."""
from __future__ import annotations

import sys

from workbench.commands.context import add_group, print_table


def _names(text: str | None) -> list[str] | None:
    """"a, b" -> ["a", "b"]; None when not given."""
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def cmd_import(ctx) -> int:
    from core.data import ingest

    args = ctx.args
    result = ingest.import_file(ctx.store, actor=ctx.actor, path=args.path, name=args.name,
                                skip_bad_rows=args.skip_bad_rows, sheet=args.sheet, description=args.description)

    def text() -> None:
        v = result.version
        verb = "Imported" if result.created else "Already stored (identical content):"
        print(f"{verb} {v.ref}: {v.rows:,} rows, {len(v.columns)} columns ({result.format}), sha256 {v.sha256[:12]}")
        for skipped in result.skipped[:20]:
            print(f"  skipped line {skipped.line}: {skipped.reason}")
        if len(result.skipped) > 20:
            print(f"  ... and {len(result.skipped) - 20} more skipped rows")
        for note in result.notes:
            print(f"  note: {note}")

    return ctx.show(result.to_dict(), text)


def cmd_list(ctx) -> int:
    from core.data import versions

    datasets = versions.list_datasets(ctx.store, actor=ctx.actor)
    return ctx.table([d.to_dict() for d in datasets],
                     [{"name": d.name, "versions": d.versions, "latest": d.latest.ref if d.latest else "",
                       "rows": d.latest.rows if d.latest else "", "made by": d.latest.transformation if d.latest else "",
                       "created": d.latest.created_at.strftime("%Y-%m-%d %H:%M") if d.latest else ""}
                      for d in datasets],
                     empty="No dataset yet; import one with `workbench data import FILE --name NAME`.")


def cmd_show(ctx) -> int:
    from core.data import versions

    version = versions.get_version(ctx.store, actor=ctx.actor, ref=ctx.args.ref)
    lineage = versions.lineage(ctx.store, actor=ctx.actor, ref=version.ref)
    payload = {**version.to_dict(), "lineage": lineage.to_dict()}

    def text() -> None:
        for key in ("ref", "rows", "sha256", "transformation", "source", "parents", "created_by", "created_at"):
            print(f"{key}: {payload[key]}")
        print("columns: " + ", ".join(f"{c['name']} ({c['dtype']})" for c in version.columns))
        made = sorted({child for _, child in lineage.descendants})
        print("made from it: " + (", ".join(made) if made else "nothing yet"))

    return ctx.show(payload, text)


def cmd_export(ctx) -> int:
    from core.data import export

    args = ctx.args
    result = export.export_version(ctx.store, actor=ctx.actor, ref=args.ref, fmt=args.format, out=args.out)
    return ctx.show(result.to_dict(), f"Wrote {result.rows:,} rows of {result.ref} to {result.path}")


def cmd_profile(ctx) -> int:
    from core.data import profile
    from workbench.commands.options import from_options

    options = from_options(ctx.args, profile.ProfileOptions)
    progress = (lambda share, message: print(f"\r[{share:4.0%}] {message[:70]:<70}", end="", file=sys.stderr,
                                             flush=True)) if ctx.progress_on_terminal() else None
    report = profile.profile_version(ctx.store, actor=ctx.actor, ref=ctx.args.ref, options=options,
                                     progress=progress, refresh=ctx.args.refresh)
    if progress:
        print(file=sys.stderr)

    def text() -> None:
        print(f"{report['ref']}: {report['rows']:,} rows, {len(report['columns'])} columns; format: "
              f"{report['format']['label']} ({report['format']['explanation']})")
        print_table([{"column": c["name"], "type": c["type"], "missing": f"{c['missing_share']:.1%}",
                      "distinct": c.get("distinct", "")} for c in report["columns"]])
        print("alerts:" if report["alerts"] else "alerts: none")
        for alert in report["alerts"]:
            print(f"  [{alert['severity']}] {alert['message']}")

    return ctx.show(report, text)


def cmd_redact(ctx) -> int:
    from core.data import redact

    result = redact.redact_version(ctx.store, actor=ctx.actor, ref=ctx.args.ref, types=_names(ctx.args.types),
                                   columns=_names(ctx.args.columns))
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items()) or "no PII found"
    return ctx.show(result.to_dict(), f"{result.version.ref} made from {result.parent.ref}: {counts}")


def cmd_overlap(ctx) -> int:
    from core.data import overlap

    args = ctx.args
    report = overlap.check_overlap(ctx.store, actor=ctx.actor, train_ref=args.train, eval_ref=args.eval,
                                   column=args.column, threshold=args.threshold)
    return ctx.show(report.to_dict(), f"{report.eval} vs {report.train}: {report.exact:,} exact and {report.near:,} "
                                      f"near-duplicate rows of {report.checked_eval_rows:,} checked "
                                      f"({report.contaminated_share:.1%} contaminated)")


def _made(ctx, result) -> int:
    made = ", ".join(f"{v.ref} ({v.rows:,} rows)" for v in result.versions)
    return ctx.show(result.to_dict(), f"Made {made} from {', '.join(p.ref for p in result.parents)}"
                                      + (f"; removed {result.removed:,} rows" if result.removed else ""))


def cmd_dedupe(ctx) -> int:
    from core.data import transform

    args = ctx.args
    return _made(ctx, transform.dedupe_version(ctx.store, actor=ctx.actor, ref=args.ref, column=args.column,
                                               near=args.near, threshold=args.threshold))


def cmd_filter(ctx) -> int:
    from core.data import transform

    store = ctx.store
    return _made(ctx, transform.filter_version(store, actor=ctx.actor, ref=ctx.args.ref,
                                               drop_format_issues=not ctx.args.keep_format_issues,
                                               require_columns=_names(ctx.args.require)))


def cmd_split(ctx) -> int:
    from core.data import transform

    args = ctx.args
    return _made(ctx, transform.split_version(ctx.store, actor=ctx.actor, ref=args.ref, eval_share=args.eval_share,
                                              seed=args.seed, train_name=args.train_name, eval_name=args.eval_name))


def cmd_merge(ctx) -> int:
    from core.data import transform

    return _made(ctx, transform.merge_versions(ctx.store, actor=ctx.actor, refs=ctx.args.refs, name=ctx.args.name))


def register(commands, add) -> None:
    from core.data.profile import ProfileOptions
    from workbench.commands.options import add_options

    sub = add_group(commands, "data", "Datasets: import, versions, profile, redact, export.")
    data_import = add(sub, "import", cmd_import, "Import a CSV/TSV, JSONL, JSON, Parquet or Excel file as a "
                                                 "new dataset version.")
    data_import.add_argument("path")
    data_import.add_argument("--name", required=True, help="Dataset name; an existing name gets a new version.")
    data_import.add_argument("--skip-bad-rows", action="store_true", help="Skip malformed rows instead of refusing the file.")
    data_import.add_argument("--sheet", help="Excel sheet to read (default: the first).")
    data_import.add_argument("--description")
    add(sub, "list", cmd_list, "List datasets with their latest version.")
    data_show = add(sub, "show", cmd_show, "Show a dataset version (NAME or NAME@N) and its lineage.")
    data_show.add_argument("ref", metavar="NAME[@VERSION]")
    data_export = add(sub, "export", cmd_export, "Export a dataset version; CSV and Excel neutralise formulas.")
    data_export.add_argument("ref", metavar="NAME[@VERSION]")
    data_export.add_argument("--format", required=True, choices=["csv", "jsonl", "parquet", "xlsx"])
    data_export.add_argument("--out", required=True, help="File to write.")
    data_profile = add(sub, "profile", cmd_profile, "Profile a dataset version (cached per version).")
    data_profile.add_argument("ref", metavar="NAME[@VERSION]")
    add_options(data_profile, ProfileOptions)  # --tokenizer, --max-length, --sample-rows, --near-duplicate-threshold
    data_profile.add_argument("--refresh", action="store_true", help="Recompute instead of reading the cache.")
    data_redact = add(sub, "redact", cmd_redact, "Make a new version with PII replaced by typed placeholders.")
    data_redact.add_argument("ref", metavar="NAME[@VERSION]")
    data_redact.add_argument("--types", help="Comma-separated PII types (default: all): email,phone,credit_card,iban,ip_address,us_ssn")
    data_redact.add_argument("--columns", help="Comma-separated columns (default: every text column).")
    data_dedupe = add(sub, "dedupe", cmd_dedupe, "New version without repeated rows (first kept).")
    data_dedupe.add_argument("ref", metavar="NAME[@VERSION]")
    data_dedupe.add_argument("--column", help="Text to compare (default: the training text of the detected format).")
    data_dedupe.add_argument("--near", action="store_true", help="Also drop near-duplicates (MinHash, word 3-grams).")
    data_dedupe.add_argument("--threshold", type=float, default=0.8, help="Near-duplicate similarity threshold.")
    data_filter = add(sub, "filter", cmd_filter, "New version without the rows that break the fine-tuning "
                                                 "format (and, optionally, rows missing a value).")
    data_filter.add_argument("ref", metavar="NAME[@VERSION]")
    data_filter.add_argument("--keep-format-issues", action="store_true", help="Do not drop format problems.")
    data_filter.add_argument("--require", help="Comma-separated columns that must have a value.")
    data_split = add(sub, "split", cmd_split, "Seeded random train/evaluation split into two datasets.")
    data_split.add_argument("ref", metavar="NAME[@VERSION]")
    data_split.add_argument("--eval-share", type=float, default=0.1, help="Share of rows for evaluation (0-1).")
    data_split.add_argument("--seed", type=int, default=0)
    data_split.add_argument("--train-name", help="Default: NAME-train.")
    data_split.add_argument("--eval-name", help="Default: NAME-eval.")
    data_merge = add(sub, "merge", cmd_merge, "Stack several versions into a new dataset.")
    data_merge.add_argument("refs", nargs="+", metavar="NAME[@VERSION]")
    data_merge.add_argument("--name", required=True, help="Name of the merged dataset.")
    data_overlap = add(sub, "overlap", cmd_overlap, "Find evaluation rows that also appear in training data.")
    data_overlap.add_argument("train", metavar="TRAIN[@VERSION]")
    data_overlap.add_argument("eval", metavar="EVAL[@VERSION]")
    data_overlap.add_argument("--column", help="Column to compare (default: the training text of the detected format).")
    data_overlap.add_argument("--threshold", type=float, default=0.8, help="Near-duplicate similarity threshold.")
