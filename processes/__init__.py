"""The shipped process definitions (package data): hv/lv/pv BPMN, forms/*.json (one JSON Schema per user
task), paths.json (example paths through each process). The database holds deployed versions of these."""

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent
"""Where the shipped diagrams and forms are, installed or in a checkout."""
