"""The task work through the JSON API: 催办 and 转办 of a task, comments on an application — with the same
rules as the pages, answers that match the OpenAPI document, and errors in Chinese."""

from __future__ import annotations

from typing import Any, Callable

from cli.demo import drive, load_scenarios
from engine import Engine

from tests.conftest import PROCESSES
from tests.web.test_api import Channel, channel, conforms, spec  # noqa: F401  (fixtures)

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}


def survey(engine: Engine) -> Any:
    return next(iter(drive(engine, SCENARIOS["hv_solo"]))).ready_tasks[0]


def test_a_supervisor_urges_through_the_api_once_an_hour(engine: Engine, channel: Callable[[str], Channel],
                                                         spec: dict[str, Any]) -> None:
    task = survey(engine)
    boss = channel("marketing")
    answer = boss.post(f"/tasks/{task.id}/urge", {"note": "95598 客户来电催办"})
    assert answer.status_code == 200
    conforms(spec, "Task", answer.get_json())
    assert "95598 客户来电催办" in engine.notifications(task.assignee)[0].message
    again = boss.post(f"/tasks/{task.id}/urge", {})
    assert again.status_code == 409 and "一小时内不再重复催办" in again.get_json()["error"]["message"]
    assert channel("planning").post(f"/tasks/{task.id}/urge", {}).status_code == 403
    bad = boss.post(f"/tasks/{task.id}/urge", {"note": 5})
    assert bad.status_code == 400 and "note" in bad.get_json()["error"]["fields"]


def test_the_holder_transfers_through_the_api(engine: Engine, channel: Callable[[str], Channel],
                                              spec: dict[str, Any]) -> None:
    task = survey(engine)
    colleague = "manager2" if task.assignee == "manager1" else "manager1"
    holder = channel(task.assignee)
    missing = holder.post(f"/tasks/{task.id}/transfer", {"to": colleague})
    assert missing.status_code == 400 and set(missing.get_json()["error"]["fields"]) == {"reason"}
    wrong_role = holder.post(f"/tasks/{task.id}/transfer", {"to": "metering", "reason": "外出"})
    assert wrong_role.status_code == 400 and "客户经理" in wrong_role.get_json()["error"]["fields"]["to"]
    done = holder.post(f"/tasks/{task.id}/transfer", {"to": colleague, "reason": "外出培训"})
    assert done.status_code == 200 and done.get_json()["assignee"] == colleague
    conforms(spec, "Task", done.get_json())
    assert channel(task.assignee).post(f"/tasks/{task.id}/transfer",
                                       {"to": task.assignee, "reason": "还我"}).status_code == 403


def test_comments_through_the_api(engine: Engine, channel: Callable[[str], Channel], spec: dict[str, Any]) -> None:
    app_no = survey(engine).app_no
    clerk = channel("frontdesk")
    made = clerk.post(f"/applications/{app_no}/comments", {"body": "客户要求短信通知", "public": True})
    assert made.status_code == 201
    conforms(spec, "Comment", made.get_json())
    assert made.get_json()["author_name"] == "柜台受理员 张敏" and made.get_json()["public"] is True
    listed = channel("auditor").get(f"/applications/{app_no}/comments")
    assert listed.status_code == 200 and [c["body"] for c in listed.get_json()["items"]] == ["客户要求短信通知"]
    conforms(spec, "CommentList", listed.get_json())
    assert channel("auditor").post(f"/applications/{app_no}/comments", {"body": "x"}).status_code == 403
    assert clerk.post(f"/applications/{app_no}/comments", {"body": "   "}).status_code == 400
    assert clerk.post(f"/applications/{app_no}/comments", {"body": "x", "public": "yes"}).status_code == 400
    assert clerk.get("/applications/HV20990101000001/comments").status_code == 404
