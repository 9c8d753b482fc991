"""Survey mode: solo survey by the customer manager or a team survey, by applied capacity."""

from __future__ import annotations

from typing import Any

from handlers.context import HandlerContext
from handlers.labels import ResultField
from handlers.quantity import positive_quantity


def select_survey_mode(ctx: HandlerContext, capacity_kva: Any) -> str:
    """Return "solo" when the applied capacity is at most the team threshold, else "team"."""
    capacity = positive_quantity(capacity_kva, "申请容量（kVA）", "capacity_kva")
    return "solo" if capacity <= ctx.settings.survey_team_threshold_kva else "team"


RESULT_LABELS = {"": ResultField("勘查方式", {"solo": "客户经理单独勘查", "team": "勘查组组队勘查"})}
