"""The inference event log: one row per model call, from the server, the SDK call, HTTP or files.

Revision ID: 0008
Revises: 0007

Indexes serve time windows and group-bys over tens of millions of rows: (time), (model, time),
(deployment, time), (application, time). The table is not partitioned on PostgreSQL: a partitioned table's
unique constraints must include the partition key, which the public `event_id` (unique on its own) cannot;
see the README's Events section.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inferenceevent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sqlmodel.AutoString(length=40), nullable=False),
        sa.Column("response_id", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deployment", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("deployment_version", sa.Integer(), nullable=True),
        sa.Column("arm", sqlmodel.AutoString(length=32), nullable=True),
        sa.Column("model", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("adapter", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("template_version", sqlmodel.AutoString(length=200), nullable=True),
        sa.Column("application", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("user_id", sqlmodel.AutoString(length=256), nullable=True),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("finish_reason", sqlmodel.AutoString(length=32), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("ttft_s", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("status", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("feedback_score", sa.Float(), nullable=True),
        sa.Column("feedback_comment", sa.Text(), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("guard_flags", sa.JSON(), nullable=True),
        sa.Column("source", sqlmodel.AutoString(length=16), nullable=False),
    )
    op.create_index("ix_inferenceevent_event_id", "inferenceevent", ["event_id"], unique=True)
    op.create_index("ix_inferenceevent_response_id", "inferenceevent", ["response_id"])
    op.create_index("ix_inferenceevent_time", "inferenceevent", ["time"])
    op.create_index("ix_inferenceevent_model_time", "inferenceevent", ["model", "time"])
    op.create_index("ix_inferenceevent_deployment_time", "inferenceevent", ["deployment", "time"])
    op.create_index("ix_inferenceevent_application_time", "inferenceevent", ["application", "time"])

    op.create_table(
        "ingestedfile",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.AutoString(length=1024), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
    )
    op.create_index("ix_ingestedfile_sha256", "ingestedfile", ["sha256"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_ingestedfile_sha256", table_name="ingestedfile")
    op.drop_table("ingestedfile")
    for name in ("application_time", "deployment_time", "model_time", "time", "response_id", "event_id"):
        op.drop_index(f"ix_inferenceevent_{name}", table_name="inferenceevent")
    op.drop_table("inferenceevent")
