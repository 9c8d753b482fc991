"""Customer-manager assignment: the customer's choice, else the least-loaded manager."""

from __future__ import annotations

from typing import Any

from handlers.context import HandlerContext
from handlers.errors import HandlerError


def assign_customer_manager(ctx: HandlerContext, preferred_manager: Any = None) -> str:
    """Return the username of the manager who will own this application end to end."""
    workloads = dict(ctx.services.manager_workloads())
    if preferred_manager is not None and not isinstance(preferred_manager, str):
        raise HandlerError(
            f"客户指定的客户经理必须为用户名文本，收到：{preferred_manager!r}", "preferred_manager"
        )
    # Forms send "" when the customer leaves the choice open.
    if preferred_manager and preferred_manager.strip():
        chosen = preferred_manager.strip()
        if chosen not in workloads:
            raise HandlerError(
                f"客户指定的客户经理“{chosen}”不存在或未在岗", "preferred_manager"
            )
        return chosen
    if not workloads:
        raise HandlerError("当前没有在岗的客户经理，无法指派")
    # Ties go to the alphabetically first username so that a replay assigns the same person.
    return min(workloads, key=lambda username: (workloads[username], username))
