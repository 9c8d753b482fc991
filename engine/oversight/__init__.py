"""Oversight: hash-chain verification, deterministic replay, process-mining event logs, supervision figures."""
