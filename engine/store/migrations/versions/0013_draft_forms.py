"""draft forms and deleted drafts: a draft keeps its own form definitions; a deleted draft is kept as a record

Revision ID: 0013
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_drafts") as batch:
        batch.add_column(sa.Column("forms_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("deleted_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("process_drafts") as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("deleted_by")
        batch.drop_column("forms_json")
