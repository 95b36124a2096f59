"""Prompt templates with immutable versions and labels; comparison runs and their cells; pipelines and their runs.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _who(prefix: str) -> list[sa.Column]:
    return [sa.Column(f"{prefix}_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column(f"{prefix}_by", sqlmodel.AutoString(length=64), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "prompttemplate",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("description", sqlmodel.AutoString(length=2000), nullable=True),
        *_who("created"),
    )
    op.create_index("ix_prompttemplate_name", "prompttemplate", ["name"], unique=True)
    op.create_table(
        "promptversion",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("template_id", sa.Integer(), sa.ForeignKey("prompttemplate.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("system", sa.Text(), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("note", sqlmodel.AutoString(length=1000), nullable=True),
        *_who("created"),
    )
    op.create_index("ix_promptversion_template_id", "promptversion", ["template_id"])
    op.create_index("ix_promptversion_template_version", "promptversion", ["template_id", "version"], unique=True)
    op.create_table(
        "promptlabel",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("template_id", sa.Integer(), sa.ForeignKey("prompttemplate.id"), nullable=False),
        sa.Column("label", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("promptversion.id"), nullable=False),
        *_who("updated"),
    )
    op.create_index("ix_promptlabel_template_id", "promptlabel", ["template_id"])
    op.create_index("ix_promptlabel_template_label", "promptlabel", ["template_id", "label"], unique=True)

    op.create_table(
        "comparisonrun",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("prompts", sa.JSON(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("dataset_version", sqlmodel.AutoString(length=200), nullable=True),
        sa.Column("reference_column", sqlmodel.AutoString(length=200), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.AutoString(length=2000), nullable=True),
        *_who("created"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_comparisonrun_status", "comparisonrun", ["status"])
    op.create_index("ix_comparisonrun_created_at", "comparisonrun", ["created_at"])
    op.create_index("ix_comparisonrun_created_by", "comparisonrun", ["created_by"])
    op.create_table(
        "comparisoncell",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("comparisonrun.id"), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("prompt", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("model", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("finish_reason", sqlmodel.AutoString(length=32), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=True),
        sa.Column("error", sqlmodel.AutoString(length=2000), nullable=True),
    )
    op.create_index("ix_comparisoncell_run_id", "comparisoncell", ["run_id"])
    op.create_index("ix_comparisoncell_run_row", "comparisoncell", ["run_id", "row_index"])

    op.create_table(
        "pipeline",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("description", sqlmodel.AutoString(length=2000), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        *_who("created"),
        *_who("updated"),
    )
    op.create_index("ix_pipeline_name", "pipeline", ["name"], unique=True)
    op.create_table(
        "pipelinerun",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pipeline_id", sa.Integer(), sa.ForeignKey("pipeline.id"), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("dataset_version", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sqlmodel.AutoString(length=2000), nullable=True),
        *_who("created"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_pipelinerun_pipeline_id", "pipelinerun", ["pipeline_id"])
    op.create_index("ix_pipelinerun_status", "pipelinerun", ["status"])
    op.create_index("ix_pipelinerun_created_at", "pipelinerun", ["created_at"])
    op.create_table(
        "pipelineoutput",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("pipelinerun.id"), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_name", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("error", sqlmodel.AutoString(length=2000), nullable=True),
    )
    op.create_index("ix_pipelineoutput_run_id", "pipelineoutput", ["run_id"])
    op.create_index("ix_pipelineoutput_run_row", "pipelineoutput", ["run_id", "row_index"])


def downgrade() -> None:
    for table in ("pipelineoutput", "pipelinerun", "pipeline", "comparisoncell", "comparisonrun",
                  "promptlabel", "promptversion", "prompttemplate"):
        op.drop_table(table)
