"""Comparison and pipeline runs record the process running them, so a run whose process was killed is marked failed.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("comparisonrun", "pipelinerun")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("pid", sa.Integer(), nullable=True))
        op.add_column(table, sa.Column("host", sqlmodel.AutoString(length=255), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("host")
            batch.drop_column("pid")
