"""KPIs: targets per KPI, optionally per segment and deployment, over a rolling window.

Rollups: sums of one hour of events per model x deployment x version x application, for all traffic and per
metadata value, with log-bucket latency sketches; and how far they have read (see core/kpi/rollups.py).

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpitarget",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kpi", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("comparison", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("deployment", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("window_hours", sa.Integer(), nullable=False),
        sa.Column("severity", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("note", sqlmodel.AutoString(length=1000), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sqlmodel.AutoString(length=64), nullable=False),
    )
    op.create_index("ix_kpitarget_kpi", "kpitarget", ["kpi"])

    op.create_table(
        "kpirollup",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("grain", sqlmodel.AutoString(length=8), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("deployment", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("deployment_version", sa.Integer(), nullable=False),
        sa.Column("application", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("key", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("value", sqlmodel.AutoString(length=256), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in (
            "requests", "errors", "rate_limited", "tokens_in", "tokens_out")],
        sa.Column("cost", sa.Float(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in ("cost_n", "feedback_count", "thumbs_up")],
        sa.Column("score_sum", sa.Float(), nullable=False),
        sa.Column("guard_incidents", sa.Integer(), nullable=False),
        sa.Column("latency_n", sa.Integer(), nullable=False),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("ttft_n", sa.Integer(), nullable=False),
        sa.Column("ttft_sum", sa.Float(), nullable=False),
        sa.Column("latency_sketch", sa.JSON(), nullable=False),
        sa.Column("ttft_sketch", sa.JSON(), nullable=False),
    )
    op.create_index("ix_kpirollup_cell", "kpirollup", ["grain", "key", "hour", "model", "deployment",
                                                       "deployment_version", "application", "value"], unique=True)
    op.create_table(
        "kpirollupstate",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("last_audit_id", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kpirollupstate")
    op.drop_index("ix_kpirollup_cell", table_name="kpirollup")
    op.drop_table("kpirollup")
    op.drop_index("ix_kpitarget_kpi", table_name="kpitarget")
    op.drop_table("kpitarget")
