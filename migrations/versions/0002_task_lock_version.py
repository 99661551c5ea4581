"""task rows get a version counter

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("lock_version", sa.Integer(), nullable=False,
                                   server_default="1"))


def downgrade():
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("lock_version")
