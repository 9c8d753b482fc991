"""The figures kept per day as steps commit: the dashboard added up from them says what the scan over the work
items says (counts exactly, medians and 90th percentiles within 2.5 %), for any period and variant."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update

from engine import Dashboard, Engine, Period, tables
from tests.conftest import Clock
from tests.web.test_supervision import SLOW_SURVEY, TWO_HOURS, run, with_step_data
from cli.demo import Scenario, drive


def assert_same(kept: Dashboard, live: Dashboard) -> None:
    assert kept.open_nodes == live.open_nodes
    assert kept.on_time == live.on_time
    assert kept.end_to_end == live.end_to_end
    assert kept.satisfaction == live.satisfaction
    assert kept.duration_unit == live.duration_unit
    assert [(d.process_key, d.node_id, d.count) for d in kept.durations] == \
        [(d.process_key, d.node_id, d.count) for d in live.durations]
    for k, v in zip(kept.durations, live.durations):
        assert k.median == pytest.approx(v.median, rel=0.025, abs=1e-6)
        assert k.p90 == pytest.approx(v.p90, rel=0.025, abs=1e-6)
    late_k, late_v = kept.late_entries, live.late_entries
    assert (late_k.considered, late_k.office_share) == (late_v.considered, late_v.office_share)
    assert [(e.app_no, e.lag_days, e.source) for e in late_k.late] == [(e.app_no, e.lag_days, e.source) for e in late_v.late]
    assert sorted((-e.lag_hours, e.app_no) for e in late_k.late) == sorted((-e.lag_hours, e.app_no) for e in late_v.late)
    assert [(a.username, a.applications, a.late, a.flagged, a.evidence, a.unconfirmed) for a in late_k.acceptors] == \
        [(a.username, a.applications, a.late, a.flagged, a.evidence, a.unconfirmed) for a in late_v.acceptors]


@pytest.fixture
def history(engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> list[str]:
    """A week of work: finished HV applications (one slow survey), LV ones open at several nodes, PV ones,
    two acceptors, one of whom enters applications days after the customer applied."""
    engine.create_user("frontdesk2", "柜台受理员 钱多", ("front_desk",), "baozhuang")
    apps = []
    slow = {"hv_site_survey_solo": SLOW_SURVEY}
    for score in (5, 2, 4):
        apps.append(run(engine, clock, with_step_data(scenarios["hv_solo"], "hv_follow_up", satisfaction_score=score),
                        step_time=lambda node: slow.get(node, TWO_HOURS) if score == 2 else TWO_HOURS))
        clock.advance(days=1)
    for stop in (0, 1, 2, None):
        apps.append(run(engine, clock, scenarios["lv_residential"], stop_after=stop, lag=timedelta(hours=5)))
        apps.append(run(engine, clock, scenarios["lv_residential"], start_as="frontdesk2", stop_after=stop,
                        lag=timedelta(days=5)))  # late in working days whatever the weekday
    pv = next(s for name, s in scenarios.items() if name.startswith("pv"))
    apps.append(run(engine, clock, pv, stop_after=3))
    clock.advance(days=2)
    return apps


def test_the_kept_dashboard_says_what_the_scan_says_for_any_period_and_variant(
        engine: Engine, clock: Clock, history: list[str]) -> None:
    today = clock.now.date()
    for period in (Period.last_days(today, 90), Period.last_days(today, 3), Period(today, today),
                   Period(today - timedelta(days=400), today - timedelta(days=200))):
        for variant in (None, "hv", "lv", "pv"):
            kept = engine.supervision.kept_dashboard(period, variant)
            live = engine.supervision.dashboard(period, variant)
            assert_same(kept, live)
    whole = engine.supervision.kept_dashboard(Period.last_days(today, 90))
    assert sum(d.count for d in whole.durations) > 40 and whole.end_to_end and whole.satisfaction.count == 3
    assert any(a.flagged for a in whole.late_entries.acceptors)


def test_open_tasks_follow_every_step_and_the_late_ones_are_found_by_their_due_time(
        engine: Engine, clock: Clock, history: list[str], scenarios: dict[str, Scenario]) -> None:
    assert engine.supervision.kept_open_tasks() == engine.supervision.open_tasks_by_due_state()
    clock.advance(days=20)  # every limited open task is overdue now
    kept = engine.supervision.kept_open_tasks()
    assert kept == engine.supervision.open_tasks_by_due_state()
    assert sum(n.counts["overdue"] for n in kept) > 0
    run(engine, clock, scenarios["hv_solo"], stop_after=4)  # opens and closes more tasks
    assert engine.supervision.kept_open_tasks() == engine.supervision.open_tasks_by_due_state()
    assert engine.supervision.kept_open_tasks("hv") == engine.supervision.open_tasks_by_due_state("hv")


def test_a_database_filled_before_the_figures_existed_gets_them_once_on_init(
        engine: Engine, clock: Clock, history: list[str]) -> None:
    period = Period.last_days(clock.now.date(), 90)
    before = engine.supervision.kept_dashboard(period)
    with engine.store.begin() as conn:
        for table in (tables.FIGURES, tables.OPEN_COUNTS, tables.ENTRY_LAGS):
            conn.execute(delete(table))
    assert engine.supervision.kept_dashboard(period).durations == ()
    engine.init_schema()  # finds them empty with applications there: counts them once
    after = engine.supervision.kept_dashboard(period)
    assert_same(after, before)
    assert after.flows == before.flows and len(after.flows) > 20  # followed again through the stored trails
    engine.init_schema()  # and never twice
    assert_same(engine.supervision.kept_dashboard(period), before)


def test_trails_of_the_earlier_form_are_followed_to_the_flows_the_steps_counted(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario], monkeypatch: pytest.MonkeyPatch) -> None:
    """Trails written before steps recorded their flows — every state change with its task id in a separate
    engine.transitions event, tasks stored as SpiffWorkflow's dictionaries — mixed with newer ones (one
    application changes form half way, its old rows staying among compact ones): counted again, the same."""
    from engine.casework import steps as step_module
    from engine.kernel.codec import StateCodec
    from engine.kernel.transitions import state_name
    from tests.engine.test_recorded_moves import rewrite, trail

    def every_change(transitions: Any, flows: Any = ()) -> dict[str, Any]:
        return {"changes": [[name, state_name(old), state_name(new), str(tid)] for tid, name, old, new in transitions]}

    def task_dictionary(codec: StateCodec, task: Any, seq_of: Any) -> str:
        return json.dumps(codec.registry.convert(task), cls=codec._encoder, ensure_ascii=False, separators=(",", ":"))

    def earlier_form(m: pytest.MonkeyPatch) -> None:
        m.setattr(step_module, "record_moves", every_change)
        m.setattr(StateCodec, "dump_task", task_dictionary)

    first_day = clock.now.date()
    with monkeypatch.context() as m:
        earlier_form(m)
        apps = [run(engine, clock, scenarios["lv_residential"])]
    loop = scenarios["hv_design_review_sendback"]
    steps = drive(engine, loop)
    with monkeypatch.context() as m:
        earlier_form(m)
        apps.append(next(steps).app_no)
        for _ in range(len(loop.steps) // 2):
            clock.advance(hours=9)
            next(steps)
    for _ in steps:  # the rest in the present form
        clock.advance(hours=9)
    apps.append(run(engine, clock, scenarios["hv_solo"]))
    period = Period(first_day, clock.now.date())
    live = {f.flow_id: f.count for f in engine.supervision.kept_dashboard(period).flows}
    for app_no in apps[:2]:  # the changes move out of the inputs into an event of their own, as they were kept
        earlier: list[dict[str, Any]] = []
        pending: dict[str, Any] | None = None
        for e in trail(engine, app_no):
            payload = json.loads(e.payload)
            if pending is not None and e.kind != "service.called":
                earlier.append(pending)
                pending = None
            if "changes" in payload:
                pending = {"at": e.at, "actor": e.actor, "kind": "engine.transitions", "node_id": None,
                           "task_id": None, "payload": {"changes": payload.pop("changes")}}
            earlier.append({"at": e.at, "actor": e.actor, "kind": e.kind, "node_id": e.node_id,
                            "task_id": e.task_id, "payload": payload})
        if pending is not None:
            earlier.append(pending)
        rewrite(engine, app_no, earlier)
        assert engine.verify_audit(app_no).intact
    with engine.store.read() as conn:
        forms = Counter(p[0] for p in conn.execute(select(tables.WF_TASKS.c.payload)).scalars())
        kinds = Counter(conn.execute(select(tables.EVENTS.c.kind)).scalars())
    assert forms["{"] > 0 and forms["["] > 0 and kinds["engine.transitions"] > len(loop.steps) // 2
    with engine.store.begin() as conn:
        for table in (tables.FIGURES, tables.OPEN_COUNTS, tables.ENTRY_LAGS):
            conn.execute(delete(table))
    engine.init_schema()
    kept = {f.flow_id: f.count for f in engine.supervision.kept_dashboard(period).flows}
    assert kept == live
    assert live["hv_f_design_review"] == 2 and len(live) > 40  # the loop taken twice, both processes' flows


def test_a_period_reads_its_whole_months_once_and_its_other_days_one_by_one() -> None:
    from datetime import date

    from engine.oversight.figures import whole_months

    assert whole_months(date(2026, 1, 15), date(2026, 4, 10)) == (
        [date(2026, 2, 1), date(2026, 3, 1)], [(date(2026, 1, 15), date(2026, 1, 31)), (date(2026, 4, 1), date(2026, 4, 10))])
    assert whole_months(date(2026, 2, 1), date(2026, 2, 28)) == ([date(2026, 2, 1)], [])
    assert whole_months(date(2026, 2, 2), date(2026, 2, 28)) == ([], [(date(2026, 2, 2), date(2026, 2, 28))])
    assert whole_months(date(2025, 12, 1), date(2026, 1, 31)) == ([date(2025, 12, 1), date(2026, 1, 1)], [])


def test_each_sequence_flow_is_counted_as_often_as_it_was_taken_on_the_day_it_was_taken(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> None:
    first_day = clock.now.date()
    app_no = run(engine, clock, scenarios["hv_design_review_sendback"])  # sent back once at the design review
    period = Period(first_day, clock.now.date())
    kept = {f.flow_id: f.count for f in engine.supervision.kept_dashboard(period, "hv").flows}
    trace = engine.application_trace(app_no)
    # every flow of the path once; the loop of the design review twice; and both branches of signing ∥ metering
    # into their join (the contract's branch enters it after the dispatch agreement's merge; the application's
    # diagram marks one of the two: the join ran once)
    expected = Counter(trace.flows) + Counter({"hv_f_design_review": 1, "hv_f_design_reviewed": 1,
                                               "hv_f_contract_done": 1})
    assert kept == dict(expected)
    days = [first_day + timedelta(days=n) for n in range((clock.now.date() - first_day).days + 1)]
    by_day = Counter()
    for day in days:
        by_day.update({f.flow_id: f.count for f in engine.supervision.kept_dashboard(Period(day, day), "hv").flows})
    assert by_day == expected and len([d for d in days if engine.supervision.kept_dashboard(Period(d, d), "hv").flows]) > 1
    run(engine, clock, scenarios["hv_design_review_sendback"])
    twice = {f.flow_id: f.count for f in engine.supervision.kept_dashboard(Period(first_day, clock.now.date()),
                                                                           "hv").flows}
    assert twice == {flow: 2 * n for flow, n in expected.items()}
    assert engine.supervision.kept_dashboard(Period(first_day, clock.now.date()), "lv").flows == ()
    assert engine.supervision.kept_dashboard(Period.last_days(first_day - timedelta(days=1), 30), "hv").flows == ()


def test_open_task_counts_changed_outside_a_step_are_repaired_by_the_check_the_worker_runs(
        engine: Engine, history: list[str]) -> None:
    supervision = engine.supervision
    assert supervision.reconcile_open_counts(force=True) == 0  # steps keep them exact
    open_before = sum(n.total for n in supervision.open_tasks_by_due_state())
    with engine.store.begin() as conn:  # a direct edit: one open task withdrawn, another moved to a new node
        items = conn.execute(select(tables.ITEMS.c.id).where(tables.ITEMS.c.status == "ready")
                             .order_by(tables.ITEMS.c.id).limit(2)).scalars().all()
        conn.execute(update(tables.ITEMS).where(tables.ITEMS.c.id == items[0]).values(status="cancelled"))
        conn.execute(update(tables.ITEMS).where(tables.ITEMS.c.id == items[1])
                     .values(node_id="lv_moved_here", node_name="迁移后的环节"))
    drifted = supervision.kept_open_tasks()
    assert drifted != supervision.open_tasks_by_due_state()
    assert supervision.reconcile_open_counts() is None  # checked a moment ago: not again yet
    assert supervision.reconcile_open_counts(force=True) >= 2
    repaired = supervision.kept_open_tasks()
    assert repaired == supervision.open_tasks_by_due_state()
    assert any(n.node_id == "lv_moved_here" and n.total == 1 for n in repaired)
    assert sum(n.total for n in repaired) == open_before - 1
    with engine.store.read() as conn:  # counts that fell to nothing are dropped
        assert conn.execute(select(func.count()).select_from(tables.OPEN_COUNTS)
                            .where(tables.OPEN_COUNTS.c.count == 0)).scalar_one() == 0
    assert supervision.reconcile_open_counts(force=True) == 0


def test_the_reshaped_figures_migrate_both_ways_and_say_the_same(engine: Engine, clock: Clock,
                                                                  history: list[str]) -> None:
    from alembic import command

    from engine.store.schema import alembic_config

    periods = [Period.last_days(clock.now.date(), 90), Period.last_days(clock.now.date(), 3)]
    before = [engine.supervision.kept_dashboard(p, v) for p in periods for v in (None, "lv")]
    cfg = alembic_config(engine.store.url)
    with engine.store.sa_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0017")  # back to day rows (month histograms apart) and open counts per node
    with engine.store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM daily_figures WHERE figure = 'm_workdays'")).scalar_one() > 0
    engine.init_schema()  # up again: months added up from the days, open tasks counted by their due day
    after = [engine.supervision.kept_dashboard(p, v) for p in periods for v in (None, "lv")]
    for a, b in zip(after, before):
        assert_same(a, b)
        assert a.flows == b.flows  # not kept before 0018: followed again through the stored trails


def test_open_tasks_stay_exact_when_the_official_schedule_moves_their_due_days(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> None:
    clock.now = datetime(2026, 12, 31, 9, 0)  # the survey's two working days reach into 2027
    app_no = engine.start("hv", scenarios["hv_solo"].start, "frontdesk").app_no
    survey = engine.tasks(app_no=app_no)[0]
    due_before = engine.task(survey.id).due_at
    assert due_before is not None
    engine.import_calendar({"year": 2027, "days": [  # 1 and 4 January become holidays
        {"date": "2027-01-01", "workday": False, "name": "元旦"},
        {"date": "2027-01-04", "workday": False, "name": "元旦（调休）"}]}, "marketing")
    due_after = engine.task(survey.id).due_at
    assert due_after is not None and due_after.date() > due_before.date()
    clock.now = datetime.combine(due_before.date() + timedelta(days=1), time(9, 0))  # overdue only by the old date
    kept = engine.supervision.kept_open_tasks("hv")
    assert kept == engine.supervision.open_tasks_by_due_state("hv")
    assert not any(n.counts["overdue"] for n in kept) and sum(n.total for n in kept) == 1
