"""The conformance report: recorded histories checked against their diagram, with deviations injected into the
record (a step taken out, two swapped, one repeated, an application entered days late); a sample cross-checked
with pm4py's alignments."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import delete, func, insert, select, update

from engine import Engine, conformance_csv, tables
from cli.demo import Scenario
from tests.conftest import Clock
from tests.web.test_supervision import run

EVENTS, APPS = tables.EVENTS, tables.APPS


def completions(engine: Engine, app_no: str) -> list[dict[str, object]]:
    with engine.store.read() as conn:
        app_id = conn.execute(select(APPS.c.id).where(APPS.c.app_no == app_no)).scalar_one()
        return [dict(r) for r in conn.execute(select(EVENTS).where(EVENTS.c.application_id == app_id,
                                                                   EVENTS.c.kind == "task.completed")
                                              .order_by(EVENTS.c.seq)).mappings()]


def take_out(engine: Engine, event: dict[str, object]) -> None:
    with engine.store.begin() as conn:
        conn.execute(delete(EVENTS).where(EVENTS.c.id == event["id"]))


def swap(engine: Engine, a: dict[str, object], b: dict[str, object]) -> None:
    with engine.store.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.id == a["id"]).values(seq=-1))
        conn.execute(update(EVENTS).where(EVENTS.c.id == b["id"]).values(seq=a["seq"]))
        conn.execute(update(EVENTS).where(EVENTS.c.id == a["id"]).values(seq=b["seq"]))


def repeat_at_the_end(engine: Engine, event: dict[str, object]) -> None:
    with engine.store.begin() as conn:
        last = conn.execute(select(func.max(EVENTS.c.seq)).where(
            EVENTS.c.application_id == event["application_id"])).scalar_one()
        copy = {k: v for k, v in event.items() if k != "id"}
        conn.execute(insert(EVENTS), [{**copy, "seq": last + 1}])


@pytest.fixture
def office(engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> dict[str, str]:
    made = {}
    for label in ("fits", "skipped", "out_of_order", "repeated"):
        made[label] = run(engine, clock, scenarios["lv_non_residential"])
    made["hv"] = run(engine, clock, scenarios["hv_solo"])
    made["late"] = run(engine, clock, scenarios["lv_residential"], lag=timedelta(days=3))
    made["running"] = run(engine, clock, scenarios["hv_design_review_sendback"], stop_after=8)
    done = {k: completions(engine, v) for k, v in made.items()}
    take_out(engine, done["skipped"][1])
    swap(engine, done["out_of_order"][1], done["out_of_order"][2])
    repeat_at_the_end(engine, done["repeated"][0])
    return made


def test_every_history_of_the_period_is_checked_and_deviations_are_named(
        engine: Engine, clock: Clock, office: dict[str, str]) -> None:
    today = clock.now.date()
    report = engine.conformance(today - timedelta(days=30), today, by="auditor")
    cases = {c.app_no: c for c in report.cases}
    assert set(cases) == set(office.values())
    for label in ("fits", "hv", "running"):
        assert cases[office[label]].fits and cases[office[label]].deviation is None, cases[office[label]]
    lv = completions(engine, office["fits"])
    skipped = cases[office["skipped"]]
    assert (skipped.fits, skipped.deviation, skipped.step, skipped.nodes) == (False, "skipped", 2, (lv[1]["node_id"],))
    assert "跳过了当时待办的" in skipped.description
    swapped = cases[office["out_of_order"]]
    assert (swapped.deviation, swapped.step, swapped.nodes) == ("out_of_order", 2, (lv[2]["node_id"], lv[1]["node_id"]))
    repeated = cases[office["repeated"]]
    assert (repeated.deviation, repeated.nodes) == ("repeated", (lv[0]["node_id"],))
    late = cases[office["late"]]
    assert late.deviation is None and late.entered_late and not late.fits and "晚 72.0 小时" in late.description
    assert (report.fitting, len(report.cases)) == (3, 7)
    shares = {s.group: (s.checked, s.fitting) for s in report.by_variant}
    assert shares == {"hv": (2, 2), "lv": (5, 1)}
    assert sum(s.checked for s in report.by_office) == 7
    assert engine.conformance(today - timedelta(days=30), today, "hv", by="auditor").rate == 1.0

    text = "".join(conformance_csv(report, {"hv": "高压", "lv": "低压"}, lambda key, node: node))
    assert text.startswith("\ufeff申请编号,业务类型,班所,是否符合,偏离类型")
    assert f"{office['skipped']},低压," in text and "跳过环节" in text and "重复办理" in text


def test_the_verdicts_agree_with_pm4py_alignments(engine: Engine, clock: Clock, office: dict[str, str],
                                                  tmp_path: Path) -> None:
    import pm4py
    import pandas as pd

    today = clock.now.date()
    report = engine.conformance(today - timedelta(days=30), today, "lv", by="auditor")
    net_of = {}
    rows = []
    for case in report.cases:
        app = engine.application(case.app_no)
        if app.process_key not in net_of:
            path = tmp_path / f"{app.process_key}.bpmn"
            path.write_text(engine.application_xml(case.app_no), encoding="utf-8")
            net_of[app.process_key] = pm4py.convert_to_petri_net(pm4py.read_bpmn(str(path)))
        for e in app.history:
            if e.kind in ("task.completed", "service.called"):
                rows.append({"case:concept:name": case.app_no, "concept:name": _activity(engine, case.app_no, e.node_id),
                             "time:timestamp": e.at + timedelta(microseconds=e.seq)})
    log = pm4py.format_dataframe(pd.DataFrame(rows), case_id="case:concept:name", activity_key="concept:name",
                                 timestamp_key="time:timestamp")
    net, im, fm = net_of["lv"]
    aligned = pm4py.conformance_diagnostics_alignments(log, net, im, fm)
    by_case = dict(zip(log["case:concept:name"].drop_duplicates().tolist(), aligned))
    for case in report.cases:
        on_the_diagram = case.deviation is None
        assert (by_case[case.app_no]["fitness"] == pytest.approx(1.0)) == on_the_diagram, case


def _activity(engine: Engine, app_no: str, node_id: str | None) -> str:
    """The name pm4py gives a node's transition (its BPMN name)."""
    root = etree.fromstring(engine.application_xml(app_no).encode("utf-8"))
    element = next(e for e in root.iter() if isinstance(e.tag, str) and e.get("id") == node_id)
    return str(element.get("name"))
