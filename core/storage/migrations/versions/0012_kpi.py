"""KPIs: targets per KPI, optionally per segment and deployment, over a rolling window.

KPIs themselves are SQL aggregates over `inferenceevent` (exact counts, sums, rates and percentiles), so no
rollup table is kept; see the README's KPIs section.

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


def downgrade() -> None:
    op.drop_index("ix_kpitarget_kpi", table_name="kpitarget")
    op.drop_table("kpitarget")
