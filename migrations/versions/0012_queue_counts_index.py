"""the deadline queue's counts, lights and groups from one read of one index

The (team, due) and (team, warning) indexes of running deadlines also hold the deadline key and
the process, so that one grouped read gives the counts per caseworker and the groups by team,
deadline and process; the separate index of 0011 for the groups goes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

QUEUED = "met_at IS NULL AND closed_at IS NULL AND paused_at IS NULL"


def _recreate(name: str, columns: list[str]) -> None:
    op.drop_index(name, table_name="case_deadlines")
    op.create_index(name, "case_deadlines", columns,
                    postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))


def upgrade():
    op.drop_index("ix_case_deadlines_team_running_key", table_name="case_deadlines")
    _recreate("ix_case_deadlines_team_running",
              ["team_id", "due_at", "responsible_id", "key", "process_id"])
    _recreate("ix_case_deadlines_team_warn",
              ["team_id", "warn_at", "due_at", "responsible_id", "key", "process_id"])


def downgrade():
    _recreate("ix_case_deadlines_team_warn", ["team_id", "warn_at", "due_at", "responsible_id"])
    _recreate("ix_case_deadlines_team_running", ["team_id", "due_at", "responsible_id"])
    op.create_index("ix_case_deadlines_team_running_key", "case_deadlines",
                    ["team_id", "key", "process_id", "due_at"],
                    postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))
