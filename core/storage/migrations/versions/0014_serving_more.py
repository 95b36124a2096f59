"""Serving additions (issue 14 follow-up): the event's endpoint.

Revision ID: 0014
Revises: 0013

`inferenceevent.endpoint` says which API a call went through (chat, completions, embeddings), so readers of the
event log (KPIs, monitors, annotation sources) can tell an embedding call, which has no answer text, from a chat
answer. Nullable: events logged before, and from applications that do not say, keep NULL.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inferenceevent", sa.Column("endpoint", sqlmodel.AutoString(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inferenceevent") as batch:
        batch.drop_column("endpoint")
