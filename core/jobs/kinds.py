"""The registry of job kinds: every long run (fine-tune, comparison, pipeline, and later evaluation, DPO, batch
inference, monitor runs) is a kind of the same lifecycle (core/jobs/queue.py) and is registered here, once.

A kind names the function its job process runs, `module:function`, called as `function(store, job, progress)`
inside `python -m core.jobs.run --job ID` (a fine-tune keeps its own entry, core.finetune.run, because it may
start under torchrun). The function reads its request from `job.config`, reports progress through
`progress(done, total, note)` (which raises `JobCancelled` once the job was cancelled, so the work stops at the
next report), and returns a small dict that is kept on the job (e.g. {"comparison_run": 12}); raising a
WorkbenchError fails the job with that sentence.

To add a kind: write the work as a plain core function, wrap it in a `run_job(store, job, progress)` in your own
package, and add one `JobKind(...)` line to `_BUILTIN` below. Nothing is imported until a job of that kind runs.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput
from core.governance.roles import Permission


@dataclass(frozen=True)
class JobKind:
    name: str  # stored on the Job row (max 32 characters)
    label: str  # what pages and the CLI call it
    run: str  # "package.module:function", run inside the job process
    permission: Permission  # who may submit, cancel and resume it
    resumable: bool = False  # a stopped job can continue from where it was (checkpoints)
    # Takes the whole machine when it has no GPU (a fine-tune uses every core); other kinds run beside it, a few at
    # a time, so a short comparison never waits behind an hour of training.
    exclusive: bool = False
    entry: str = "core.jobs.run"  # the module started as `python -m ENTRY --job ID`
    result_label: str = ""  # what the result id names, e.g. "comparison run"

    def function(self) -> Callable[..., dict[str, Any] | None]:
        module, _, name = self.run.partition(":")
        return getattr(importlib.import_module(module), name)


_BUILTIN = (
    JobKind("finetune", "Fine-tune", "core.finetune.run:run_job", Permission.LAUNCH_JOBS, resumable=True,
            exclusive=True, entry="core.finetune.run", result_label="adapter"),
    JobKind("compare", "Comparison", "core.compare.jobs:run_job", Permission.RUN_INFERENCE,
            result_label="comparison run"),
    JobKind("pipeline", "Pipeline run", "core.pipelines.jobs:run_job", Permission.RUN_INFERENCE,
            result_label="pipeline run"),
    JobKind("eval", "Evaluation", "core.evaluation.jobs:run_job", Permission.MANAGE_EVALUATIONS,
            result_label="evaluation run"),
    JobKind("monitor", "Monitor run", "core.monitoring.jobs:run_job", Permission.MANAGE_MONITORS,
            result_label="monitor run"),
    JobKind("annotate", "Annotation outputs", "core.feedback.jobs:run_job", Permission.MANAGE_FEEDBACK,
            result_label="annotation project"),
)

KINDS: dict[str, JobKind] = {kind.name: kind for kind in _BUILTIN}


def register(kind: JobKind) -> JobKind:
    """Adds a kind at run time (tests, plug-ins); a kind registered twice must be the same."""
    if kind.name in KINDS and KINDS[kind.name] != kind:
        raise ValueError(f"Job kind {kind.name!r} is already registered differently.")
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise InvalidInput(f"'{name}' is not a kind of job; the kinds are {', '.join(KINDS)}.") from None
