"""Audit rows say when a process acted for a user (via), and login failures are recorded.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("auditevent", sa.Column("via", sqlmodel.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auditevent") as batch:
        batch.drop_column("via")
