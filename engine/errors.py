"""One error tree for the whole runtime.

Everything the engine raises derives from :class:`BaozhuangError`; SpiffWorkflow's own
exceptions never cross the engine boundary, they are translated here (``raise X(...) from exc``).
Messages are in Chinese because they are shown to staff; ``reasons`` carry element ids.

    BaozhuangError
    ├── InvalidInput              bad data from a person or a channel        (HTTP 400)
    │   ├── FormValidationError   a submitted form fails its schema; .field_errors
    │   └── ExpressionError       an expression is outside the safe language or fails to evaluate
    ├── DiagramRejected           a diagram failed the deploy-time gate; .reasons   (HTTP 400)
    ├── NotFound                  no such application, task, version or user        (HTTP 404)
    ├── Forbidden                 the user may not act on this task                 (HTTP 403)
    ├── Conflict                  someone else changed it first                     (HTTP 409)
    ├── WorkflowFailure           the process itself broke: handler error, loop guard (HTTP 409)
    └── ConfigurationError        settings are missing or wrong at start-up
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence


class BaozhuangError(Exception):
    """Root of every error the engine raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(BaozhuangError):
    """Bad data from a person or another channel."""


class FormValidationError(InvalidInput):
    """A submitted form does not satisfy the node's form definition."""

    def __init__(self, message: str, field_errors: Mapping[str, str]) -> None:
        super().__init__(message)
        self.field_errors = dict(field_errors)


class ExpressionError(InvalidInput):
    """An expression is not in the safe expression language, or failed to evaluate."""

    def __init__(self, message: str, expression: str = "") -> None:
        super().__init__(message)
        self.expression = expression


@dataclass(frozen=True)
class Reason:
    """One reason a diagram was rejected, tied to an element when there is one."""

    code: str
    message: str
    element_id: str | None = None

    def __str__(self) -> str:
        where = f"[{self.element_id}] " if self.element_id else ""
        return f"{where}{self.message}"


class DiagramRejected(BaozhuangError):
    """A diagram failed the deploy-time validation gate."""

    def __init__(self, reasons: Sequence[Reason], filename: str = "") -> None:
        head = f"{filename}: " if filename else ""
        super().__init__(f"{head}流程图未通过校验，共 {len(reasons)} 个问题")
        self.reasons = tuple(reasons)
        self.filename = filename


class NotFound(BaozhuangError):
    """The thing asked for does not exist."""


class Forbidden(BaozhuangError):
    """The user may not do this."""


class Conflict(BaozhuangError):
    """Someone else changed the same thing first."""


class WorkflowFailure(BaozhuangError):
    """The process broke while running: a handler failed or a loop ran away."""


class ConfigurationError(BaozhuangError):
    """Settings are missing or inconsistent."""
