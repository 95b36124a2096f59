"""Reading a fine-tune's progress from its training log (run_dir/metrics.jsonl): seconds per step, the time left,
one value per step of a metric, and how two runs' configs differ. The page and the CLI both use these; the job's
step and total come from the job row (core/jobs/actions.progress), the pace from the log."""
from __future__ import annotations

import math
from typing import Any

from core.finetune.config import FIELDS, label_of
from core.jobs.queue import JobInfo


def seconds_per_step(rows: list[dict]) -> float | None:
    """From the training log rows of the latest attempt (time_s starts again at 0 when a job resumes)."""
    timed = [r for r in rows if isinstance(r.get("time_s"), (int, float)) and isinstance(r.get("step"), int)]
    segment: list[dict] = []
    for row in timed:
        if segment and row["time_s"] < segment[-1]["time_s"]:
            segment = []
        segment.append(row)
    if len(segment) < 2:
        return None
    first, last = segment[0], segment[-1]
    steps = last["step"] - first["step"]
    return (last["time_s"] - first["time_s"]) / steps if steps > 0 else None


def eta_seconds(job: JobInfo, rows: list[dict]) -> float | None:
    """Seconds left at the latest attempt's pace; None before two steps are logged."""
    pace = seconds_per_step(rows)
    if pace is None or not job.max_steps:
        return None
    return max(job.max_steps - job.step, 0) * pace


def metric_series(rows: list[dict], metric: str) -> tuple[list[int], list[float]]:
    """One value per step (a resumed job logs some steps twice: the latest wins); missing and NaN values skipped."""
    points: dict[int, float] = {}
    for row in rows:
        value = row.get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                and isinstance(row.get("step"), int):
            points[row["step"]] = float(value)
    steps = sorted(points)
    return steps, [points[s] for s in steps]


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "(none)"
    return f"{value:g}" if isinstance(value, float) else str(value)


def config_diff(a: JobInfo, b: JobInfo) -> list[dict[str, str]]:
    """The settings that differ between two runs, labelled as in the form."""
    names = list(FIELDS) + sorted((set(a.config) | set(b.config)) - set(FIELDS))
    rows = []
    for name in names:
        left, right = a.config.get(name), b.config.get(name)
        if left != right:
            rows.append({"Setting": label_of(name), f"Job {a.id}": _shown(left), f"Job {b.id}": _shown(right)})
    return rows
