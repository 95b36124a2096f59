"""Every long run is a job: job kinds, progress and results for comparisons, pipelines and later kinds.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

RUN_TABLES = ("comparisonrun", "pipelinerun")


def upgrade() -> None:
    op.add_column("job", sa.Column("note", sqlmodel.AutoString(length=200), nullable=True))
    op.add_column("job", sa.Column("result", sa.JSON(), nullable=True))
    op.create_index(op.f("ix_job_kind"), "job", ["kind"], unique=False)
    for table in RUN_TABLES:
        op.add_column(table, sa.Column("job_id", sa.Integer(), nullable=True))
        op.create_index(op.f(f"ix_{table}_job_id"), table, ["job_id"], unique=False)


def downgrade() -> None:
    for table in RUN_TABLES:
        op.drop_index(op.f(f"ix_{table}_job_id"), table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("job_id")
    op.drop_index(op.f("ix_job_kind"), table_name="job")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("result")
        batch.drop_column("note")
