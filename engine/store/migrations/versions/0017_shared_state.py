"""shared state: documents in the database, attempt limits and shared secrets; task rows keyed by position

* ``document_blobs``: document bytes kept in the database (the ``database`` documents back end), one row per
  distinct content (SHA-256), so hosts without a shared disk serve each other's documents;
* ``attempt_limits``: the customer progress page's failed attempts per client address and application,
  counted across every process and host;
* ``shared_secrets``: the key signing sessions and form tokens, one for every web process and host;
* ``wf_tasks`` is keyed by (application_id, seq) instead of (application_id, task_id): a step reads an
  application's rows in seq order and writes them by seq, and the compact rows name other tasks by seq.
  On SQLite the table is rebuilt WITHOUT ROWID (the rows live in the key's tree: no second index).

Revision ID: 0017
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "attempt_limits",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_attempt_limits_last_failed_at", "attempt_limits", ["last_failed_at"])
    op.create_table(
        "shared_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _rekey_task_rows(("application_id", "seq"), with_rowid=False)


def downgrade() -> None:
    _rekey_task_rows(("application_id", "task_id"), with_rowid=True)
    op.drop_table("shared_secrets")
    op.drop_index("ix_attempt_limits_last_failed_at", table_name="attempt_limits")
    op.drop_table("attempt_limits")
    op.drop_table("document_blobs")


def _rekey_task_rows(key: tuple[str, str], *, with_rowid: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("wf_tasks_pkey", "wf_tasks", type_="primary")
        op.create_primary_key("wf_tasks_pkey", "wf_tasks", list(key))
        return
    # SQLite cannot change a primary key in place: build the table anew and move the rows.
    op.create_table(
        "wf_tasks_rekeyed",
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.PrimaryKeyConstraint(*key),
        sqlite_with_rowid=with_rowid,
    )
    op.execute("INSERT INTO wf_tasks_rekeyed (application_id, seq, task_id, payload) "
               "SELECT application_id, seq, task_id, payload FROM wf_tasks")
    op.drop_table("wf_tasks")
    op.rename_table("wf_tasks_rekeyed", "wf_tasks")
