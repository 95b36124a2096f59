"""Human feedback: annotation projects, items, assignments and ratings.

Revision ID: 0011
Revises: 0010

One rating per (item, annotator, question) is a unique index, so two processes submitting the same answer at
once make one row (the loser updates it in place), on SQLite and PostgreSQL alike.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _s(length: int):
    return sqlmodel.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "annotationproject",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", _s(128), nullable=False),
        sa.Column("description", _s(2000), nullable=True),
        sa.Column("guidelines", sa.Text(), nullable=True),
        sa.Column("source_kind", _s(16), nullable=False),
        sa.Column("source", _s(1024), nullable=False),
        sa.Column("source_params", sa.JSON(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("assignment", sa.JSON(), nullable=False),
        sa.Column("allow_markdown", sa.Boolean(), nullable=False),
        sa.Column("status", _s(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", _s(64), nullable=False),
    )
    op.create_index("ix_annotationproject_name", "annotationproject", ["name"], unique=True)

    op.create_table(
        "annotationitem",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("annotationproject.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.JSON(), nullable=False),
        sa.Column("responses", sa.JSON(), nullable=False),
        sa.Column("group_key", _s(200), nullable=True),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=True),
    )
    op.create_index("ix_annotationitem_project_id", "annotationitem", ["project_id"])
    op.create_index("ix_annotationitem_project_position", "annotationitem", ["project_id", "position"], unique=True)

    op.create_table(
        "annotationassignment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("annotationproject.id"), nullable=False),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("annotationitem.id"), nullable=False),
        sa.Column("annotator", _s(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("order", sa.JSON(), nullable=False),
        sa.Column("status", _s(16), nullable=False),
        sa.Column("note", _s(2000), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_annotationassignment_project_id", "annotationassignment", ["project_id"])
    op.create_index("ix_annotationassignment_item_annotator", "annotationassignment", ["item_id", "annotator"],
                    unique=True)
    op.create_index("ix_annotationassignment_queue", "annotationassignment",
                    ["project_id", "annotator", "status", "position"])

    op.create_table(
        "rating",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("annotationproject.id"), nullable=False),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("annotationitem.id"), nullable=False),
        sa.Column("annotator", _s(64), nullable=False),
        sa.Column("question", _s(64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_rating_annotator", "rating", ["annotator"])
    op.create_index("ix_rating_item_annotator_question", "rating", ["item_id", "annotator", "question"], unique=True)
    op.create_index("ix_rating_project_question", "rating", ["project_id", "question"])

    op.create_table(
        "annotationreview",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("annotationproject.id"), nullable=False),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("annotationitem.id"), nullable=False),
        sa.Column("question", _s(64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("reviewer", _s(64), nullable=False),
        sa.Column("note", _s(2000), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_annotationreview_project_id", "annotationreview", ["project_id"])
    op.create_index("ix_annotationreview_item_question", "annotationreview", ["item_id", "question"], unique=True)


def downgrade() -> None:
    for table in ("annotationreview", "rating", "annotationassignment", "annotationitem", "annotationproject"):
        op.drop_table(table)
