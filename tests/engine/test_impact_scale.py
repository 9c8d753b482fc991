"""Impact preview over every recorded application of a process: one replay per group of histories with the
same inputs that matter, with exactly the result of replaying each one, streamed with progress."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from engine import Engine, ImpactReport
from engine.analysis.impact import preview
from cli.demo import Scenario
from tests.conftest import Clock
from tests.engine.test_impact import REFORM, run

NAMES = ("甲", "乙", "丙")


def with_customer(scenario: Scenario, name: str) -> Scenario:
    return replace(scenario, start={**scenario.start, "customer_name": f"{scenario.start.get('customer_name', '')}{name}"})


@pytest.fixture
def office(engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> list[str]:
    """The same HV paths taken by three customers each (different names, addresses: the same decisions), some
    finished, some still running."""
    apps = []
    for name in ("hv_solo", "hv_design_review_sendback", "hv_team"):
        for who in NAMES:
            apps.append(run(engine, clock, with_customer(scenarios[name], who)))
    for who in NAMES:
        apps.append(run(engine, clock, with_customer(scenarios["hv_solo"], who), stop_after=3))
    return apps


def test_histories_with_the_same_inputs_are_replayed_once_and_give_what_each_replay_gives(
        engine: Engine, office: list[str]) -> None:
    seen: list[tuple[int, int]] = []
    report = engine.impact_preview("hv", REFORM.read_bytes(), progress=lambda d, t: seen.append((d, t)),
                                   by="analyst")
    assert {a.app_no for a in report.applications} == set(office)
    assert report.replayed < len(office) // 2  # 12 histories, 4 paths (the manager assigned may differ too)
    assert seen[-1] == (len(office), len(office))

    alone = engine.impact_preview("hv", REFORM.read_bytes(), share=False, by="analyst")
    assert alone.replayed == len(office)
    assert alone == replace(report, replayed=len(office))  # the same result, application by application
    assert any(a.changed and a.saved_hours > 0 for a in alone.applications)


def test_every_version_is_previewed(engine: Engine, clock: Clock, scenarios: dict[str, Scenario],
                                    office: list[str]) -> None:
    engine.deploy(REFORM.read_bytes(), "hv.bpmn", "analyst")
    on_v2 = run(engine, clock, scenarios["hv_solo"], stop_after=2)
    report = engine.impact_preview("hv", REFORM.read_bytes(), by="analyst")
    assert report.base_version == 2
    apps = {a.app_no: a for a in report.applications}
    assert set(apps) == {*office, on_v2}
    assert not apps[on_v2].changed  # it already runs on the reform
    assert sum(a.changed for a in report.applications) >= 3


def test_a_history_whose_handler_decides_live_is_never_shared(engine: Engine, office: list[str]) -> None:
    """With no recorded handler results, today's handlers decide: each application is replayed itself."""
    impact = engine.impact
    draft = engine.definitions.parse(REFORM.read_bytes(), "hv.draft.bpmn")
    with engine.store.read() as conn:
        numbers = engine.definitions.version_numbers(conn, "hv")
        base = engine.definitions.diagram(conn, next(iter(numbers)))
        from sqlalchemy import select
        from engine.store.tables import APPS
        apps = conn.execute(select(APPS.c.id, APPS.c.app_no, APPS.c.status, APPS.c.version_id)
                            .where(APPS.c.process_key == "hv")).all()
    unrecorded = [replace(h, events=tuple(e for e in h.events if e.kind != "service.called"))
                  for h in impact._histories(apps, numbers)]
    report = preview(process_key="hv", base_version=1, base=base, draft=draft, histories=unrecorded,
                     registry=engine.registry, settings=engine.config.policy, workloads=lambda: {},
                     max_iterations=engine.config.max_loop_iterations)
    assert report.replayed == len(unrecorded)





def with_start(scenario: Scenario, **changes: object) -> Scenario:
    return replace(scenario, start={**scenario.start, **changes})


@pytest.fixture
def varied(engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> list[str]:
    """Every HV path, each taken by customers whose data the draft reads alike (the same capacity) and unlike (a
    capacity that takes the same decisions, another that takes others), finished or stopped part way."""
    apps = []
    hv = [s for name, s in scenarios.items() if name.startswith("hv_")]
    for scenario in hv:
        capacity = int(scenario.start.get("capacity_kva") or 800)
        for who, data, stop in (("甲", {}, None), ("乙", {}, None), ("丙", {"capacity_kva": capacity + 10}, None),
                                ("丁", {}, 3), ("戊", {"capacity_kva": capacity + 10}, 6)):
            apps.append(run(engine, clock, with_start(with_customer(scenario, who), **data), stop_after=stop))
    return apps


def test_sharing_gives_exactly_the_report_of_replaying_each_alone_on_a_varied_office(
        engine: Engine, varied: list[str]) -> None:
    draft = REFORM.read_bytes()
    shared = engine.impact_preview("hv", draft, by="analyst")
    alone = engine.impact_preview("hv", draft, share=False, by="analyst")
    assert {a.app_no for a in shared.applications} == set(varied)
    assert alone.replayed == len(varied) and shared.replayed < len(varied)
    assert shared == replace(alone, replayed=shared.replayed)
    # the variety is real: some paths change and some do not, some save hours, running and finished alike
    assert 0 < shared.changed_count < len(varied)
    assert {a.status for a in shared.applications} == {"running", "completed"}
    assert len({a.saved_hours for a in shared.applications}) > 2

    engine.impact.BATCH = 7  # many batches, read by two processes while this one replays
    assert engine.impact_preview("hv", draft, workers=2, by="analyst") == shared
    in_a_thread: list[ImpactReport] = []  # as in a web server: the processes come from a clean server process
    worker = threading.Thread(target=lambda: in_a_thread.append(
        engine.impact_preview("hv", draft, workers=2, by="analyst")))
    worker.start()
    worker.join()
    assert in_a_thread == [shared]
