"""Monitoring and KPI read-path additions (issues 15, 17).

EventTextStat: text fields derived once per event for monitors (lengths, token counts, language, personal data),
so a monitor run reads numbers instead of decoding every event's JSON input again (core/monitoring/text_fields.py).
KpiRollup.users and KpiUser: each rollup cell's distinct end users as a set of user numbers, so distinct users
come from rollups exactly (core/kpi/rollups.py); rollups written before this have no sets, so they are emptied
and rebuilt on the next read.

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
    op.create_table(
        "kpiuser",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sqlmodel.AutoString(length=256), nullable=False),
    )
    op.create_index("ix_kpiuser_user_id", "kpiuser", ["user_id"], unique=True)
    op.add_column("kpirollup", sa.Column("users", sa.LargeBinary(), nullable=True))
    op.create_index("ix_kpirollup_hour", "kpirollup", ["hour"])
    op.execute("DELETE FROM kpirollup")
    op.execute("DELETE FROM kpirollupstate")


def downgrade() -> None:
    op.drop_index("ix_kpirollup_hour", table_name="kpirollup")
    with op.batch_alter_table("kpirollup") as batch:
        batch.drop_column("users")
    op.execute("DELETE FROM kpirollupstate")
    op.drop_index("ix_kpiuser_user_id", table_name="kpiuser")
    op.drop_table("kpiuser")
    op.drop_table("eventtextstat")
