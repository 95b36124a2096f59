"""Monitoring: saved monitors, their runs, the alert list and the embedding cache.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("description", sqlmodel.AutoString(length=2000), nullable=True),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("current", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("tests", sa.JSON(), nullable=True),
        sa.Column("thresholds", sa.JSON(), nullable=True),
        sa.Column("min_windows", sa.Integer(), nullable=False),
        sa.Column("schedule", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_monitor_name", "monitor", ["name"], unique=True)
    op.create_table(
        "monitorrun",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("monitor_id", sa.Integer(), sa.ForeignKey("monitor.id"), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("windows", sa.Integer(), nullable=False),
        sa.Column("drifted_fields", sa.JSON(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("error", sqlmodel.AutoString(length=2000), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_monitorrun_monitor_id", "monitorrun", ["monitor_id"])
    op.create_table(
        "monitorresult",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("monitorrun.id"), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("field", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("kind", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("test", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("statistic", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("drift_detected", sa.Boolean(), nullable=False),
        sa.Column("reference_size", sa.Integer(), nullable=False),
        sa.Column("current_size", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
    )
    op.create_index("ix_monitorresult_run_id", "monitorresult", ["run_id"])
    op.create_index("ix_monitorresult_run_field", "monitorresult", ["run_id", "field"])
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("source", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("open_source", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("title", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("message", sqlmodel.AutoString(length=2000), nullable=False),
        sa.Column("severity", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("times_raised", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("note", sqlmodel.AutoString(length=2000), nullable=True),
        sa.Column("webhook_status", sqlmodel.AutoString(length=200), nullable=True),
    )
    op.create_index("ix_alert_source", "alert", ["source"])
    op.create_index("ix_alert_open_source", "alert", ["open_source"], unique=True)
    op.create_index("ix_alert_status", "alert", ["status"])
    op.create_index("ix_alert_opened_at", "alert", ["opened_at"])
    op.create_table(
        "eventembedding",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("part", sqlmodel.AutoString(length=8), nullable=False),
        sa.Column("model", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "part", "model"),
    )


def downgrade() -> None:
    op.drop_table("eventembedding")
    op.drop_table("alert")
    op.drop_table("monitorresult")
    op.drop_table("monitorrun")
    op.drop_table("monitor")
