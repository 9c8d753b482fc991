"""The customer's side through the engine: notices queued at the moments a customer must know of and sent
once after the commit, the independent 回访 opened at power on for someone who never handled the case,
complaints and reports with working-day deadlines, routed and kept confidential, and the dashboard figures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cli.demo import DEMO_FIRMS, DEMO_WORK_PHONES, Scenario, drive
from engine import Answers, Conflict, Engine, Filing, Forbidden, FormValidationError, InvalidInput, StepResult, tables

from tests.conftest import Clock, make_engine
from tests.databases import database_url, fast_hasher

FREE_CHOICE = "不指定设计、施工和设备供应单位"


class RecordingNotifier:
    """A Notifier that keeps what it was asked to deliver; ``fail`` times it raises OSError first."""

    def __init__(self, fail: int = 0, delay: float = 0.0) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail, self.delay = fail, delay
        self.lock = threading.Lock()

    def send(self, recipient: str, message: str) -> str:
        if self.fail:
            self.fail -= 1
            raise OSError("短信网关无响应")
        if self.delay:
            threading.Event().wait(self.delay)
        with self.lock:
            self.sent.append((recipient, message))
        return "sms"


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def office(tmp_path: Path, clock: Clock, notifier: RecordingNotifier) -> Iterator[Engine]:
    """An engine on a fresh copy of the seeded database whose customer notices go to a recording notifier."""
    engine = Engine({"database_url": database_url(tmp_path, "test.db", seeded=True),
                     "documents_dir": tmp_path / "documents"}, clock=clock, notifier=notifier,
                    password_hasher=fast_hasher())  # type: ignore[arg-type]
    yield engine
    engine.dispose()


def run(engine: Engine, clock: Clock, scenario: Scenario, stop_after: int | None = None) -> StepResult:
    last = None
    for last in drive(engine, scenario, stop_after):
        clock.advance(hours=3)
    assert last is not None
    return last


def events(engine: Engine, app_no: str) -> list[str]:
    return [n.event for n in engine.customer_notices(app_no, reader="auditor")]


# ----------------------------------------------------------------------------- notices


def test_acceptance_tells_the_customer_the_checklist_the_firms_and_their_manager(
        office: Engine, clock: Clock, scenarios: dict[str, Any]) -> None:
    result = run(office, clock, scenarios["hv_solo"], stop_after=0)
    notices = office.customer_notices(result.app_no, reader="marketing")
    assert [n.event for n in notices] == ["application_accepted", "documents_required"]
    accepted, missing = notices[0].message, notices[1].message
    phone = scenarios["hv_solo"].start["contact_phone"]
    assert {n.recipient for n in notices} == {phone} and {n.status for n in notices} == {"queued"}
    # 一次性告知: what was received and what is still missing (hv_solo brought two of the four required)
    assert "已收资料：营业执照（主体资格证明）、法定代表人身份证明" in accepted
    assert "尚需提交：用电地址产权证明、用电负荷及设备清单" in accepted and "用电地址产权证明" in missing
    # 三不指定: the right to choose and five firms of each kind from the list
    assert FREE_CHOICE in accepted
    for kind in ("design", "construction", "supply"):
        assert sum(name in accepted for k, name, _, _ in DEMO_FIRMS if k == kind) == 5
    assert f"李强（电话 {DEMO_WORK_PHONES['manager1']}）" in accepted  # the case's manager
    assert "manager1" not in accepted


def test_a_complete_checklist_sends_no_request_for_documents(office: Engine, clock: Clock,
                                                             scenarios: dict[str, Any]) -> None:
    start = {**scenarios["hv_solo"].start, "documents_received": [
        "business_licence", "legal_representative_id", "property_proof", "load_equipment_list"]}
    result = run(office, clock, replace(scenarios["hv_solo"], start=start), stop_after=0)
    assert events(office, result.app_no) == ["application_accepted"]
    assert "所需资料已齐全" in office.customer_notices(result.app_no, reader="marketing")[0].message


def test_rectification_contract_and_power_on_are_sent_at_their_moments_and_once_each(
        office: Engine, clock: Clock, scenarios: dict[str, Any], notifier: RecordingNotifier) -> None:
    result = run(office, clock, scenarios["hv_completion_rectify"])
    assert result.status == "completed"
    assert events(office, result.app_no) == [
        "application_accepted", "documents_required", "supply_plan_reply", "inspection_rectification",
        "contract_ready", "power_on"]
    history = office.application(result.app_no).history
    ready = [e for e in history if e.kind == "task.ready" and e.payload.get("customer_notice")]
    assert [(e.node_id, e.payload["customer_notice"]) for e in ready] == [
        ("hv_completion_rectify", "inspection_rectification"), ("hv_sign_contract", "contract_ready")]
    # nothing reaches the customer before the worker delivers; then each notice once
    assert notifier.sent == []
    sent = office.deliver_notices()
    assert len(sent) == 6 and office.deliver_notices() == []
    assert [m for _, m in notifier.sent] == [n.message for n in sent]
    power_on = notifier.sent[-1][1]
    assert "已送电" in power_on and "安全用电提示" in power_on and "95598" in power_on
    assert {n.status for n in office.customer_notices(result.app_no, reader="auditor")} == {"sent"}
    assert office.verify_audit(result.app_no).intact


def test_a_replay_sends_nothing_and_still_verifies(office: Engine, clock: Clock, scenarios: dict[str, Any],
                                                   notifier: RecordingNotifier) -> None:
    result = run(office, clock, scenarios["hv_solo"])
    before = len(office.customer_notices(result.app_no, reader="auditor"))
    follow_up = office.follow_up_of(result.app_no)
    assert follow_up is not None
    office.record_follow_up(follow_up.id, Answers(True, 5, False, "", False, ""), by="service")
    office.file_complaint(result.app_no, Filing("complaint", "attitude", "客户经理电话一直打不通"))
    for mode in ("recorded", "rerun"):
        report = office.replay(result.app_no, mode, by="auditor")
        assert report.verified, report
    assert len(office.customer_notices(result.app_no, reader="auditor")) == before
    office.deliver_notices()
    assert len(notifier.sent) == before


def test_a_channel_that_fails_is_tried_again_then_given_up(office: Engine, clock: Clock,
                                                           scenarios: dict[str, Any],
                                                           notifier: RecordingNotifier) -> None:
    def states(app_no: str) -> list[tuple[str, int]]:
        return [(n.status, n.attempts) for n in office.customer_notices(app_no, reader="auditor")]

    notifier.fail = 2  # the gateway is down for one round
    first = run(office, clock, scenarios["hv_solo"], stop_after=0).app_no
    office.deliver_notices()
    assert states(first) == [("queued", 1), ("queued", 1)]
    office.deliver_notices()
    assert states(first) == [("sent", 2), ("sent", 2)]
    delivered = len(notifier.sent)
    notifier.fail = 100  # and then for good
    second = run(office, clock, scenarios["hv_solo"], stop_after=0).app_no
    for _ in range(6):
        office.deliver_notices()
    assert states(second) == [("failed", 5), ("failed", 5)] and len(notifier.sent) == delivered


def test_two_workers_racing_send_each_notice_once(tmp_path: Path, clock: Clock,
                                                  scenarios: dict[str, Any]) -> None:
    setup = make_engine(tmp_path, clock)
    apps = [setup.start("hv", scenarios["hv_solo"].start, "frontdesk").app_no for _ in range(3)]
    setup.dispose()
    notifiers = [RecordingNotifier(delay=0.01), RecordingNotifier(delay=0.01)]
    workers = [Engine({"database_url": setup.config.database_url, "documents_dir": tmp_path / "documents"},
                      clock=clock, notifier=n) for n in notifiers]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def deliver(worker: Engine) -> None:
        try:
            barrier.wait()
            worker.deliver_notices()
        except BaseException as exc:  # a failed thread must fail the test, not vanish
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(w,)) for w in workers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        delivered = notifiers[0].sent + notifiers[1].sent
        assert len(delivered) == len(set(delivered)) == len(apps) * 2
        assert all(n.attempts == 1 for a in apps for n in workers[0].customer_notices(a, reader="auditor"))
    finally:
        for w in workers:
            w.dispose()


# ----------------------------------------------------------------------------- the independent 回访


def test_power_on_opens_one_follow_up_for_customer_service_with_a_time_limit(
        office: Engine, clock: Clock, scenarios: dict[str, Any]) -> None:
    result = run(office, clock, scenarios["hv_solo"])
    follow_up = office.follow_up_of(result.app_no)
    assert follow_up is not None and follow_up.status == "open"
    assert (follow_up.manager, follow_up.office, follow_up.assignee) == ("manager1", "CQ", "service")
    power_on = next(t for t in office.tasks(app_no=result.app_no, status="completed") if t.node_id == "hv_power_on")
    assert power_on.completed_at is not None and follow_up.opened_at == power_on.completed_at
    assert follow_up.due_at == office.calendar().add_working_days(follow_up.opened_at, 3)
    assert len(office.follow_ups(status=None)) == 1


def test_the_cases_own_manager_is_never_given_its_follow_up_even_when_they_also_do_customer_service(
        office: Engine, clock: Clock, scenarios: dict[str, Any]) -> None:
    office.create_user("lihua", "客户经理兼客服 李华", ["customer_manager", "customer_service"], "pw")
    start = {**scenarios["hv_solo"].start, "preferred_manager": "lihua"}
    scenario = replace(scenarios["hv_solo"], start=start)
    result = None
    for result in drive(office, scenario):
        pass
    assert result is not None and result.status == "completed"
    follow_up = office.follow_up_of(result.app_no)
    assert follow_up is not None and follow_up.manager == "lihua"
    assert follow_up.assignee == "service"  # not lihua, though "lihua" comes first and has no load
    with pytest.raises(Forbidden, match="未经办该申请"):
        office.record_follow_up(follow_up.id, Answers(True, 5, False, "", False, ""), by="lihua")
    assert office.follow_up(follow_up.id).status == "open"


def test_with_nobody_independent_the_follow_up_waits_in_the_pool(office: Engine, clock: Clock,
                                                                   scenarios: dict[str, Any]) -> None:
    office.create_user("lihua", "客户经理兼客服 李华", ["customer_manager", "customer_service"], "pw")
    start = {**scenarios["hv_solo"].start, "preferred_manager": "lihua"}
    # the only other member of 客户服务 has left
    with office.store.begin() as conn:
        conn.exec_driver_sql("UPDATE users SET active = false WHERE username = 'service'")
    result = None
    for result in drive(office, replace(scenarios["hv_solo"], start=start)):
        pass
    assert result is not None
    follow_up = office.follow_up_of(result.app_no)
    assert follow_up is not None and follow_up.assignee is None
    assert [f.id for f in office.follow_ups(unassigned=True)] == [follow_up.id]
    assert [f.id for f in office.follow_ups(unassigned=True, not_managed_by="lihua")] == []


def test_a_call_not_answered_stays_open_and_an_improper_request_becomes_a_report_to_the_auditors(
        office: Engine, clock: Clock, scenarios: dict[str, Any]) -> None:
    result = run(office, clock, scenarios["lv_residential"])
    follow_up = office.follow_up_of(result.app_no)
    assert follow_up is not None and follow_up.manager is None  # two-step LV: no customer manager
    office.record_follow_up(follow_up.id, Answers(False, remarks="无人接听"), by="service")
    assert (office.follow_up(follow_up.id).status, office.follow_up(follow_up.id).attempts) == ("open", 1)
    done = office.record_follow_up(follow_up.id, Answers(True, 2, False, "", True, "装表师傅要了两条烟"),
                                   by="service")
    assert (done.status, done.satisfaction, done.improper, done.attempts) == ("done", 2, True, 2)
    reports = office.complaints(reader="auditor", app_no=result.app_no)
    assert [(r.kind, r.topic, r.channel, r.routed_to) for r in reports] == [
        ("report", "improper", "follow_up", "auditor")]
    assert reports[0].reporter_phone == scenarios["lv_residential"].start["contact_phone"]
    assert "装表师傅要了两条烟" in reports[0].content
    with pytest.raises(Conflict):
        office.record_follow_up(follow_up.id, Answers(True, 5, False, "", False, ""), by="service")
    kinds = [e.kind for e in office.application(result.app_no).history]
    assert kinds.count("followup.recorded") == 2 and kinds.count("complaint.filed") == 1
    assert office.verify_audit(result.app_no).intact


def test_only_customer_service_makes_the_follow_up(office: Engine, clock: Clock, scenarios: dict[str, Any]) -> None:
    result = run(office, clock, scenarios["lv_residential"])
    follow_up = office.follow_up_of(result.app_no)
    assert follow_up is not None
    with pytest.raises(Forbidden):
        office.record_follow_up(follow_up.id, Answers(True, 5, False, "", False, ""), by="marketing")


# ----------------------------------------------------------------------------- complaints and reports


def test_a_complaint_goes_to_marketing_and_a_report_to_the_auditors_with_working_day_deadlines(
        office: Engine, clock: Clock, scenarios: dict[str, Any]) -> None:
    app_no = run(office, clock, scenarios["hv_solo"], stop_after=1).app_no
    clock.now = datetime(2026, 11, 27, 10, 0)  # a Friday
    complaint = office.file_complaint(app_no, Filing("complaint", "time_limit", "方案答复超过了承诺时间"))
    report = office.record_complaint(app_no, Filing("report", "nominated", "勘查人员推荐某施工队", "赵先生",
                                                    "13700001234"), "hotline_95598", by="service")
    assert (complaint.routed_to, report.routed_to) == ("marketing", "auditor")
    assert complaint.case_no.startswith("TS20261127") and report.case_no.startswith("JB20261127")
    calendar = office.calendar()
    assert complaint.due_at == calendar.add_working_days(clock.now, 5)
    assert report.due_at == calendar.add_working_days(clock.now, 10)
    assert complaint.due_at.date() > (clock.now + timedelta(days=5)).date()  # the weekend does not count
    clock.advance(days=12)
    assert [c.case_no for c in office.complaints(reader="auditor", overdue_only=True)] == [complaint.case_no]


def test_who_filed_is_seen_by_the_auditors_only_and_reports_are_theirs_alone(
        office: Engine, clock: Clock, scenarios: dict[str, Any]) -> None:
    app_no = run(office, clock, scenarios["hv_solo"], stop_after=1).app_no
    complaint = office.record_complaint(app_no, Filing("complaint", "attitude", "前台态度不好", "钱女士",
                                                       "13600005678"), "hotline_95598", by="service")
    report = office.record_complaint(app_no, Filing("report", "improper", "有人暗示要好处费", "孙先生",
                                                    "13500009999"), "hotline_12398", by="service")
    seen = office.complaint(complaint.case_no, reader="marketing")
    assert seen.identity_hidden and (seen.reporter_name, seen.reporter_phone) == ("", "")
    assert seen.content == "前台态度不好"
    with pytest.raises(Forbidden, match="仅稽查"):
        office.complaint(report.case_no, reader="marketing")
    assert [c.case_no for c in office.complaints(reader="marketing")] == [complaint.case_no]
    for case_no, name in ((complaint.case_no, "钱女士"), (report.case_no, "孙先生")):
        full = office.complaint(case_no, reader="auditor")
        assert not full.identity_hidden and full.reporter_name == name
    recorder = office.complaint(report.case_no, reader="service")  # the recorder took the call, the file hides it
    assert recorder.identity_hidden
    with pytest.raises(Forbidden):
        office.complaint(complaint.case_no, reader="manager1")
    history = office.application(app_no).history
    filed = [e for e in history if e.kind == "complaint.filed"]
    assert len(filed) == 2 and all("孙先生" not in str(e.payload) and "好处费" not in str(e.payload) for e in filed)


def test_the_department_a_case_went_to_answers_it_and_the_answer_reaches_whoever_filed(
        office: Engine, clock: Clock, scenarios: dict[str, Any], notifier: RecordingNotifier) -> None:
    app_no = run(office, clock, scenarios["hv_solo"], stop_after=1).app_no
    online = office.file_complaint(app_no, Filing("complaint", "information", "不知道还缺哪些资料"))
    report = office.record_complaint(app_no, Filing("report", "improper", "有人要求吃请", "", "13500009999"),
                                     "hotline_12398", by="service")
    with pytest.raises(Forbidden):
        office.answer_complaint(online.case_no, "已回复", by="auditor")
    with pytest.raises(FormValidationError):
        office.answer_complaint(online.case_no, "  ", by="marketing")
    answered = office.answer_complaint(online.case_no, "尚需用电地址产权证明，已电话告知。", by="marketing")
    assert (answered.status, answered.answered_by) == ("answered", "marketing")
    with pytest.raises(Conflict):
        office.answer_complaint(online.case_no, "再答一次", by="marketing")
    office.answer_complaint(report.case_no, "已立案核查。", by="auditor")
    notifier.sent.clear()
    office.deliver_notices()
    phone = scenarios["hv_solo"].start["contact_phone"]
    assert [(r, online.case_no in m or report.case_no in m) for r, m in notifier.sent[-2:]] == [
        (phone, True), ("13500009999", True)]
    # the answers say who filed: only the auditors see them among the application's notices
    assert "case_answered" not in [n.event for n in office.customer_notices(app_no, reader="marketing")]
    assert [n.event for n in office.customer_notices(app_no, reader="auditor")].count("case_answered") == 2


def test_a_customer_may_file_only_a_few_cases_a_day_online(office: Engine, clock: Clock,
                                                          scenarios: dict[str, Any]) -> None:
    app_no = run(office, clock, scenarios["hv_solo"], stop_after=0).app_no
    for n in range(3):
        office.file_complaint(app_no, Filing("complaint", "other", f"第 {n + 1} 次反映情况"))
    with pytest.raises(InvalidInput, match="请明天再提交"):
        office.file_complaint(app_no, Filing("complaint", "other", "第 4 次反映情况"))
    clock.advance(days=1)
    office.file_complaint(app_no, Filing("complaint", "other", "第二天再反映"))
    with pytest.raises(FormValidationError):
        office.file_complaint("HV20990101000001", Filing("complaint", "other", "没有这个申请"))


# ----------------------------------------------------------------------------- the list and the figures


def test_the_firms_list_is_kept_by_marketing_with_every_change_recorded(office: Engine) -> None:
    with pytest.raises(Forbidden):
        office.add_firm("design", "甲设计院", "乙级", "", by="frontdesk")
    with pytest.raises(FormValidationError) as caught:
        office.add_firm("painting", "", "", "abc", by="marketing")
    assert set(caught.value.field_errors) == {"kind", "name", "qualification", "phone"}
    firm = office.add_firm("design", "甲设计院", "电力行业乙级", "0512-1234567", by="marketing")
    with pytest.raises(FormValidationError, match="同名"):
        office.add_firm("design", "甲设计院", "丙级", "", by="marketing")
    with pytest.raises(FormValidationError, match="原因"):
        office.set_firm_listed(firm.id, False, by="marketing")
    office.set_firm_listed(firm.id, False, "资质证书已过期", by="marketing")
    assert firm.id not in [f.id for f in office.firms("design")]
    assert all(f.id != firm.id for _, shown in office.firms_shown(0) for f in shown)
    history = office.firm_history(firm.id)
    assert [(e.action, e.actor) for e in history] == [("added", "marketing"), ("withdrawn", "marketing")]
    assert history[-1].detail["reason"] == "资质证书已过期"


def test_the_dashboard_counts_follow_ups_per_office_and_manager_and_overdue_cases(
        office: Engine, clock: Clock, scenarios: dict[str, Any]) -> None:
    start = clock.now
    first = run(office, clock, scenarios["hv_solo"]).app_no  # manager1, 城区 (CQ)
    second_start = {**scenarios["hv_solo"].start, "preferred_manager": "manager2"}
    second = run(office, clock, replace(scenarios["hv_solo"], start=second_start)).app_no  # manager2, 乡镇 (XZ)
    for app_no, answers in ((first, Answers(True, 5, False, "", False, "")),
                            (second, Answers(True, 1, True, "有人指定施工队", False, ""))):
        follow_up = office.follow_up_of(app_no)
        assert follow_up is not None
        office.record_follow_up(follow_up.id, answers, by="service")
    office.file_complaint(first, Filing("complaint", "attitude", "电话无人接听"))
    clock.advance(days=30)
    figures = office.customer_figures(start, clock.now)
    offices = {g.name: (g.done, g.average, g.satisfied, g.nominated) for g in figures.by_office}
    assert offices == {"城区供电所": (1, 5.0, 1, 0), "乡镇供电所": (1, 1.0, 0, 1)}
    managers = {g.key: g.satisfied_rate for g in figures.by_manager}
    assert managers == {"manager1": 1.0, "manager2": 0.0}
    assert (figures.total.done, figures.total.nominated) == (2, 1)
    cases = {c.kind: (c.filed, c.open, c.overdue_now) for c in figures.cases}
    assert cases == {"complaint": (1, 1, 1), "report": (1, 1, 1)}  # the nominated firm became a report


def test_a_case_ended_before_its_process_no_longer_waits_for_its_follow_up(office: Engine, clock: Clock,
                                                                          scenarios: dict[str, Any]) -> None:
    app_no = run(office, clock, scenarios["hv_solo"]).app_no
    follow_up = office.follow_up_of(app_no)
    assert follow_up is not None
    # what a withdrawal or termination does through the step hooks (the lifecycle actions call them)
    with office.store.begin() as conn:
        for hook in office.steps.hooks:
            hook.application_ended(conn, _app_id(office, app_no), clock.now, "terminated")
    assert office.follow_up(follow_up.id).status == "cancelled"
    assert office.follow_ups() == []


def _app_id(engine: Engine, app_no: str) -> int:
    with engine.store.read() as conn:
        return int(conn.execute(select(tables.APPS.c.id).where(tables.APPS.c.app_no == app_no)).scalar_one())
