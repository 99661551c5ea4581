"""process versions remember where they came from; designers' unsaved process files

A start deploys the processes/ folder only when it differs from the latest version that came
from the folder, so that it never deploys the folder back over a version a designer deployed
from the browser (`origin`). `process_drafts` keeps a designer's work on a file until it is
deployed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("process_versions") as batch:
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False,
                                   server_default="folder"))
    op.create_table(
        "process_drafts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("process_id", sa.String(128), nullable=True),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("based_on_version_id", sa.Integer(),
                  sa.ForeignKey("process_versions.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("file_name"),
    )


def downgrade():
    op.drop_table("process_drafts")
    with op.batch_alter_table("process_versions") as batch:
        batch.drop_column("origin")
