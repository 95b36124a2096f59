"""Serving: API keys (hashed) and deployments with their versions and traffic split.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apikey",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("key_hash", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("prefix", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=True),
        sa.Column("rate_limit_per_min", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sqlmodel.AutoString(length=64), nullable=True),
    )
    op.create_index("ix_apikey_name", "apikey", ["name"], unique=True)
    op.create_index("ix_apikey_key_hash", "apikey", ["key_hash"], unique=True)

    op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=True),
        sa.Column("candidate_version", sa.Integer(), nullable=True),
        sa.Column("candidate_weight", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
    )
    op.create_index("ix_deployment_name", "deployment", ["name"], unique=True)

    op.create_table(
        "deploymentversion",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deployment_id", sa.Integer(), sa.ForeignKey("deployment.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("model", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("template", sqlmodel.AutoString(length=200), nullable=True),
        sa.Column("defaults", sa.JSON(), nullable=True),
        sa.Column("guardrails", sa.JSON(), nullable=True),
        sa.Column("fallback_model", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("timeout_s", sa.Float(), nullable=True),
        sa.Column("note", sqlmodel.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_by", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("gate_result", sa.JSON(), nullable=True),
    )
    op.create_index("ix_deploymentversion_deployment_id", "deploymentversion", ["deployment_id"])
    op.create_index("ix_deploymentversion_deployment_version", "deploymentversion", ["deployment_id", "version"],
                    unique=True)


def downgrade() -> None:
    op.drop_table("deploymentversion")
    op.drop_table("deployment")
    op.drop_table("apikey")
