"""kept figures reshaped: every figure per day and per month, open tasks by the day they fall due

0014 kept the supervision figures per day (duration histograms also per month), keyed by day first: a year's
dashboard at a million applications read every histogram row of the year to use a few (2.7 s), and the open
tasks still scanned every overdue work item. Now ``figure_counts`` holds each figure twice, for its day
(span ``d``) and for its month (span ``m``), keyed by span, figure and day so that a period reads its whole
months and its other days as a few index ranges; sequence flows taken are a figure too. ``open_task_counts``
also keys the open tasks by the day they fall due (0001-01-01 without a limit), so overdue ones are counted
from it. The day rows are copied, the month rows added up from them, the open tasks counted once.

Revision ID: 0018
Revises: 0017
"""
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

NO_DUE_DAY = "0001-01-01"


def _month(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"CAST(date_trunc('month', {column}) AS DATE)"
    return f"date({column}, 'start of month')"


def _day(dialect: str, column: str) -> str:
    return f"CAST({column} AS DATE)" if dialect == "postgresql" else f"date({column})"


def _open_counts(with_due_day: bool) -> None:
    columns: list[sa.Column[Any]] = [
        sa.Column("process_key", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=128), nullable=False),
        sa.Column("has_limit", sa.Boolean(), nullable=False),
        sa.Column("clock_stopped", sa.Boolean(), nullable=False),
    ]
    key = ["process_key", "node_id", "has_limit", "clock_stopped"]
    if with_due_day:
        columns.append(sa.Column("due_day", sa.Date(), nullable=False))
        key.append("due_day")
    op.create_table("open_task_counts", *columns,
                    sa.Column("count", sa.Integer(), nullable=False),
                    sa.Column("node_name", sa.String(length=256), server_default="", nullable=False),
                    sa.PrimaryKeyConstraint(*key))


def _count_open_tasks(dialect: str, with_due_day: bool) -> None:
    stopped = "COALESCE(clock_stopped, FALSE)" if dialect == "postgresql" else "COALESCE(clock_stopped, 0)"
    limited = "(due_at IS NOT NULL)"
    due = f", COALESCE({_day(dialect, 'due_at')}, '{NO_DUE_DAY}')" if with_due_day else ""
    due_column = ", due_day" if with_due_day else ""
    op.execute(f"INSERT INTO open_task_counts (process_key, node_id, has_limit, clock_stopped{due_column}, count, "
               f"node_name) SELECT process_key, node_id, {limited}, {stopped}{due}, COUNT(*), MAX(node_name) "
               f"FROM work_items WHERE status = 'ready' GROUP BY process_key, node_id, {limited}, {stopped}{due}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "figure_counts",
        sa.Column("span", sa.String(length=1), nullable=False),
        sa.Column("figure", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("process_key", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), server_default="0", nullable=False),
        sa.Column("name", sa.String(length=256), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("span", "figure", "day", "process_key", "subject", "bucket"),
    )
    columns = "span, figure, day, process_key, subject, bucket, count, total, name"
    op.execute(f"INSERT INTO figure_counts ({columns}) SELECT 'd', figure, day, process_key, subject, bucket, count, "
               f"total, name FROM daily_figures WHERE figure NOT IN ('m_hours', 'm_workdays')")
    op.execute(f"INSERT INTO figure_counts ({columns}) SELECT 'm', CASE figure WHEN 'm_hours' THEN 'hours' "
               f"ELSE 'workdays' END, day, process_key, subject, bucket, count, total, name FROM daily_figures "
               f"WHERE figure IN ('m_hours', 'm_workdays')")
    month = _month(dialect, "day")
    op.execute(f"INSERT INTO figure_counts ({columns}) SELECT 'm', figure, {month}, process_key, subject, bucket, "
               f"SUM(count), SUM(total), MAX(name) FROM daily_figures "
               f"WHERE figure NOT IN ('hours', 'workdays', 'm_hours', 'm_workdays') "
               f"GROUP BY figure, {month}, process_key, subject, bucket")
    op.drop_table("daily_figures")
    op.drop_table("open_task_counts")
    _open_counts(with_due_day=True)
    _count_open_tasks(dialect, with_due_day=True)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
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
    columns = "day, process_key, subject, figure, bucket, count, total, name"
    op.execute(f"INSERT INTO daily_figures ({columns}) SELECT day, process_key, subject, figure, bucket, count, "
               f"total, name FROM figure_counts WHERE span = 'd' AND figure <> 'flow'")
    op.execute(f"INSERT INTO daily_figures ({columns}) SELECT day, process_key, subject, 'm_' || figure, bucket, "
               f"count, total, name FROM figure_counts WHERE span = 'm' AND figure IN ('hours', 'workdays')")
    op.drop_table("figure_counts")
    op.drop_table("open_task_counts")
    _open_counts(with_due_day=False)
    _count_open_tasks(dialect, with_due_day=False)
