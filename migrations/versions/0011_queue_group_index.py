"""an index for the deadline queue grouped by deadline or process

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

QUEUED = "met_at IS NULL AND closed_at IS NULL AND paused_at IS NULL"


def upgrade():
    op.create_index("ix_case_deadlines_team_running_key", "case_deadlines",
                    ["team_id", "key", "process_id", "due_at"],
                    postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))


def downgrade():
    op.drop_index("ix_case_deadlines_team_running_key", table_name="case_deadlines")
