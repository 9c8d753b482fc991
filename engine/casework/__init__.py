"""The case: steps (start, claim, complete, reassign, retry) and the one write path with its step hooks; task lists,
the case record, accounts and permissions, documents, the audit chain, the customer's view of progress."""
