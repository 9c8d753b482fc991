"""policy clocks: per-application 时限 counted as the regulations count them, office limits, first-contact evidence

Revision ID: 0011
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_contact_source", sa.String(length=32), nullable=True))

    op.create_table(
        "policy_clocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("app_no", sa.String(length=32), nullable=False),
        sa.Column("process_key", sa.String(length=32), nullable=False),
        sa.Column("clock_key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.Column("pauses", sa.Text(), nullable=False),
        sa.Column("limit_value", sa.Integer(), nullable=True),
        sa.Column("limit_source", sa.String(length=16), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=True),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("used_days", sa.Integer(), nullable=True),
        sa.Column("warned_at", sa.DateTime(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("forecast_days", sa.Float(), nullable=True),
        sa.Column("risk", sa.Float(), nullable=True),
        sa.Column("forecast_at", sa.DateTime(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id", "clock_key", "round"),
    )
    op.create_index("ix_policy_clocks_open", "policy_clocks", ["status", "deadline"])
    op.create_index("ix_policy_clocks_app", "policy_clocks", ["application_id", "status"])
    op.create_index("ix_policy_clocks_stopped", "policy_clocks", ["process_key", "clock_key", "stopped_at"])

    op.create_table(
        "clock_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=32), nullable=False),
        sa.Column("clock_key", sa.String(length=64), nullable=False),
        sa.Column("customer_type", sa.String(length=32), nullable=False),
        sa.Column("supply_mode", sa.String(length=32), nullable=False),
        sa.Column("limit_value", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process_key", "clock_key", "customer_type", "supply_mode"),
    )
    op.create_table(
        "clock_override_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=32), nullable=False),
        sa.Column("clock_key", sa.String(length=64), nullable=False),
        sa.Column("customer_type", sa.String(length=32), nullable=False),
        sa.Column("supply_mode", sa.String(length=32), nullable=False),
        sa.Column("old_value", sa.Integer(), nullable=True),
        sa.Column("new_value", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("clocks_moved", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("clock_override_changes")
    op.drop_table("clock_overrides")
    op.drop_index("ix_policy_clocks_stopped", table_name="policy_clocks")
    op.drop_index("ix_policy_clocks_app", table_name="policy_clocks")
    op.drop_index("ix_policy_clocks_open", table_name="policy_clocks")
    op.drop_table("policy_clocks")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_column("first_contact_source")
