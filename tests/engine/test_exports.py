"""Event logs for process mining: the records made from the audit trail, CSV, and XES read back by pm4py."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from lxml import etree

from engine import Engine, InvalidInput, NotFound
from cli.demo import Scenario, actor_for, drive, load_scenarios
from engine.oversight.exports import CHINA_TIME, CSV_COLUMNS, CaseInfo, _case_records, _Node, event_log, to_csv, to_xes

from tests.conftest import PROCESSES, Clock

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
XES = "{http://www.xes-standard.org/}"


def run(engine: Engine, clock: Clock, scenario: Scenario, stop_after: int | None = None,
        names: dict[str, str] | None = None) -> str:
    """Drive a scenario, an hour per step; collect the Chinese name of every user task it passes."""
    last = None
    for last in drive(engine, scenario, stop_after):
        if names is not None:
            names.update({t.node_id: t.node_name for t in last.ready_tasks})
        clock.advance(hours=1)
    assert last is not None
    return str(last.app_no)


def write(tmp_path: Path, parts: Any, name: str = "log.xes") -> Path:
    path = tmp_path / name
    path.write_text("".join(parts), encoding="utf-8")
    return path


def read_xes(path: Path) -> Any:
    import pm4py

    return pm4py.read_xes(str(path))


# ----------------------------------------------------------------------------- records


def test_a_finished_application_is_one_case_of_lifecycle_transitions(engine: Engine, clock: Clock) -> None:
    app_no = run(engine, clock, SCENARIOS["lv_residential"])
    records = list(event_log(engine.store))
    assert {r.case.app_no for r in records} == {app_no}
    assert [(r.activity, r.lifecycle, r.resource, r.role) for r in records] == [
        ("受理签约", "start", "frontdesk", "受理员"),
        ("受理签约", "complete", "frontdesk", "受理员"),  # acceptance has its complete event too
        ("受理签约确认", "schedule", "", "受理员"),
        ("受理签约确认", "complete", "frontdesk", "受理员"),
        ("施工接电", "schedule", "", "计量"),
        ("施工接电", "complete", "metering", "计量"),
        ("归档", "schedule", "", "档案"),
        ("归档", "complete", "archive", "档案"),
        ("办结", "complete", "system", ""),
    ]
    case = records[0].case
    assert (case.variant, case.customer_type, case.status) == ("lv", "residential", "completed")
    times = [r.timestamp for r in records]
    assert times == sorted(times) and times[0].isoformat() == "2026-11-23T09:00:00+08:00"
    assert times[-1] - times[0] == timedelta(hours=3)
    history = {e.seq: e for e in engine.application(app_no).history}
    assert all(history[r.seq].at == r.timestamp.replace(tzinfo=None) for r in records)  # traceable to the trail


def test_claims_and_reassignments_are_assign_and_reassign(engine: Engine, clock: Clock) -> None:
    app_no = run(engine, clock, SCENARIOS["lv_non_residential"], 0)
    task = engine.application(app_no).open_tasks[0]
    someone = actor_for(engine, task.role, task.assignee)
    engine.claim(task.id, someone)
    clock.advance(minutes=5)
    other = next(u.username for u in engine.users(task.role) if u.username != someone)
    engine.reassign(task.id, other, "marketing")
    records = [r for r in event_log(engine.store) if r.node_id == task.node_id]
    assert [(r.lifecycle, r.resource) for r in records] == [
        ("schedule", task.assignee or ""), ("assign", someone), ("reassign", other)]
    assert {r.activity for r in records} == {task.node_name}


def test_filters_select_applications(engine: Engine, clock: Clock) -> None:
    lv = run(engine, clock, SCENARIOS["lv_small_micro"])
    clock.advance(days=2)
    pv = run(engine, clock, SCENARIOS["pv_380v"], 2)
    hv = run(engine, clock, SCENARIOS["hv_solo"], 1)

    def cases(**filters: Any) -> list[str]:
        return list(dict.fromkeys(r.case.app_no for r in event_log(engine.store, **filters)))

    assert cases() == [lv, pv, hv]
    assert cases(process_key="pv") == [pv]
    assert cases(status="completed") == [lv]
    assert cases(app_nos=[hv, lv]) == [lv, hv]
    assert cases(created_from=date(2026, 11, 24)) == [pv, hv]
    assert cases(created_to=date(2026, 11, 23)) == [lv]
    assert cases(created_from=date(2026, 11, 26)) == []
    with pytest.raises(NotFound, match="LV20990101000009"):
        event_log(engine.store, app_nos=[lv, "LV20990101000009"])
    with pytest.raises(InvalidInput):
        event_log(engine.store, process_key="xx")
    with pytest.raises(InvalidInput):
        event_log(engine.store, created_from=date(2026, 12, 1), created_to=date(2026, 11, 1))


def test_records_are_made_as_they_are_consumed(engine: Engine, clock: Clock) -> None:
    made = [run(engine, clock, SCENARIOS["lv_residential"], 1) for _ in range(9)]
    happened: list[Any] = []
    records = event_log(engine.store, progress=lambda done, total: happened.append((done, total)), batch_size=4)
    xes = to_xes(records)
    assert happened == []  # nothing read yet
    head = next(xes)
    assert head.startswith("<?xml") and happened == []
    first_trace = next(xes)
    assert made[0] in first_trace and made[1] not in first_trace
    assert happened == [(1, 9)]  # one application read and written, eight still to come
    later = run(engine, clock, SCENARIOS["lv_residential"], 0)  # accepted while the export runs
    rest = "".join(xes)
    assert happened[:9] == [(i, 9) for i in range(1, 10)] and rest.endswith("</log>\n")
    assert later in rest  # proof that later batches were read only when needed


# ----------------------------------------------------------------------------- CSV


def test_csv_has_one_row_per_record_with_the_agreed_columns(engine: Engine, clock: Clock) -> None:
    run(engine, clock, SCENARIOS["lv_residential"])
    run(engine, clock, SCENARIOS["hv_joint_review"], 5)
    records = list(event_log(engine.store))
    data = "".join(to_csv(records)).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel on Chinese Windows reads UTF-8, not GBK
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS == ("申请编号", "环节", "时间", "办理人", "角色", "生命周期", "业务类型", "节点标识")
    assert len(rows) == len(records)
    for row, r in zip(rows, records):
        assert (row["申请编号"], row["环节"], row["生命周期"], row["办理人"], row["角色"], row["业务类型"],
                row["节点标识"]) == (r.case.app_no, r.activity, r.lifecycle, r.resource, r.role, r.case.variant,
                                 r.node_id)
        assert row["时间"].endswith("+08:00") and row["时间"][:19] == r.timestamp.isoformat()[:19]


# ----------------------------------------------------------------------------- XES


def test_xes_is_one_trace_per_application_for_pm4py(engine: Engine, clock: Clock, tmp_path: Path) -> None:
    made = [run(engine, clock, SCENARIOS[name], stop) for name, stop in
            (("lv_residential", None), ("pv_10kv", 4), ("hv_solo", 2), ("lv_small_micro", None))]
    records = list(event_log(engine.store))
    path = write(tmp_path, to_xes(records))
    root = etree.parse(str(path)).getroot()
    assert root.get("xes.version") == "1849-2016"
    assert {e.get("prefix") for e in root.iter(f"{XES}extension")} == {"concept", "time", "lifecycle", "org"}
    log = read_xes(path)
    assert len(log) == len(records)
    assert sorted(log["case:concept:name"].unique()) == sorted(made)
    assert set(log["concept:name"]) == {r.activity for r in records}
    assert set(log["lifecycle:transition"]) >= {"start", "schedule", "complete"}
    first = log.loc[log["audit_seq"] == 1, "time:timestamp"].iloc[0]
    assert first.isoformat() == "2026-11-23T01:00:00+00:00"  # 09:00 Beijing time, read back as UTC
    assert set(log.loc[log["case:concept:name"] == made[0], "case:status"]) == {"completed"}


def test_a_process_model_discovered_from_hv_covers_every_user_task(engine: Engine, clock: Clock,
                                                                   tmp_path: Path) -> None:
    import pm4py

    names: dict[str, str] = {}
    for scenario in SCENARIOS.values():
        if scenario.process == "hv":
            run(engine, clock, scenario, names=names)
    visited = {names[step.node] for s in SCENARIOS.values() if s.process == "hv" for step in s.steps}
    log = read_xes(write(tmp_path, to_xes(event_log(engine.store, process_key="hv"))))
    assert log["case:concept:name"].nunique() == sum(s.process == "hv" for s in SCENARIOS.values())
    completed = log[log["lifecycle:transition"] == "complete"]
    net, _, _ = pm4py.discover_petri_net_inductive(completed)
    labels = {t.label for t in net.transitions if t.label}
    assert visited <= labels and {"办结"} <= labels
    dfg, starts, ends = pm4py.discover_dfg(completed)
    accepted = set(log[log["lifecycle:transition"] == "start"]["concept:name"])
    assert len(accepted) == 1 and set(starts) == accepted and set(ends) == {"办结"}  # every case starts with 受理
    assert {b for a, b in dfg if a in accepted} == {"现场勘查（客户经理）", "现场勘查（勘查组）"}
    assert ("供电方案审批", "拟定供电方案") in dfg  # the send-back path shows up as rework


def test_xml_special_characters_in_a_customer_name_survive(engine: Engine, clock: Clock, tmp_path: Path) -> None:
    name = '<甲&乙> "丙"公司 \'丁\''
    scenario = replace(SCENARIOS["lv_small_micro"], start={**SCENARIOS["lv_small_micro"].start, "customer_name": name})
    app_no = run(engine, clock, scenario)
    path = write(tmp_path, to_xes(event_log(engine.store)))
    trace = next(etree.parse(str(path)).getroot().iter(f"{XES}trace"))
    assert {a.get("key"): a.get("value") for a in trace.findall(f"{XES}string")}["customer_name"] == name
    log = read_xes(path)
    assert set(log["case:customer_name"]) == {name} and set(log["case:concept:name"]) == {app_no}


def test_characters_xml_cannot_carry_are_replaced_not_written(engine: Engine, clock: Clock, tmp_path: Path) -> None:
    run(engine, clock, SCENARIOS["lv_small_micro"], 0)
    record = next(iter(event_log(engine.store)))
    bad = replace(record, case=replace(record.case, customer_name="甲\x01乙"), activity="受理\x0b")
    root = etree.fromstring("".join(to_xes([bad])).encode("utf-8"))
    values = {a.get("value") for a in root.iter(f"{XES}string")}
    assert {"甲\ufffd乙", "受理\ufffd"} <= values


def test_a_user_task_withdrawn_by_the_process_is_ate_abort() -> None:
    # The shipped processes never cancel a user task; a deployed diagram with an interrupting boundary
    # event would. Fed the audit events such a step writes, the task's instance ends as ate_abort.
    at = datetime(2026, 11, 23, 9)
    nodes = {"start": _Node("受理", "startEvent", "front_desk"), "review": _Node("审核", "userTask", "customer_manager"),
             "end": _Node("办结", "endEvent", "")}
    events = [
        SimpleNamespace(seq=1, at=at, actor="frontdesk", kind="application.started", node_id=None, task_id=None,
                        payload="{}"),
        SimpleNamespace(seq=2, at=at, actor="system", kind="task.ready", node_id="review", task_id="t1",
                        payload='{"role": "customer_manager", "assignee": null}'),
        SimpleNamespace(seq=3, at=at, actor="system", kind="engine.transitions", node_id=None, task_id=None,
                        payload='{"changes": [["review", "READY", "CANCELLED", "t1"], ["end", "READY", "COMPLETED", "t2"]]}'),
        SimpleNamespace(seq=4, at=at, actor="system", kind="application.completed", node_id=None, task_id=None,
                        payload="{}"),
    ]
    case = CaseInfo("LV20261123000001", "lv", 1, "张伟", "residential", "completed", at)
    assert [(r.activity, r.lifecycle, r.role) for r in _case_records(case, events, nodes, CHINA_TIME)] == [
        ("受理", "start", "受理员"), ("受理", "complete", "受理员"), ("审核", "schedule", "客户经理"),
        ("审核", "ate_abort", "客户经理"),
        ("办结", "complete", "")]


def test_a_user_task_withdrawn_by_the_process_is_ate_abort_when_moves_go_with_the_input() -> None:
    # Today a step records its moves with the input that caused it, by node: the same trace results.
    at = datetime(2026, 11, 23, 9)
    nodes = {"start": _Node("受理", "startEvent", "front_desk"), "review": _Node("审核", "userTask", "customer_manager"),
             "escalate": _Node("督办", "userTask", "marketing"), "end": _Node("办结", "endEvent", "")}
    events = [
        SimpleNamespace(seq=1, at=at, actor="frontdesk", kind="application.started", node_id=None, task_id=None,
                        payload='{"moves": {"NEW>READY": ["review", "escalate"]}}'),
        SimpleNamespace(seq=2, at=at, actor="system", kind="task.ready", node_id="review", task_id="t1",
                        payload='{"role": "customer_manager", "assignee": null}'),
        SimpleNamespace(seq=3, at=at, actor="system", kind="task.ready", node_id="escalate", task_id="t3",
                        payload='{"role": "marketing", "assignee": null}'),
        SimpleNamespace(seq=4, at=at, actor="marketing", kind="task.completed", node_id="escalate", task_id="t3",
                        payload='{"data": {}, "moves": {"READY>COMPLETED": ["escalate"], '
                                '"READY>CANCELLED": ["review"], "NEW>COMPLETED": ["end"]}}'),
        SimpleNamespace(seq=5, at=at, actor="system", kind="application.completed", node_id=None, task_id=None,
                        payload="{}"),
    ]
    case = CaseInfo("LV20261123000001", "lv", 1, "张伟", "residential", "completed", at)
    assert [(r.activity, r.lifecycle, r.role) for r in _case_records(case, events, nodes, CHINA_TIME)] == [
        ("受理", "start", "受理员"), ("受理", "complete", "受理员"), ("审核", "schedule", "客户经理"),
        ("督办", "schedule", "营销部"),
        ("督办", "complete", "营销部"), ("审核", "ate_abort", "客户经理"), ("办结", "complete", "")]
