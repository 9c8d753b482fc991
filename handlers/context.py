"""What a handler is given: the application's data snapshot, policy settings and injected services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from handlers.labels import Labels
from handlers.settings import PolicySettings


class HandlerServices(Protocol):
    """The few things handlers need from the outside world, supplied by the engine."""

    def manager_workloads(self) -> Mapping[str, int]:
        """Active customer managers (username) → number of open tasks."""
        ...

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        """Store a generated document and return its id."""
        ...

    def send_notice(self, event: str, recipient: str, message: str) -> str:
        """Send the customer a message once the step is committed; the channel it goes by."""
        ...


@dataclass(frozen=True)
class HandlerContext:
    """Everything a handler may read; handlers never reach for globals."""

    application_no: str
    variant: str  # "hv" | "lv" | "pv"
    data: Mapping[str, Any]  # read-only snapshot of all process data so far
    settings: PolicySettings
    services: HandlerServices
    now: datetime
    # The Chinese names of enumerated values, from the forms of the application's process version.
    labels: Labels = field(default_factory=dict)
