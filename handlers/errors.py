"""The one error handlers raise.

    HandlerError        a rule cannot be applied to the data given (bad or missing value);
                        .message is Chinese and names the value, .field names the datum if known

The engine translates it at its boundary (``raise WorkflowFailure(...) from exc``); handlers never
raise anything else on bad input.
"""

from __future__ import annotations


class HandlerError(Exception):
    """A business rule could not be applied; the message says what is wrong, in Chinese."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
