"""deadline lifecycle (reminders, breach, pause, responsible) and calendar feeds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RUNNING = "met_at IS NULL AND closed_at IS NULL"
QUEUED = RUNNING + " AND paused_at IS NULL"


def upgrade():
    with op.batch_alter_table("case_deadlines") as batch:
        batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("process_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("responsible_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("warn_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("paused_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("pause_reason", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("reminders_sent", sa.Integer(), server_default="0",
                                   nullable=False))
        batch.add_column(sa.Column("reminded_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("breached_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("next_check_at", sa.DateTime(), nullable=True))
    # Rows of the earlier schema: copy team, process and caseworker from their case; the
    # watcher looks at them at once and works out their reminders.
    op.execute("""
        UPDATE case_deadlines SET
          team_id = (SELECT team_id FROM cases WHERE cases.id = case_deadlines.case_id),
          process_id = (SELECT process_id FROM cases WHERE cases.id = case_deadlines.case_id),
          responsible_id = (SELECT caseworker_id FROM cases
                            WHERE cases.id = case_deadlines.case_id),
          warn_at = due_at,
          next_check_at = CASE WHEN met_at IS NULL THEN due_at END
    """)
    with op.batch_alter_table("case_deadlines") as batch:
        batch.alter_column("team_id", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("process_id", existing_type=sa.String(length=128), nullable=False)
        batch.alter_column("warn_at", existing_type=sa.DateTime(), nullable=False)
        batch.create_foreign_key("fk_case_deadlines_team_id", "teams", ["team_id"], ["id"])
        batch.create_foreign_key("fk_case_deadlines_responsible_id", "users",
                                 ["responsible_id"], ["id"])
    op.create_index("ix_case_deadlines_next_check_at", "case_deadlines", ["next_check_at"])
    op.create_index("ix_case_deadlines_team_running", "case_deadlines",
                    ["team_id", "due_at", "responsible_id"],
                    postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))
    op.create_index("ix_case_deadlines_team_warn", "case_deadlines",
                    ["team_id", "warn_at", "due_at", "responsible_id"],
                    postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))
    op.create_index("ix_case_deadlines_responsible_running", "case_deadlines",
                    ["responsible_id", "due_at"],
                    postgresql_where=sa.text(RUNNING), sqlite_where=sa.text(RUNNING))
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
        sa.UniqueConstraint("user_id"),
    )


def downgrade():
    op.drop_table("calendar_feeds")
    op.drop_index("ix_case_deadlines_responsible_running", table_name="case_deadlines")
    op.drop_index("ix_case_deadlines_team_warn", table_name="case_deadlines")
    op.drop_index("ix_case_deadlines_team_running", table_name="case_deadlines")
    op.drop_index("ix_case_deadlines_next_check_at", table_name="case_deadlines")
    with op.batch_alter_table("case_deadlines") as batch:
        batch.drop_constraint("fk_case_deadlines_responsible_id", type_="foreignkey")
        batch.drop_constraint("fk_case_deadlines_team_id", type_="foreignkey")
        for column in ("next_check_at", "closed_at", "breached_at", "reminded_at",
                       "reminders_sent", "pause_reason", "paused_at", "warn_at",
                       "responsible_id", "process_id", "team_id"):
            batch.drop_column(column)
