"""Evaluation: suites, cases, evaluation runs and results, release gates and model cards.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _s(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.AutoString(length=length), nullable=nullable)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "evalsuite",
        sa.Column("id", sa.Integer(), primary_key=True),
        _s("name", 128), sa.Column("version", sa.Integer(), nullable=False), _s("description", 2000, True),
        _s("prompt", 200, True), _s("dataset_version", 200, True),
        sa.Column("settings", sa.JSON(), nullable=False), sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False), _s("source", 32),
        _at("created_at"), _s("created_by", 64),
    )
    op.create_index("ix_evalsuite_name", "evalsuite", ["name"])
    op.create_index("ix_evalsuite_name_version", "evalsuite", ["name", "version"], unique=True)
    op.create_table(
        "evalcase",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("suite_id", sa.Integer(), sa.ForeignKey("evalsuite.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False), _s("description", 1000, True),
        sa.Column("variables", sa.JSON(), nullable=False), sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("checks", sa.JSON(), nullable=False),
    )
    op.create_index("ix_evalcase_suite_id", "evalcase", ["suite_id"])
    op.create_index("ix_evalcase_suite_index", "evalcase", ["suite_id", "position"], unique=True)
    op.create_table(
        "evalrun",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("suite_id", sa.Integer(), sa.ForeignKey("evalsuite.id"), nullable=False),
        _s("suite", 200), sa.Column("models", sa.JSON(), nullable=False), _s("baseline", 128, True),
        _s("judge", 128, True), _s("status", 16), sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False), sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True), _s("error", 2000, True),
        sa.Column("job_id", sa.Integer(), nullable=True), sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        _at("created_at"), _s("created_by", 64), _at("finished_at", True),
    )
    op.create_index("ix_evalrun_suite_id", "evalrun", ["suite_id"])
    op.create_index("ix_evalrun_status", "evalrun", ["status"])
    op.create_index("ix_evalrun_created_at", "evalrun", ["created_at"])
    op.create_table(
        "evalresult",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("evalrun.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False), _s("model", 128),
        sa.Column("output", sa.Text(), nullable=True), sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=True), sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True), sa.Column("checks", sa.JSON(), nullable=False),
        _s("error", 2000, True),
    )
    op.create_index("ix_evalresult_run_id", "evalresult", ["run_id"])
    op.create_index("ix_evalresult_run_model", "evalresult", ["run_id", "model"])
    op.create_table(
        "releasegate",
        sa.Column("id", sa.Integer(), primary_key=True),
        _s("deployment", 128), _s("suite", 200), sa.Column("rules", sa.JSON(), nullable=False),
        _s("judge", 128, True), _at("created_at"), _s("created_by", 64),
    )
    op.create_index("ix_releasegate_deployment", "releasegate", ["deployment"], unique=True)
    op.create_table(
        "gateresult",
        sa.Column("id", sa.Integer(), primary_key=True),
        _s("deployment", 128, True), sa.Column("deployment_version", sa.Integer(), nullable=True),
        _s("candidate", 128), _s("baseline", 128), _s("suite", 200),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("evalrun.id"), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False), sa.Column("rules", sa.JSON(), nullable=False),
        _s("summary", 2000), _s("override_by", 64, True), _s("override_reason", 2000, True), _at("override_at", True),
        _at("created_at"), _s("created_by", 64),
    )
    op.create_index("ix_gateresult_deployment", "gateresult", ["deployment"])
    op.create_index("ix_gateresult_created_at", "gateresult", ["created_at"])
    op.create_table(
        "modelcard",
        sa.Column("id", sa.Integer(), primary_key=True),
        _s("model", 128), _s("deployment", 128, True), sa.Column("deployment_version", sa.Integer(), nullable=True),
        sa.Column("intended_use", sa.Text(), nullable=True), sa.Column("limitations", sa.Text(), nullable=True),
        sa.Column("content", sa.JSON(), nullable=True), _at("frozen_at", True),
        _at("updated_at"), _s("updated_by", 64),
    )
    op.create_index("ix_modelcard_model", "modelcard", ["model"])
    op.create_index("ix_modelcard_subject", "modelcard", ["model", "deployment", "deployment_version"])


def downgrade() -> None:
    for table in ("modelcard", "gateresult", "releasegate", "evalresult", "evalrun", "evalcase", "evalsuite"):
        op.drop_table(table)
