"""SQLModel tables. Singular names; every change to them comes with an Alembic migration."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC; SQLModel stores it as UTC and hands it back aware, on SQLite too."""
    return datetime.now(timezone.utc)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    role: str = Field(max_length=32)
    email: str | None = Field(default=None, max_length=254, index=True)
    # Null for accounts that log in through OpenID Connect only.
    password_hash: str | None = Field(default=None, max_length=256)
    auth_provider: str = Field(default="local", max_length=16)
    active: bool = Field(default=True)
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class LoginSession(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Only the hash of the token is stored, so a copy of the database does not log anyone in.
    token_hash: str = Field(index=True, unique=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    provider: str = Field(default="local", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    __table_args__ = (Index("ix_auditevent_target", "target_type", "target_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=64, index=True)
    actor_role: str = Field(max_length=32)
    action: str = Field(max_length=64, index=True)
    target_type: str = Field(max_length=32)
    target_id: str = Field(max_length=128)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    detail: str | None = Field(default=None, max_length=1000)
    # Set when a process acted for the user (`actor`): "worker", "job:12", "login"; None for the user's own action.
    via: str | None = Field(default=None, max_length=64)


class RegisteredModel(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=128)
    kind: str = Field(max_length=32)  # bundled, hf_local, hf_hub, gguf, openai, adapter
    task: str = Field(max_length=32)  # chat, embedding
    path: str | None = Field(default=None, max_length=1024)
    source: str = Field(max_length=1024)
    architecture: str | None = Field(default=None, max_length=128)
    parameters: int | None = None
    size_bytes: int | None = None
    context_length: int | None = None
    has_chat_template: bool = Field(default=False)
    info: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)


class Dataset(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)


class DatasetVersion(SQLModel, table=True):
    """An immutable version: its rows live in a content-addressed Parquet file named by `sha256`."""

    __table_args__ = (Index("ix_datasetversion_dataset_version", "dataset_id", "version", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True)
    version: int
    sha256: str = Field(index=True, max_length=64)
    rows: int
    columns: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    size_bytes: int
    transformation: str = Field(max_length=32)  # import, redact, filter, split, dedupe, merge
    source: str = Field(max_length=1024)  # the uploaded file's name, or what the parents were
    source_sha256: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    stats: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)


class DatasetVersionParent(SQLModel, table=True):
    """Lineage edges: a version made from one parent (redact, filter, split...) or several (merge)."""

    child_id: int = Field(foreign_key="datasetversion.id", primary_key=True)
    parent_id: int = Field(foreign_key="datasetversion.id", primary_key=True, index=True)


class PromptTemplate(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)


class PromptVersion(SQLModel, table=True):
    """An immutable version of a template: a Jinja2 user message and an optional system prompt."""

    __table_args__ = (Index("ix_promptversion_template_version", "template_id", "version", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="prompttemplate.id", index=True)
    version: int
    body: str = Field(sa_column=Column(Text, nullable=False))
    system: str | None = Field(default=None, sa_column=Column(Text))
    variables: list[str] = Field(sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)


class PromptLabel(SQLModel, table=True):
    """A movable name for one version of a template, such as `production`."""

    __table_args__ = (Index("ix_promptlabel_template_label", "template_id", "label", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="prompttemplate.id", index=True)
    label: str = Field(max_length=64)
    version_id: int = Field(foreign_key="promptversion.id")
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(max_length=64)


class ComparisonRun(SQLModel, table=True):
    """A grid of prompt versions x models over typed inputs or rows of a dataset version, with every setting."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    status: str = Field(max_length=16, index=True)  # running, succeeded, failed
    prompts: list[str] = Field(sa_column=Column(JSON, nullable=False))  # ["template@version", ...]
    models: list[str] = Field(sa_column=Column(JSON, nullable=False))
    settings: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # generation settings, metrics
    dataset_version: str | None = Field(default=None, max_length=200)  # "name@N", or None for typed inputs
    reference_column: str | None = Field(default=None, max_length=200)
    rows: int = 0
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    created_by: str = Field(max_length=64, index=True)
    finished_at: datetime | None = None
    pid: int | None = None  # the process generating it while running, so a killed one is found out
    host: str | None = Field(default=None, max_length=255)
    job_id: int | None = Field(default=None, index=True)  # the job that ran it (None: run in the asking process)


class ComparisonCell(SQLModel, table=True):
    """One output: input row x prompt version x model."""

    __table_args__ = (Index("ix_comparisoncell_run_row", "run_id", "row_index"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="comparisonrun.id", index=True)
    row_index: int
    prompt: str = Field(max_length=200)
    model: str = Field(max_length=128)
    variables: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    messages: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    reference: str | None = Field(default=None, sa_column=Column(Text))
    output: str | None = Field(default=None, sa_column=Column(Text))
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    cost_usd: float | None = None
    finish_reason: str | None = Field(default=None, max_length=32)
    scores: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, max_length=2000)


class Pipeline(SQLModel, table=True):
    """A saved chain of steps; each step's output fills a variable of the steps after it."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    steps: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(max_length=64)


class PipelineRun(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    pipeline_id: int = Field(foreign_key="pipeline.id", index=True)
    steps: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # the definition as it ran
    dataset_version: str = Field(max_length=200)
    rows: int = 0
    settings: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=16, index=True)  # running, succeeded, failed
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # per-step figures
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    created_by: str = Field(max_length=64)
    finished_at: datetime | None = None
    pid: int | None = None  # the process running it while running, so a killed one is found out
    host: str | None = Field(default=None, max_length=255)
    job_id: int | None = Field(default=None, index=True)  # the job that ran it (None: run in the asking process)


class PipelineOutput(SQLModel, table=True):
    """One step's result for one input row."""

    __table_args__ = (Index("ix_pipelineoutput_run_row", "run_id", "row_index"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="pipelinerun.id", index=True)
    row_index: int
    step_index: int
    step_name: str = Field(max_length=128)
    output: str | None = Field(default=None, sa_column=Column(Text))
    value: float | None = None  # a metric step's number
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    error: str | None = Field(default=None, max_length=2000)


class Job(SQLModel, table=True):
    """A long piece of work: this row, a run folder and an operating-system process (or a Ray job)."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)  # a registered kind: finetune, compare, pipeline (core/jobs/kinds.py)
    name: str = Field(max_length=200)
    status: str = Field(max_length=16, index=True)  # queued, running, succeeded, failed, cancelled, interrupted
    config: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    run_dir: str = Field(max_length=1024)
    gpus: int = 0  # GPUs asked for; 0 runs on CPU
    devices: list[int] | None = Field(default=None, sa_column=Column(JSON))  # GPU indices it was given
    launcher: str = Field(default="local", max_length=16)  # local, ray
    external_id: str | None = Field(default=None, max_length=200)  # the Ray submission id
    pid: int | None = None
    host: str | None = Field(default=None, max_length=255)
    step: int = 0
    max_steps: int | None = None
    attempt: int = 0  # how many times a process was started for it
    resume: bool = False  # the next start continues from the last complete checkpoint
    cancel_requested: bool = False
    sweep_id: str | None = Field(default=None, max_length=64, index=True)
    metrics: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # latest loss, eval loss, tokens/s
    note: str | None = Field(default=None, max_length=200)  # what it is doing now, e.g. "model 2 of 3: qwen"
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # e.g. {"comparison_run": 12}
    error: str | None = Field(default=None, max_length=2000)
    adapter_path: str | None = Field(default=None, max_length=1024)
    model: str | None = Field(default=None, max_length=128)  # the adapter's registered name
    created_at: datetime = Field(default_factory=utcnow, index=True)
    created_by: str = Field(max_length=64, index=True)
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    finished_at: datetime | None = None


class InferenceEvent(SQLModel, table=True):
    """One model call in production, from the server, the SDK call, HTTP or a file (core/events).

    Written in bulk through the database's fast path (executemany on SQLite, COPY on PostgreSQL), never one ORM
    object per row; dashboards read SQL aggregates over the (column, time) indexes below.
    """

    __table_args__ = (
        Index("ix_inferenceevent_model_time", "model", "time"),
        Index("ix_inferenceevent_deployment_time", "deployment", "time"),
        Index("ix_inferenceevent_application_time", "application", "time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=40, unique=True, index=True)  # public id, "evt_<hex>"
    response_id: str | None = Field(default=None, max_length=128, index=True)  # the server's "chatcmpl-..." id
    time: datetime = Field(default_factory=utcnow, index=True)
    deployment: str | None = Field(default=None, max_length=128)
    deployment_version: int | None = None
    arm: str | None = Field(default=None, max_length=32)  # the A/B arm that served it, or "fallback"
    model: str = Field(max_length=128)
    adapter: str | None = Field(default=None, max_length=128)
    template_version: str | None = Field(default=None, max_length=200)  # "ticket-reply@2"
    application: str | None = Field(default=None, max_length=128)  # the API key's name
    user_id: str | None = Field(default=None, max_length=256)  # the end user
    input: Any = Field(default=None, sa_column=Column(JSON))  # chat messages, or {"prompt": ...}
    output: str | None = Field(default=None, sa_column=Column(Text))
    finish_reason: str | None = Field(default=None, max_length=32)
    latency_s: float | None = None
    ttft_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None  # USD
    status: str = Field(default="ok", max_length=16)  # ok, error, rate_limited
    error: str | None = Field(default=None, sa_column=Column(Text))
    feedback_score: float | None = None  # end-user thumbs 1.0 / 0.0, or a score
    feedback_comment: str | None = Field(default=None, sa_column=Column(Text))
    feedback_at: datetime | None = None
    meta: dict[str, Any] | None = Field(default=None, sa_column=Column("metadata", JSON))  # segment, region...
    guard_flags: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    source: str = Field(default="sdk", max_length=16)  # server, sdk, http, file, demo
    # The API the call went through: chat, completions or embeddings (None: not recorded; read it from `input`).
    endpoint: str | None = Field(default=None, max_length=16)


class IngestedFile(SQLModel, table=True):
    """The content hash of every event file ingested, so the same content is never ingested twice."""

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=1024)
    events: int
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)


# --- Serving (migration 0009): API keys, deployments and their versions ---


class ApiKey(SQLModel, table=True):
    """An application's key for `workbench serve`: only its SHA-256 is kept; its name is the events' application."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True, index=True)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    prefix: str = Field(max_length=16)  # the key's first characters, to tell keys apart in a list
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))  # chat, embeddings, events, feedback
    models: list[str] | None = Field(default=None, sa_column=Column(JSON))  # None: every model and deployment
    rate_limit_per_min: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=64)


class Deployment(SQLModel, table=True):
    """A named pointer that requests may give as `model`; `current_version` serves, `candidate_version` may take a
    share of the traffic (A/B, sticky per end user)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True, index=True)
    current_version: int | None = None
    candidate_version: int | None = None
    candidate_weight: float = 0.0  # share of end users sent to the candidate, 0..1
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)


class DeploymentVersion(SQLModel, table=True):
    __table_args__ = (Index("ix_deploymentversion_deployment_version", "deployment_id", "version", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    deployment_id: int = Field(foreign_key="deployment.id", index=True)
    version: int
    model: str = Field(max_length=128)  # a registered model or adapter
    template: str | None = Field(default=None, max_length=200)  # "ticket-reply@production"
    defaults: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # temperature, max_tokens...
    guardrails: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # read by core.guardrails
    fallback_model: str | None = Field(default=None, max_length=128)
    timeout_s: float | None = None
    note: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)
    promoted_at: datetime | None = None
    promoted_by: str | None = Field(default=None, max_length=64)
    gate_result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # the promotion gate's verdict


# --- Monitoring (migration 0010): saved monitors, their runs and results, alerts, the embedding cache ---


class Monitor(SQLModel, table=True):
    """A saved comparison: a reference (dataset version or event range) against current windows of events."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    reference: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # {"kind": "dataset"|"events", ...}
    current: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # {"kind": "events", "window", "where"}
    fields: list[str] = Field(sa_column=Column(JSON, nullable=False))
    tests: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # field -> test name
    thresholds: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # field -> threshold
    min_windows: int = 1  # windows in a row over the threshold before an alert opens
    schedule: str = Field(default="daily", max_length=16)  # daily, weekly, manual
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)
    last_run_at: datetime | None = None


class MonitorRun(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    monitor_id: int = Field(foreign_key="monitor.id", index=True)
    status: str = Field(max_length=16)  # running, succeeded, failed
    windows: int = 0
    drifted_fields: list[str] | None = Field(default=None, sa_column=Column(JSON))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, max_length=2000)
    job_id: int | None = None
    created_by: str = Field(max_length=64)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class MonitorResult(SQLModel, table=True):
    """One field's test in one window of a monitor run; `details` holds the histograms / top categories drawn."""

    __table_args__ = (Index("ix_monitorresult_run_field", "run_id", "field"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="monitorrun.id", index=True)
    window_start: datetime
    window_end: datetime
    field: str = Field(max_length=128)
    kind: str = Field(max_length=16)  # numeric, categorical, text, embedding, rate
    test: str = Field(max_length=32)
    statistic: float | None = None
    p_value: float | None = None
    threshold: float
    drift_detected: bool
    reference_size: int
    current_size: int
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class Alert(SQLModel, table=True):
    """A drift or KPI alert. `open_source` equals `source` until it is resolved, so one source has one open alert."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # drift, kpi
    source: str = Field(max_length=128, index=True)  # "monitor:3", "kpi_target:2"
    open_source: str | None = Field(default=None, max_length=128, index=True, unique=True)
    title: str = Field(max_length=200)
    message: str = Field(max_length=2000)
    severity: str = Field(max_length=16)  # warning, critical
    status: str = Field(max_length=16, index=True)  # open, acknowledged, resolved
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    times_raised: int = 1
    opened_at: datetime = Field(default_factory=utcnow, index=True)
    last_raised_at: datetime = Field(default_factory=utcnow)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = None
    resolved_by: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)
    webhook_status: str | None = Field(default=None, max_length=200)


class EventEmbedding(SQLModel, table=True):
    """A prompt's or output's embedding, computed once per event (float16 bytes)."""

    event_id: int = Field(primary_key=True)  # InferenceEvent.id
    part: str = Field(primary_key=True, max_length=8)  # prompt, output
    model: str = Field(primary_key=True, max_length=64)
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class EventTextStat(SQLModel, table=True):
    """Text fields of one event derived once for monitors (core/monitoring/text_fields.py, migration 0017): the
    prompt's (last user message's) and the output's length in characters and words, token counts once a monitor
    first asks for them, and the prompt's language and personal-data flag once a sample first holds the event."""

    event_id: int = Field(primary_key=True)  # InferenceEvent.id
    prompt_chars: int | None = None  # None: the event has no prompt (or no output, for output_*)
    prompt_words: int | None = None
    output_chars: int | None = None
    output_words: int | None = None
    prompt_tokens: int | None = None  # the bundled chat model's tokenizer; None until first asked for
    output_tokens: int | None = None
    prompt_language: str | None = Field(default=None, max_length=16)
    prompt_pii: bool | None = None


class AnnotationProject(SQLModel, table=True):
    """Human feedback: model outputs from one source, a rating schema, guidelines and who rates (core/feedback)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    guidelines: str | None = Field(default=None, sa_column=Column(Text))  # Markdown, shown beside each item
    source_kind: str = Field(max_length=16)  # comparison, dataset, events
    source: str = Field(max_length=1024)  # "comparison 3 (pairs)", "tickets@2", "events 2026-11-01.. support-bot"
    source_params: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    questions: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    assignment: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # annotators, per_item, overlap
    allow_markdown: bool = Field(default=False)
    status: str = Field(default="open", max_length=16)  # open, closed
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)


class AnnotationItem(SQLModel, table=True):
    """One thing to rate: a prompt and one response (or two for pairwise, N for ranking), models kept here only."""

    __table_args__ = (Index("ix_annotationitem_project_position", "project_id", "position", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="annotationproject.id", index=True)
    position: int
    prompt: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # chat messages
    responses: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # text, model, prompt_version
    group_key: str | None = Field(default=None, max_length=200)  # items answering the same prompt share it
    reference: str | None = Field(default=None, sa_column=Column(Text))
    meta: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # cell ids, event id, row index


class AnnotationAssignment(SQLModel, table=True):
    """An item in one annotator's queue, with the order its responses are shown in to that annotator."""

    __table_args__ = (
        Index("ix_annotationassignment_item_annotator", "item_id", "annotator", unique=True),
        Index("ix_annotationassignment_queue", "project_id", "annotator", "status", "position"),
        Index("ix_annotationassignment_done", "project_id", "annotator", "done_at"),  # streak, pace (0015)
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="annotationproject.id", index=True)
    item_id: int = Field(foreign_key="annotationitem.id")
    annotator: str = Field(max_length=64)
    position: int  # the item's position, so every queue walks the items in the same order
    order: list[int] = Field(sa_column=Column(JSON, nullable=False))  # shown response i is item response order[i]
    status: str = Field(default="pending", max_length=16)  # pending, done, skipped, flagged
    note: str | None = Field(default=None, max_length=2000)  # the annotator's comment or flag reason
    seconds: float | None = None  # time spent on the item, summed over visits
    done_at: datetime | None = None


class Rating(SQLModel, table=True):
    """One answer: (item, annotator, question) is unique; a change updates the row in place (and is audited)."""

    __table_args__ = (
        Index("ix_rating_item_annotator_question", "item_id", "annotator", "question", unique=True),
        Index("ix_rating_project_question", "project_id", "question"),
        Index("ix_rating_project_updated", "project_id", "updated_at"),  # results' change key, time order (0015)
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="annotationproject.id")
    item_id: int = Field(foreign_key="annotationitem.id")
    annotator: str = Field(max_length=64, index=True)
    question: str = Field(max_length=64)
    value: Any = Field(default=None, sa_column=Column(JSON))  # in the item's own response order, never as shown
    revision: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AnnotationReview(SQLModel, table=True):
    """A reviewer's settled answer for an item and question where annotators disagreed."""

    __table_args__ = (Index("ix_annotationreview_item_question", "item_id", "question", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="annotationproject.id", index=True)
    item_id: int = Field(foreign_key="annotationitem.id")
    question: str = Field(max_length=64)
    value: Any = Field(default=None, sa_column=Column(JSON))
    reviewer: str = Field(max_length=64)
    note: str | None = Field(default=None, max_length=2000)
    at: datetime = Field(default_factory=utcnow)


# --- KPIs (migration 0012): targets managers set per KPI, optionally per segment and deployment ---


class KpiTarget(SQLModel, table=True):
    """A target for one KPI over a rolling window ("p95 latency at most 2 s over 24 h in segment claims").

    A failing target raises a "kpi" alert; every change is audited (core/kpi/targets.py).
    """

    id: int | None = Field(default=None, primary_key=True)
    kpi: str = Field(max_length=64, index=True)  # a name in core.kpi.registry
    comparison: str = Field(max_length=16)  # at_most, at_least
    threshold: float
    scope: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # metadata filter, e.g. {"segment": "claims"}
    deployment: str | None = Field(default=None, max_length=128)
    window_hours: int = 24  # the rolling window the value is computed over
    severity: str = Field(default="warning", max_length=16)  # the alert's: warning, critical
    note: str | None = Field(default=None, max_length=1000)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(max_length=64)


class KpiRollup(SQLModel, table=True):
    """Sums of one hour of events per model x deployment x version x application, for all traffic (key "") and
    per value of each metadata key; latencies as mergeable log-bucket sketches (core/kpi/rollups.py)."""

    __table_args__ = (
        Index("ix_kpirollup_cell", "grain", "key", "hour", "model", "deployment", "deployment_version",
              "application", "value", unique=True),
        Index("ix_kpirollup_hour", "hour"),  # a refresh replaces whole days (migration 0017)
    )

    id: int | None = Field(default=None, primary_key=True)
    grain: str = Field(max_length=8)  # "hour", or "day": the sum of that day's hours, read for whole-day periods
    hour: datetime  # the start of the hour (or day)
    model: str = Field(max_length=128)  # "" stands for none in every dimension, -1 for no version
    deployment: str = Field(max_length=128)
    deployment_version: int
    application: str = Field(max_length=128)
    key: str = Field(max_length=128)  # "" for all traffic, else a metadata key
    value: str = Field(max_length=256)
    requests: int = 0
    errors: int = 0
    rate_limited: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    cost_n: int = 0
    feedback_count: int = 0
    thumbs_up: int = 0
    score_sum: float = 0.0
    guard_incidents: int = 0
    latency_n: int = 0
    latency_sum: float = 0.0
    ttft_n: int = 0
    ttft_sum: float = 0.0
    latency_sketch: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # bucket -> count
    ttft_sketch: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # The cell's distinct end users: sorted KpiUser ids as little-endian uint32 (a union of cells is exact).
    users: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # migration 0017


class KpiUser(SQLModel, table=True):
    """End user ids numbered for the rollups' distinct-user sets (core/kpi/rollups.py, migration 0017)."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=256, unique=True, index=True)


class KpiRollupState(SQLModel, table=True):
    """How far the rollups have read: the last event row id and the last audited feedback change."""

    id: int | None = Field(default=None, primary_key=True)
    last_event_id: int = 0
    last_audit_id: int = 0
    refreshed_at: datetime = Field(default_factory=utcnow)


# --- Evaluation (migration 0013): suites and cases, evaluation runs and results, release gates, model cards ---


class EvalSuite(SQLModel, table=True):
    """An immutable version of a suite: its cases, a prompt template version and the checks run on every case."""

    __table_args__ = (Index("ix_evalsuite_name_version", "name", "version", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, index=True)
    version: int
    description: str | None = Field(default=None, max_length=2000)
    prompt: str | None = Field(default=None, max_length=200)  # "ticket-reply@2"; None: the input variable is the message
    dataset_version: str | None = Field(default=None, max_length=200)  # "support-tickets@1" the cases came from
    settings: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # input variable, reference column ...
    checks: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # [{"check", "params", "label"}]
    cases: int = 0
    source: str = Field(max_length=32)  # manual, dataset, promptfoo
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)


class EvalCase(SQLModel, table=True):
    __table_args__ = (Index("ix_evalcase_suite_index", "suite_id", "position", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    suite_id: int = Field(foreign_key="evalsuite.id", index=True)
    position: int
    description: str | None = Field(default=None, max_length=1000)
    variables: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    reference: str | None = Field(default=None, sa_column=Column(Text))
    checks: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # this case's own checks


class EvalRun(SQLModel, table=True):
    """A suite version answered by one or more models, every case's output and check results kept."""

    id: int | None = Field(default=None, primary_key=True)
    suite_id: int = Field(foreign_key="evalsuite.id", index=True)
    suite: str = Field(max_length=200)  # "name@version"
    models: list[str] = Field(sa_column=Column(JSON, nullable=False))
    baseline: str | None = Field(default=None, max_length=128)  # the model pairwise judging compares with
    judge: str | None = Field(default=None, max_length=128)
    status: str = Field(max_length=16, index=True)  # queued, running, succeeded, failed, cancelled
    settings: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    done: int = 0
    total: int = 0
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, max_length=2000)
    job_id: int | None = None
    cancel_requested: bool = False
    created_at: datetime = Field(default_factory=utcnow, index=True)
    created_by: str = Field(max_length=64)
    finished_at: datetime | None = None


class EvalResult(SQLModel, table=True):
    """One case answered by one model, with every check's value, verdict and explanation (judge reasons too)."""

    __table_args__ = (Index("ix_evalresult_run_model", "run_id", "model"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="evalrun.id", index=True)
    position: int
    model: str = Field(max_length=128)
    output: str | None = Field(default=None, sa_column=Column(Text))
    latency_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    checks: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, max_length=2000)


class ReleaseGate(SQLModel, table=True):
    """The gate a deployment's promotions must pass: a suite and rules comparing the candidate with the baseline."""

    id: int | None = Field(default=None, primary_key=True)
    deployment: str = Field(max_length=128, unique=True, index=True)
    suite: str = Field(max_length=200)
    rules: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    judge: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64)


class GateResult(SQLModel, table=True):
    """One gate evaluation: candidate vs baseline, each rule's figures, the verdict, and an admin's override."""

    id: int | None = Field(default=None, primary_key=True)
    deployment: str | None = Field(default=None, max_length=128, index=True)
    deployment_version: int | None = None
    candidate: str = Field(max_length=128)
    baseline: str = Field(max_length=128)
    suite: str = Field(max_length=200)
    run_id: int | None = Field(default=None, foreign_key="evalrun.id")
    passed: bool
    rules: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    summary: str = Field(max_length=2000)
    override_by: str | None = Field(default=None, max_length=64)
    override_reason: str | None = Field(default=None, max_length=2000)
    override_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    created_by: str = Field(max_length=64)


class ModelCard(SQLModel, table=True):
    """The editable parts of a model's card (intended use, limitations); a deployment version's card is frozen at
    promotion with everything the workbench knew then (`content`)."""

    __table_args__ = (Index("ix_modelcard_subject", "model", "deployment", "deployment_version"),)

    id: int | None = Field(default=None, primary_key=True)
    model: str = Field(max_length=128, index=True)
    deployment: str | None = Field(default=None, max_length=128)
    deployment_version: int | None = None
    intended_use: str | None = Field(default=None, sa_column=Column(Text))
    limitations: str | None = Field(default=None, sa_column=Column(Text))
    content: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # the frozen card
    frozen_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(max_length=64)
