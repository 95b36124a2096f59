"""Jobs: fine-tunes and other long work, each a row, a run folder and a process.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("run_dir", sqlmodel.AutoString(length=1024), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=True),
        sa.Column("launcher", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("external_id", sqlmodel.AutoString(length=200), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("host", sqlmodel.AutoString(length=255), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("max_steps", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("resume", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("sweep_id", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("error", sqlmodel.AutoString(length=2000), nullable=True),
        sa.Column("adapter_path", sqlmodel.AutoString(length=1024), nullable=True),
        sa.Column("model", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_job_status", "job", ["status"])
    op.create_index("ix_job_sweep_id", "job", ["sweep_id"])
    op.create_index("ix_job_created_at", "job", ["created_at"])
    op.create_index("ix_job_created_by", "job", ["created_by"])


def downgrade() -> None:
    op.drop_table("job")
