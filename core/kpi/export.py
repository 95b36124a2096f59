"""The dashboard as CSV: one row per (part, period, group) with every KPI as a column; formulas neutralised."""
from __future__ import annotations

import csv
import io

from core.exports import neutralise_cell
from core.kpi import registry
from core.kpi.query import KpiReport


def report_rows(report: KpiReport) -> list[dict]:
    """Flat rows: part (overall, group, series), period, field, value, then the KPIs."""
    names = list(report.overall)
    rows = [{"part": "overall", "period": "", "field": "", "value": "", **report.overall}]
    for group in report.groups:
        (field, value), = group["by"].items()
        rows.append({"part": "group", "period": "", "field": field, "value": value, **group["kpis"]})
    for entry in report.series:
        field, value = next(iter(entry.get("by", {}).items()), ("", ""))
        rows.append({"part": "series", "period": entry["period"], "field": field, "value": value, **entry["kpis"]})
    return [{k: row.get(k) for k in ("part", "period", "field", "value", *names)} for row in rows]


def to_csv(report: KpiReport) -> str:
    rows = report_rows(report)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else neutralise_cell(v)) for k, v in row.items()})
    return buffer.getvalue()


def labels() -> dict[str, str]:
    return {name: spec.label for name, spec in registry.KPIS.items()}
