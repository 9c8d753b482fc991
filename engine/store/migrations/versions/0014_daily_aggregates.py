"""per-day supervision figures, open-task counts and entry lags, kept as steps commit

The dashboard for any period used to scan the period's work items and applications (5-15 s at a million
applications) and counted open tasks live on every view. These tables hold the same figures per day
(counts, duration histograms), the open tasks per node (with or without a limit, clock stopped or not), and the acceptance lags; the engine
fills existing databases once on ``init`` (engine.oversight.figures.backfill).

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_figures",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("process_key", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("figure", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), server_default="0", nullable=False),
        sa.Column("name", sa.String(length=256), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("day", "process_key", "subject", "figure", "bucket"),
    )
    op.create_table(
        "open_task_counts",
        sa.Column("process_key", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=128), nullable=False),
        sa.Column("has_limit", sa.Boolean(), nullable=False),
        sa.Column("clock_stopped", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("node_name", sa.String(length=256), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("process_key", "node_id", "has_limit", "clock_stopped"),
    )
    op.create_table(
        "entry_lags",
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("app_no", sa.String(length=32), nullable=False),
        sa.Column("process_key", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("first_contact_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("lag_hours", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.PrimaryKeyConstraint("application_id"),
    )
    op.create_index("ix_entry_lags_created_at", "entry_lags", ["created_at"])
    op.create_index("ix_entry_lags_lag", "entry_lags", ["lag_hours"])


def downgrade() -> None:
    op.drop_index("ix_entry_lags_lag", table_name="entry_lags")
    op.drop_index("ix_entry_lags_created_at", table_name="entry_lags")
    op.drop_table("entry_lags")
    op.drop_table("open_task_counts")
    op.drop_table("daily_figures")
