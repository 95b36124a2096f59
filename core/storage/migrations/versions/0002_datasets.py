"""Datasets, their immutable versions and lineage.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("description", sqlmodel.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
    )
    op.create_index("ix_dataset_name", "dataset", ["name"], unique=True)
    op.create_table(
        "datasetversion",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dataset_id", sa.Integer(), sa.ForeignKey("dataset.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("transformation", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("source", sqlmodel.AutoString(length=1024), nullable=False),
        sa.Column("source_sha256", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
    )
    op.create_index("ix_datasetversion_dataset_id", "datasetversion", ["dataset_id"])
    op.create_index("ix_datasetversion_sha256", "datasetversion", ["sha256"])
    op.create_index("ix_datasetversion_dataset_version", "datasetversion", ["dataset_id", "version"], unique=True)
    op.create_table(
        "datasetversionparent",
        sa.Column("child_id", sa.Integer(), sa.ForeignKey("datasetversion.id"), primary_key=True),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("datasetversion.id"), primary_key=True),
    )
    op.create_index("ix_datasetversionparent_parent_id", "datasetversionparent", ["parent_id"])


def downgrade() -> None:
    op.drop_table("datasetversionparent")
    op.drop_table("datasetversion")
    op.drop_table("dataset")
