"""Monitoring and KPI read-path additions (issues 15, 17).

EventTextStat: text fields derived once per event for monitors (lengths, token counts, language, personal data),
so a monitor run reads numbers instead of decoding every event's JSON input again (core/monitoring/text_fields.py).

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eventtextstat",
        sa.Column("event_id", sa.Integer(), primary_key=True, autoincrement=False),
        *[sa.Column(name, sa.Integer(), nullable=True) for name in (
            "prompt_chars", "prompt_words", "output_chars", "output_words", "prompt_tokens", "output_tokens")],
        sa.Column("prompt_language", sqlmodel.AutoString(length=16), nullable=True),
        sa.Column("prompt_pii", sa.Boolean(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("eventtextstat")
