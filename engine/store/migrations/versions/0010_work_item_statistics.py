"""planner statistics over the columns a pool list filters on together (PostgreSQL only)

Open tasks are few among all work items, and an open task is almost always unclaimed: status, role,
claimant and assignee are strongly correlated. Without statistics over them together PostgreSQL estimated
80 unclaimed open metering tasks where there were 17,302, chose a bitmap scan plus a sort, and the first page
of the pool took 65 ms at a million applications; with them it walks the open-pool index in order (0.1 ms).

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE STATISTICS IF NOT EXISTS st_work_items_open (mcv) "
               "ON status, role, claimed_by, assignee FROM work_items")
    op.execute("ANALYZE work_items")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP STATISTICS IF EXISTS st_work_items_open")
