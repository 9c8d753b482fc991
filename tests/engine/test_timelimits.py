"""Time limits: due dates from the diagrams' timeLimit, clock stops, office overrides, and the sweep that
warns and escalates exactly once even with several workers racing."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
import time_machine

from engine import Engine, Forbidden, SweepResult, TaskInfo
from cli.demo import Scenario, create_demo_users, drive

from tests.conftest import Clock, make_engine
from tests.databases import database_url


class RecordingNotifier:
    """A Notifier that keeps what it was asked to deliver."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sent: list[tuple[str, str]] = []
        self.delay = delay
        self._lock = threading.Lock()

    def send(self, recipient: str, message: str) -> str:
        time.sleep(self.delay)  # a slow channel: the other worker sweeps while this one delivers
        with self._lock:
            self.sent.append((recipient, message))
        return "test"


def _ready(engine: Engine, scenario: Scenario, stop_after: int, node_id: str) -> TaskInfo:
    results = list(drive(engine, scenario, stop_after))
    task = next((t for t in results[-1].ready_tasks if t.node_id == node_id), None)
    assert task is not None, [t.node_id for t in results[-1].ready_tasks]
    return task


def test_hv_reply_gets_its_due_date_from_the_time_limit_expression(engine: Engine, clock: Clock,
                                                                   scenarios: dict[str, Any]) -> None:
    single = _ready(engine, scenarios["hv_solo"], 3, "hv_reply_supply_plan")
    dual = _ready(engine, scenarios["hv_joint_review"], 5, "hv_reply_supply_plan")  # 会审: three parties
    assert (single.time_limit_days, dual.time_limit_days) == (15, 30)
    # Ready Mon 23 Nov 2026: 15 working days → Mon 14 Dec; 30 → past New Year's Day 2027 (provisional) to 5 Jan.
    assert single.due_at == datetime(2026, 12, 14, 23, 59, 59)
    assert dual.due_at == datetime(2027, 1, 5, 23, 59, 59)
    assert dual.due_at == engine.calendar().add_working_days(clock.now, 30)
    assert not single.clock_stopped and single.warned_at is None and single.escalated_at is None
    # Reloaded from the database, the row says the same; the audit trail records the limit.
    assert engine.task(dual.id).due_at == dual.due_at
    ready = [e for e in engine.application(dual.app_no).history
             if e.kind == "task.ready" and e.node_id == "hv_reply_supply_plan"]
    assert ready[-1].payload["time_limit_days"] == 30 and ready[-1].payload["due_at"] == "2027-01-05T23:59:59"


def test_the_plan_not_the_application_sets_the_reply_limit(engine: Engine, scenarios: dict[str, Any]) -> None:
    # the customer asked for a single supply; the approved plan chose dual supply: 30 working days, not 15
    scenario = scenarios["hv_plan_dual_unasked"]
    assert scenario.start["dual_supply"] is False
    reply = _ready(engine, scenario, 5, "hv_reply_supply_plan")
    assert reply.time_limit_days == 30


def test_a_customer_acting_task_stops_the_clock(engine: Engine, scenarios: dict[str, Any]) -> None:
    confirm = _ready(engine, scenarios["hv_solo"], 4, "hv_customer_confirm_plan")
    assert confirm.clock_stopped
    assert confirm.due_at is None and confirm.time_limit_days is None
    history = engine.application(confirm.app_no).history
    ready = [e for e in history if e.kind == "task.ready" and e.node_id == "hv_customer_confirm_plan"]
    assert ready[-1].payload.get("clock_stopped") is True


def test_an_office_override_wins_over_the_diagram(tmp_path: Path, clock: Clock, scenarios: dict[str, Any]) -> None:
    engine = make_engine(tmp_path, clock, time_limit_overrides={"hv_reply_supply_plan": 10, "hv_site_survey_solo": 1})
    try:
        survey = engine.start("hv", scenarios["hv_solo"].start, "frontdesk").ready_tasks[0]
        assert (survey.time_limit_days, survey.due_at) == (1, datetime(2026, 11, 24, 23, 59, 59))
        reply = _ready(engine, scenarios["hv_joint_review"], 5, "hv_reply_supply_plan")
        assert reply.time_limit_days == 10  # the diagram says 30 for dual supply
        assert reply.due_at == datetime(2026, 12, 7, 23, 59, 59)
    finally:
        engine.dispose()


def test_lv_limits_follow_the_customer_class(engine: Engine, scenarios: dict[str, Any]) -> None:
    residential = _ready(engine, scenarios["lv_residential"], 1, "lv_construct_connect")
    small = _ready(engine, scenarios["lv_small_micro"], 1, "lv_construct_connect")
    assert (residential.time_limit_days, small.time_limit_days) == (3, 5)


# ----------------------------------------------------------------------------- the sweep

