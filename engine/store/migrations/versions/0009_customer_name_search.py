"""customer name search and pool lists at a province's size (PostgreSQL only)

* A name fragment is searched with ILIKE '%…%', which no B-tree serves: at a million applications every
  search scanned the table (0.5–1 s).  A GIN index over each name's lower-cased characters and character
  pairs narrows it first (engine.store.namesearch); pg_trgm would need fragments of three characters, and a
  Chinese name is searched by two.  Open work items get the same index, partial, for the task-list search.
* A pool list counts the unclaimed open tasks of some roles: with 100,000 open tasks among 7.7M rows that
  was a heap visit per open task (0.1–0.2 s).  A partial index over open tasks holding role, claimant and
  assignee answers it from the index, and gives the first page in its order (created_at, id).

SQLite keeps scanning (one office's data): these indexes are created on PostgreSQL only and the models do
not declare them (engine.store.models.POSTGRESQL_ONLY_INDEXES).

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

GRAMS = """
CREATE OR REPLACE FUNCTION customer_name_grams(name text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(lower(name), i, n)), '{}')
    FROM generate_series(1, 2) AS n, generate_series(1, length(name)) AS i
    WHERE i + n - 1 <= length(name)
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(GRAMS)
    op.execute("CREATE INDEX ix_applications_customer_grams ON applications USING gin (customer_name_grams(customer_name))")
    op.execute("CREATE INDEX ix_work_items_open_customer_grams ON work_items USING gin "
               "(customer_name_grams(customer_name)) WHERE status = 'ready'")
    op.execute("CREATE INDEX ix_work_items_open_pool ON work_items (role, created_at, id) "
               "INCLUDE (claimed_by, assignee) WHERE status = 'ready'")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in ("ix_work_items_open_pool", "ix_work_items_open_customer_grams", "ix_applications_customer_grams"):
        op.execute(f"DROP INDEX {name}")
    op.execute("DROP FUNCTION customer_name_grams(text)")
