"""the case lifecycle: why, when and by whom a case was suspended, resumed, withdrawn or terminated

A suspended case remembers the status it resumes to (running, or error when it was suspended while in
error). Corrections need no column: the audit trail records each one, before and after.

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("status_changed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("status_changed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("resume_status", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_column("resume_status")
        batch_op.drop_column("status_changed_by")
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("status_reason")
