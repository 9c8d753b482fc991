"""The outbox of messages to customers: a step queues a message in its own transaction; delivery through the
Notifier happens after the commit (``engine.customers.notices``), so a step that rolls back sends nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from ..store.tables import CUSTOMER_NOTICES

QUEUED = "queued"
"""The channel a queued message reports to the process: it goes out after the commit."""

INSERT_NOTICE = insert(CUSTOMER_NOTICES)


def queue_notice(conn: Connection, application_id: int, event: str, recipient: str, message: str, now: datetime,
                 node_id: str | None = None) -> None:
    """Queue one message to the customer of an application (in the caller's transaction)."""
    conn.execute(INSERT_NOTICE, {"application_id": application_id, "event": event, "node_id": node_id,
                                 "recipient": recipient[:64], "message": message, "status": QUEUED,
                                 "created_at": now, "attempts": 0, "sent_at": None, "channel": None,
                                 "error": None})
