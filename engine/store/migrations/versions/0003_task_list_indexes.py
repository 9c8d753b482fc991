"""task list indexes: ordered paging by creation time, and node filters

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_work_items_status_created", "work_items", ["status", "created_at"])
    op.create_index("ix_work_items_node", "work_items", ["process_key", "node_id", "status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_work_items_node", table_name="work_items")
    op.drop_index("ix_work_items_status_created", table_name="work_items")
