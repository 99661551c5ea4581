"""letters.values: what the process step that asked for a letter gave it (e.g. the request
for information it is for)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("letters") as batch:
        batch.add_column(sa.Column("values", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("letters") as batch:
        batch.drop_column("values")