@pytest.fixture
def live_engine(tmp_path: Path) -> Iterator[tuple[Engine, RecordingNotifier]]:
    """An engine on the real clock (time-machine moves it) with a recording notifier."""
    notifier = RecordingNotifier()
    engine = Engine({"database_url": database_url(tmp_path, "live.db"), "documents_dir": tmp_path / "docs"},
                    notifier=notifier)
    engine.init_schema()
    engine.deploy_shipped()
    create_demo_users(engine)
    yield engine, notifier
    engine.dispose()


def _at(*args: int) -> Any:
    """time-machine travel to a local wall-clock moment."""
    return time_machine.travel(datetime(*args).astimezone(), tick=False)


def test_the_sweep_warns_then_escalates_each_clock_exactly_once(live_engine: tuple[Engine, RecordingNotifier],
                                                               scenarios: dict[str, Any]) -> None:
    engine, notifier = live_engine
    with _at(2026, 12, 31, 9, 0):  # Thursday; 1 Jan 2027 is a holiday, then a weekend
        survey = engine.start("hv", scenarios["hv_solo"].start, "frontdesk").ready_tasks[0]
    reply = engine.clocks(survey.app_no).clocks[0]
    assert (reply.key, reply.limit) == ("plan_reply", 15)  # 供电方案答复 counts from acceptance
    deadline = reply.deadline
    assert deadline == engine.calendar().add_working_days(datetime(2026, 12, 31, 9, 0), 15)
    assert reply.provisional  # 2027's make-up working days are not known yet
    holder = survey.assignee
    assert holder in ("manager1", "manager2")
    the_day_before = engine.calendar().previous_workday(deadline.date())

    with _at(2027, 1, 5, 23, 0):  # the survey's own target has passed: the sweep no longer speaks of nodes
        assert engine.sweep_time_limits() == SweepResult(0, 0)
    with _at(the_day_before.year, the_day_before.month, the_day_before.day, 8, 0):  # one working day left
        assert engine.sweep_time_limits() == SweepResult(0, 0)  # not yet: the warning falls at its end
    moment = datetime.combine(deadline.date(), datetime.min.time()).replace(hour=8)
    with _at(moment.year, moment.month, moment.day, 8, 0):
        result = engine.sweep_time_limits()
        assert (result.warnings, result.escalations) == (1, 0)
        assert sorted(n.recipient for n in result.sent) == sorted([holder, "role:marketing"])
        assert engine.sweep_time_limits() == SweepResult(0, 0)
    after = deadline + timedelta(hours=10)
    with _at(after.year, after.month, after.day, after.hour, 0):  # past the limit: escalation
        result = engine.sweep_time_limits()
        assert (result.warnings, result.escalations) == (0, 1)
        assert sorted(n.recipient for n in result.sent) == sorted([holder, "role:marketing"])
        assert engine.sweep_time_limits() == SweepResult(0, 0)
    with _at(2027, 3, 20, 9, 0):
        assert engine.sweep_time_limits() == SweepResult(0, 0)

    assert sorted(r for r, _ in notifier.sent) == sorted([holder, "role:marketing"] * 2)
    mine = engine.notifications(holder)
    assert sorted(n.kind for n in mine) == ["escalation", "warning"]
    assert all(n.app_no == survey.app_no and n.task_id == survey.id for n in mine)
    escalation = next(n.message for n in mine if n.kind == "escalation")
    assert "【超期督办】" in escalation and "「供电方案答复」" in escalation and "时限 15 个工作日" in escalation
    assert "（暂定日历）" in escalation and "现场勘查" in escalation
    assert holder not in escalation  # people are named by their names, not their usernames
    assert engine.user(holder).display_name in escalation
    supervisor = engine.notifications("marketing")
    assert sorted(n.kind for n in supervisor) == ["escalation", "warning"]
    assert engine.notifications("manager1" if holder == "manager2" else "manager2") == []

    history = engine.application(survey.app_no).history
    assert [e.kind for e in history if e.kind.startswith("clock.") and e.kind != "clock.started"] == \
        ["clock.warned", "clock.escalated"]
    assert engine.verify_audit(survey.app_no).intact


def test_notifications_are_read_only_by_their_addressees(live_engine: tuple[Engine, RecordingNotifier],
                                                         scenarios: dict[str, Any]) -> None:
    engine, _ = live_engine
    with _at(2026, 11, 23, 9, 0):
        survey = engine.start("hv", scenarios["hv_solo"].start, "frontdesk").ready_tasks[0]
    with _at(2026, 12, 15, 9, 0):  # 15 working days after Mon 23 Nov ended on Mon 14 Dec
        assert engine.sweep_time_limits().escalations == 1
    holder = survey.assignee
    assert holder is not None
    own = engine.notifications(holder, unread_only=True)
    role = engine.notifications("marketing", unread_only=True)
    assert len(own) == 1 and len(role) == 1
    with pytest.raises(Forbidden):
        engine.mark_notification_read(own[0].id, "marketing")
    with pytest.raises(Forbidden):
        engine.mark_notification_read(role[0].id, holder)
    engine.mark_notification_read(own[0].id, holder)
    engine.mark_notification_read(role[0].id, "marketing")
    assert engine.notifications(holder, unread_only=True) == []
    assert engine.notifications("marketing", unread_only=True) == []
    assert engine.notifications(holder)[0].read_at is not None


