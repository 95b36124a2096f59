"""Prompt pipelines: saved chains of steps where one step's output fills a variable of the steps after it.

A step either generates (a prompt template version filled from dataset columns and earlier steps, run by a
registered chat model over every row in one batched call) or scores (a registered metric). Definitions are
saved and audited; a run over a dataset version keeps every cell and per-step figures.
"""
from core.pipelines.definitions import (
    PipelineInfo,
    count_pipelines,
    delete_pipeline,
    get_pipeline,
    list_pipelines,
    resolve_templates,
    save_pipeline,
    validate_pipeline_name,
)
from core.pipelines.runs import (
    DEFAULT_ROWS,
    EXPORT_FORMATS,
    MAX_ROWS,
    RunInfo,
    StepOutput,
    export_file_name,
    export_run,
    get_run,
    list_runs,
    outputs_frame,
    check_pipeline_run,
    run_inputs,
    run_of_job,
    run_pipeline,
    step_prompt,
)
from core.pipelines.steps import KINDS, MAX_STEPS, Step, check_steps, parse_source, parse_steps

__all__ = [
    "DEFAULT_ROWS", "EXPORT_FORMATS", "KINDS", "MAX_ROWS", "MAX_STEPS", "PipelineInfo", "RunInfo", "Step", "StepOutput",
    "check_steps", "count_pipelines", "delete_pipeline", "export_file_name", "export_run", "get_pipeline", "get_run",
    "list_pipelines", "list_runs", "outputs_frame", "parse_source", "parse_steps", "resolve_templates",
    "run_inputs", "run_of_job", "run_pipeline", "check_pipeline_run", "save_pipeline", "step_prompt", "validate_pipeline_name",
]
