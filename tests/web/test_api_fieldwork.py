"""Field work over the API: the phone reports (arrived, finished) and the dispatcher's booking, described by
the OpenAPI document, with the same rules as the pages."""

from __future__ import annotations

from typing import Any, Callable

from engine import Engine
from cli.demo import drive, load_scenarios

from tests.conftest import PROCESSES
from tests.web.test_api import Channel, channel, conforms, spec  # noqa: F401  (fixtures)

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
BOOKING = {"station": "CQ", "day": "2026-11-24", "mode": "fixed", "start": "10:00", "contact_name": "周先生",
           "contact_phone": "13511112222"}


def test_book_report_and_complete_a_survey_through_the_api(engine: Engine, channel: Callable[[str], Channel],
                                                          spec: dict[str, Any]) -> None:
    result = next(iter(drive(engine, SCENARIOS["hv_solo"])))
    task = next(t for t in result.ready_tasks if t.node_id == "hv_site_survey_solo")
    dispatcher, worker = channel("fielddispatch"), channel(task.assignee)

    mine = worker.get("/fieldjobs")
    assert mine.status_code == 200 and [j["id"] for j in mine.get_json()["items"]] == [task.id]
    conforms(spec, "FieldJobList", mine.get_json())
    early = worker.post(f"/fieldjobs/{task.id}/check-in", {"note": "到了"})
    assert early.status_code == 409 and "尚未预约" in early.get_json()["error"]["message"]

    assert worker.post(f"/fieldjobs/{task.id}/appointment", BOOKING).status_code == 403
    bad = dispatcher.post(f"/fieldjobs/{task.id}/appointment", {**BOOKING, "mode": "sometime", "extra": 1})
    assert bad.status_code == 400 and "extra" in bad.get_json()["error"]["fields"]
    bad = dispatcher.post(f"/fieldjobs/{task.id}/appointment", {**BOOKING, "start": ""})
    assert bad.status_code == 400 and "start" in bad.get_json()["error"]["fields"]
    booked = dispatcher.post(f"/fieldjobs/{task.id[:8]}/appointment", BOOKING)
    assert booked.status_code == 200 and booked.get_json()["status"] == "scheduled"
    conforms(spec, "FieldJob", booked.get_json())
    assert dispatcher.post(f"/fieldjobs/{task.id}/appointment", BOOKING).status_code == 409  # change needs reason
    moved = dispatcher.post(f"/fieldjobs/{task.id}/appointment", {**BOOKING, "start": "15:00", "reason": "客户下午在"})
    assert moved.status_code == 200 and moved.get_json()["half"] == "pm"

    assert worker.post(f"/tasks/{task.id}/complete", {"data": dict(SCENARIOS["hv_solo"].steps[0].data)}
                       ).status_code == 409
    assert worker.post(f"/fieldjobs/{task.id}/check-in", {"note": ""}).status_code == 400
    assert worker.post(f"/fieldjobs/{task.id}/check-in", {"note": 5}).status_code == 400
    assert worker.post(f"/fieldjobs/{task.id}/check-in", {"note": "已到达"}).get_json()["status"] == "on_site"
    done = worker.post(f"/fieldjobs/{task.id}/check-out", {"note": "勘查完成"})
    assert done.status_code == 200 and done.get_json()["status"] == "finished"
    completed = worker.post(f"/tasks/{task.id}/complete", {"data": dict(SCENARIOS["hv_solo"].steps[0].data)})
    assert completed.status_code == 200
    assert worker.get(f"/fieldjobs/{task.id}").get_json()["checked_out_at"]
    assert worker.get("/fieldjobs").get_json()["items"] == []
    assert [c.job_id for c in engine.field_work.callbacks()] == [task.id]
