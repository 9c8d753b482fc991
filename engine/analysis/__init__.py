"""Analysts' tools: what changed between versions, moving running applications, previewing a draft on recorded
histories, example paths run in memory."""
