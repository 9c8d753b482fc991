"""The roles of domain.md; a BPMN lane's name is the Chinese name of exactly one role."""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

ROLES: Mapping[str, str] = MappingProxyType(
    {
        "front_desk": "受理员",
        "customer_manager": "客户经理",
        "survey_team": "勘查组",
        "marketing": "营销部",
        "planning": "发展策划",
        "metering": "计量",
        "dispatch": "调度",
        "archive": "档案",
        "field_dispatch": "工单调度员",
        "customer_service": "客户服务",
        "station_head": "班所负责人",
        "auditor": "稽查",
        "analyst": "流程分析员",
    }
)

ROLE_BY_LANE_NAME: Mapping[str, str] = MappingProxyType({name: key for key, name in ROLES.items()})


def role_for_lane(lane_name: str | None) -> str | None:
    """The role key a lane stands for (by Chinese name or by key), or None if unknown."""
    if lane_name is None:
        return None
    name = lane_name.strip()
    if name in ROLES:
        return name
    return ROLE_BY_LANE_NAME.get(name)
