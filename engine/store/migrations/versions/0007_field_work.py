"""field work: stations and their capacity, field jobs with appointments and check-ins, callbacks,
design-review meetings; users may belong to a station

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("station", sa.String(length=32), nullable=True))
    op.create_table(
        "stations",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "station_days",
        sa.Column("station_code", sa.String(length=32), sa.ForeignKey("stations.code"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("adjusted_by", sa.String(length=64), nullable=True),
        sa.Column("adjusted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("station_code", "day", "kind"),
    )
    op.create_table(
        "field_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("application_id", sa.Integer(), sa.ForeignKey("applications.id"), nullable=False),
        sa.Column("app_no", sa.String(length=32), nullable=False),
        sa.Column("customer_name", sa.String(length=256), nullable=False),
        sa.Column("node_id", sa.String(length=128), nullable=False),
        sa.Column("node_name", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("station_code", sa.String(length=32), sa.ForeignKey("stations.code"), nullable=True),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("half", sa.String(length=2), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=True),
        sa.Column("starts_at", sa.DateTime(), nullable=True),
        sa.Column("ends_at", sa.DateTime(), nullable=True),
        sa.Column("due_by", sa.DateTime(), nullable=True),
        sa.Column("contact_name", sa.String(length=64), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("overbooked", sa.Boolean(), nullable=False),
        sa.Column("scheduled_by", sa.String(length=64), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(), nullable=True),
        sa.Column("check_in_note", sa.Text(), nullable=True),
        sa.Column("checked_out_at", sa.DateTime(), nullable=True),
        sa.Column("check_out_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_field_jobs_application_id", "field_jobs", ["application_id"])
    op.create_index("ix_field_jobs_status", "field_jobs", ["status"])
    op.create_index("ix_field_jobs_worker", "field_jobs", ["worker"])
    op.create_index("ix_field_jobs_station_day", "field_jobs", ["station_code", "day"])
    op.create_table(
        "field_job_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=36), sa.ForeignKey("field_jobs.id"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_field_job_events_job_id", "field_job_events", ["job_id"])
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=36), sa.ForeignKey("field_jobs.id"), nullable=False),
        sa.Column("application_id", sa.Integer(), sa.ForeignKey("applications.id"), nullable=False),
        sa.Column("app_no", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reached", sa.Boolean(), nullable=True),
        sa.Column("satisfied", sa.Boolean(), nullable=True),
        sa.Column("issues", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id"),
    )
    op.create_index("ix_callbacks_application_id", "callbacks", ["application_id"])
    op.create_index("ix_callbacks_status", "callbacks", ["status"])
    op.create_table(
        "review_meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("chair", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("attendees", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_meetings_week_start", "review_meetings", ["week_start"])
    op.create_table(
        "meeting_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), sa.ForeignKey("review_meetings.id"), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("app_no", sa.String(length=32), nullable=False),
        sa.Column("customer_name", sa.String(length=256), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("opinion", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "task_id"),
    )
    op.create_index("ix_meeting_items_meeting_id", "meeting_items", ["meeting_id"])


def downgrade() -> None:
    for table in ("meeting_items", "review_meetings", "callbacks", "field_job_events", "field_jobs",
                  "station_days", "stations"):
        op.drop_table(table)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("station")
