"""Foundation: users, login sessions, audit log, model registry.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("role", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("email", sqlmodel.AutoString(length=254), nullable=True),
        sa.Column("password_hash", sqlmodel.AutoString(length=256), nullable=True),
        sa.Column("auth_provider", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_user_name", "user", ["name"], unique=True)
    op.create_index("ix_user_email", "user", ["email"])

    op.create_table(
        "loginsession",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=False),
        sa.Column("provider", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_loginsession_token_hash", "loginsession", ["token_hash"], unique=True)
    op.create_index("ix_loginsession_user_id", "loginsession", ["user_id"])

    op.create_table(
        "auditevent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("actor_role", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("action", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("target_type", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("target_id", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("detail", sqlmodel.AutoString(length=1000), nullable=True),
    )
    op.create_index("ix_auditevent_at", "auditevent", ["at"])
    op.create_index("ix_auditevent_actor", "auditevent", ["actor"])
    op.create_index("ix_auditevent_action", "auditevent", ["action"])
    op.create_index("ix_auditevent_target", "auditevent", ["target_type", "target_id"])

    op.create_table(
        "registeredmodel",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("kind", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("task", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("path", sqlmodel.AutoString(length=1024), nullable=True),
        sa.Column("source", sqlmodel.AutoString(length=1024), nullable=False),
        sa.Column("architecture", sqlmodel.AutoString(length=128), nullable=True),
        sa.Column("parameters", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("context_length", sa.Integer(), nullable=True),
        sa.Column("has_chat_template", sa.Boolean(), nullable=False),
        sa.Column("info", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
    )
    op.create_index("ix_registeredmodel_name", "registeredmodel", ["name"], unique=True)


def downgrade() -> None:
    op.drop_table("registeredmodel")
    op.drop_table("auditevent")
    op.drop_table("loginsession")
    op.drop_table("user")