def test_only_running_clocks_are_swept(engine: Engine, clock: Clock, scenarios: dict[str, Any]) -> None:
    waiting = _ready(engine, scenarios["hv_solo"], 4, "hv_customer_confirm_plan")  # replied: the clock stopped
    draft = _ready(engine, scenarios["hv_solo"], 1, "hv_draft_supply_plan")
    result = engine.sweep_time_limits(datetime(2027, 3, 1, 9, 0))
    assert (result.warnings, result.escalations) == (0, 1)
    assert {n.app_no for n in result.sent} == {draft.app_no}
    assert {n.task_id for n in result.sent} == {draft.id, ""}  # the holder's task; 营销部 gets the application
    stopped = [c for c in engine.clocks(waiting.app_no).clocks if c.key == "plan_reply"]
    assert stopped[0].status == "met"
    done = engine.tasks(status="completed", app_no=draft.app_no)
    assert [t.node_id for t in done] == ["hv_site_survey_solo"]


def test_two_workers_racing_send_each_warning_and_escalation_once(tmp_path: Path, clock: Clock,
                                                                  scenarios: dict[str, Any]) -> None:
    setup = make_engine(tmp_path, clock)
    apps = [setup.start("hv", scenarios["hv_solo"].start, "frontdesk").app_no for _ in range(4)]
    setup.dispose()
    url = setup.config.database_url
    notifiers = [RecordingNotifier(delay=0.02), RecordingNotifier(delay=0.02)]
    workers = [Engine({"database_url": url, "documents_dir": tmp_path / "documents"}, clock=clock, notifier=n)
               for n in notifiers]
    totals = {"warnings": 0, "escalations": 0}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def race(moment: datetime) -> None:
        barrier = threading.Barrier(len(workers))

        def run(worker: Engine) -> None:
            try:
                barrier.wait()
                result = worker.sweep_time_limits(moment)
                with lock:
                    totals["warnings"] += result.warnings
                    totals["escalations"] += result.escalations
            except BaseException as exc:  # a failed thread must fail the test, not vanish
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    try:
        # Accepted Mon 23 Nov 09:00, 供电方案答复 in 15 working days: Mon 14 Dec 23:59:59, warned from Fri 11 Dec's end.
        for _ in range(5):
            race(datetime(2026, 12, 14, 9, 0))
        for _ in range(5):
            race(datetime(2026, 12, 15, 9, 0))
        assert errors == []
        assert totals == {"warnings": len(apps), "escalations": len(apps)}
        delivered = notifiers[0].sent + notifiers[1].sent
        assert len(delivered) == len(apps) * 4  # warning and escalation, each to the holder and 营销部
        assert sum(1 for r, _ in delivered if r == "role:marketing") == len(apps) * 2
        for app_no in apps:
            kinds = [e.kind for e in workers[0].application(app_no).history]
            assert kinds.count("clock.warned") == 1 and kinds.count("clock.escalated") == 1
            assert workers[0].verify_audit(app_no).intact
        marketing = workers[0].notifications("marketing", limit=100)
        assert len(marketing) == len(apps) * 2 and {n.kind for n in marketing} == {"warning", "escalation"}
    finally:
        for w in workers:
            w.dispose()


# ----------------------------------------------------------------------------- deploy gate and settings

def test_the_deploy_gate_checks_time_limit_expressions(bare_engine: Engine, tmp_path: Path) -> None:
    from engine import DiagramRejected

    from tests.engine.diagrams import FORM, simple, user_task

    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "t.json").write_text(json.dumps(FORM, ensure_ascii=False), encoding="utf-8")
    good = simple(user_task("review", extra='<spiffworkflow:property name="timeLimit" value="3 if n &gt; 1 else 5"/>'))
    diagram = bare_engine.validate(good.encode(), "ok.bpmn", forms)
    assert diagram.nodes["review"].properties["timeLimit"] == "3 if n > 1 else 5"
    bad = simple(user_task("review", extra='<spiffworkflow:property name="timeLimit" value="__import__(\'os\')"/>'))
    with pytest.raises(DiagramRejected) as caught:
        bare_engine.validate(bad.encode(), "bad.bpmn", forms)
    assert any(r.element_id == "review" and r.code == "expression" for r in caught.value.reasons)


@pytest.mark.parametrize("settings", [{"time_limit_overrides": {"hv_reply_supply_plan": "ten"}},
                                      {"time_limit_overrides": ["hv_reply_supply_plan"]},
                                      {"warning_lead_working_days": -1}])
def test_bad_time_limit_settings_are_refused_at_start(settings: dict[str, Any]) -> None:
    from engine import ConfigurationError, EngineConfig

    with pytest.raises(ConfigurationError):
        EngineConfig.from_mapping(settings)
