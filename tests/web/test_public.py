"""办事公开: a customer follows their application with its number and the last four digits of the phone."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any

import pytest

from engine import Engine
from cli.demo import DEMO_USERS, DEMO_WORK_PHONES, Scenario, drive

from tests.conftest import Clock, Staff

CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]+"')


class Accepted:
    """An HV application three tasks in, a day passing before each task; its phone ends in 5678."""

    def __init__(self, engine: Engine, clock: Clock, scenario: Scenario) -> None:
        self.data = dict(scenario.start)
        self.accepted_on = clock.now.date()
        steps = drive(engine, scenario, stop_after=3)
        result = next(steps)
        self.app_no = result.app_no
        self.task_ids = [t.id for t in result.ready_tasks]
        for _ in steps:
            clock.advance(days=1)  # each task is done on a day of its own
        info = engine.application(self.app_no)
        self.current = info.open_tasks
        self.task_ids += [t.id for t in info.open_tasks]
        self.names = {e.node_id for e in info.history if e.kind == "task.completed"}


@pytest.fixture
def accepted(engine: Engine, clock: Clock, scenarios: dict[str, Any]) -> Accepted:
    return Accepted(engine, clock, scenarios["hv_solo"])


def look_up(client: Staff, app_no: str, digits: str, ip: str = "203.0.113.7") -> Any:
    return client.post("/progress", {"app_no": app_no, "phone_tail": digits},
                       environ_base={"REMOTE_ADDR": ip})


def visible_text(html: str) -> str:
    """What a person reads: tags removed, white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace(" ，", "，").replace(" （", "（")


def without_token(response: Any) -> str:
    return CSRF_VALUE.sub("", response.get_data(as_text=True))


def test_the_form_needs_no_login_and_fits_a_phone(client: Staff) -> None:
    page = client.get("/progress")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="viewport"' in html and 'name="csrf_token"' in html
    assert 'name="phone_tail"' in html and 'inputmode="numeric"' in html
    assert page.headers["Cache-Control"] == "no-store"


def test_the_right_number_and_digits_show_the_milestones_a_customer_knows(client: Staff, accepted: Accepted,
                                                                          engine: Engine) -> None:
    response = look_up(client, accepted.app_no, "5678")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert accepted.app_no in html
    text = visible_text(html)
    # the four milestones of HV, in order, each once; the internal steps done so far are not listed
    milestones = ["申请受理", "供电方案答复", "竣工检验", "装表接电"]
    positions = [text.index(m) for m in milestones]
    assert positions == sorted(positions) and all(text.count(m) == 1 for m in milestones)
    for internal in ("现场勘查", "拟定供电方案", "供电方案审批", "归档"):
        assert internal not in text
    assert f"申请受理 已完成 {accepted.accepted_on.isoformat()}" in text
    # the milestone under way: its limit counted from acceptance (15 working days, single supply)
    due = engine.calendar().add_working_days(datetime.combine(accepted.accepted_on, time(9)), 15).date()
    assert f"办理时限 15 个工作日（自受理之日起），应于 {due.isoformat()} 前完成" in text
    assert f"正在办理：{accepted.current[0].node_name}" in text
    assert "竣工检验 待办理" in text and "装表接电 待办理" in text
    assert re.search(r"\d{2}:\d{2}", text) is None  # dates only, no times


def test_the_page_names_the_customer_manager_and_nothing_else_of_the_application(client: Staff,
                                                                                 accepted: Accepted) -> None:
    html = look_up(client, accepted.app_no, "5678").get_data(as_text=True)
    # 一口对外: the case's manager (manager1, the scenario's choice) by name and work phone, no username
    assert "您的客户经理" in html and "李强" in html and DEMO_WORK_PHONES["manager1"] in html
    secrets = [str(accepted.data[k]) for k in ("customer_name", "contact_name", "contact_phone", "address",
                                                "id_document_no", "legal_representative")]
    secrets += ["1234", "5678"]  # not even the digits the customer typed
    others = [(u, d) for u, d, _ in DEMO_USERS if u != "manager1"]
    secrets += [part for _, display in others for part in (display, display.split()[-1])]  # 王芳 …
    secrets += [username for username, _, _ in DEMO_USERS]
    secrets += [DEMO_WORK_PHONES[u] for u in DEMO_WORK_PHONES if u != "manager1"]
    secrets += accepted.task_ids + list(accepted.names)  # internal ids and node ids
    leaked = [value for value in secrets if value and value in html]
    assert leaked == []


def test_the_example_number_has_the_real_length(client: Staff, accepted: Accepted) -> None:
    placeholder = re.search(r'name="app_no"[^>]*placeholder="如 ([A-Z0-9]+)"', client.get("/progress").get_data(
        as_text=True))
    assert placeholder is not None
    assert len(placeholder.group(1)) == len(accepted.app_no) == 16


def test_wrong_digits_and_an_unknown_number_get_the_identical_answer(client: Staff, accepted: Accepted) -> None:
    wrong_digits = look_up(client, accepted.app_no, "0000")
    unknown = look_up(client, "HV20261123999", "5678")
    malformed = look_up(client, "不是编号", "56")
    assert wrong_digits.status_code == unknown.status_code == malformed.status_code == 200
    assert without_token(wrong_digits) == without_token(unknown) == without_token(malformed)
    assert "未查询到匹配的申请" in without_token(unknown)
    assert accepted.app_no not in without_token(wrong_digits)


def test_the_form_is_protected_against_cross_site_posts(client: Staff, accepted: Accepted) -> None:
    response = client.post("/progress", {"app_no": accepted.app_no, "phone_tail": "5678"}, csrf=False)
    assert response.status_code == 400


def test_a_guessing_address_is_slowed_and_a_right_answer_is_answered_once_the_short_wait_is_over(
        client: Staff, accepted: Accepted, clock: Clock) -> None:
    for guess in ("0001", "0002", "0003", "0004", "0005"):
        assert look_up(client, "HV20261123999", guess).status_code == 200
    refused = look_up(client, accepted.app_no, "5678")  # right this time, but the address must wait first
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert "请 2 秒后再试" in refused.get_data(as_text=True)
    assert accepted.app_no not in refused.get_data(as_text=True)
    assert look_up(client, accepted.app_no, "5678", ip="198.51.100.1").status_code == 200  # another address
    clock.advance(seconds=2)
    answered = look_up(client, accepted.app_no, "5678")  # no fifteen-minute lock-out: two seconds
    assert answered.status_code == 200 and accepted.app_no in answered.get_data(as_text=True)


def test_each_further_failure_doubles_an_address_wait_up_to_two_minutes(client: Staff, clock: Clock) -> None:
    waits = []
    for n in range(12):
        response = look_up(client, "HV20261123999", f"{n:04d}")
        assert response.status_code == 200, n
        if n >= 4:
            refused = look_up(client, "HV20261123999", "9999")
            assert refused.status_code == 429
            waits.append(int(refused.headers["Retry-After"]))
            clock.advance(seconds=waits[-1])
    assert waits == [2, 4, 8, 16, 32, 64, 120, 120]


def test_guesses_at_one_number_from_many_addresses_hold_its_customer_back_seconds_not_minutes(
        client: Staff, accepted: Accepted, clock: Clock) -> None:
    for n in range(5):
        assert look_up(client, accepted.app_no, f"000{n}", ip=f"198.51.100.{n + 10}").status_code == 200
    held = look_up(client, accepted.app_no, "5678", ip="192.0.2.50")
    assert held.status_code == 429 and held.headers["Retry-After"] == "1"
    assert look_up(client, "HV20261123999", "1111", ip="192.0.2.50").status_code == 200  # other numbers: free
    for n in range(5, 20):  # the guessing goes on, as fast as it is let
        clock.advance(seconds=30)
        assert look_up(client, accepted.app_no, f"{n:04d}", ip=f"198.51.100.{n + 10}").status_code == 200
        assert look_up(client, accepted.app_no, "9999", ip="198.51.100.99").status_code == 429
    waited = look_up(client, accepted.app_no, "5678", ip="192.0.2.50")
    assert waited.status_code == 429 and int(waited.headers["Retry-After"]) <= 30
    clock.advance(seconds=int(waited.headers["Retry-After"]))
    assert look_up(client, accepted.app_no, "5678", ip="192.0.2.50").status_code == 200


def test_a_right_answer_does_not_count_against_the_customer(client: Staff, accepted: Accepted,
                                                            clock: Clock) -> None:
    for _ in range(10):  # a customer checking often, always right, never waits
        assert look_up(client, accepted.app_no, "5678").status_code == 200
        clock.advance(seconds=1)
    for guess in ("0001", "0002", "0003", "0004"):  # and mistyping a few times is free too
        assert look_up(client, accepted.app_no, guess).status_code == 200
    assert look_up(client, accepted.app_no, "5678").status_code == 200


def test_failures_are_forgotten_after_a_quiet_quarter_hour(client: Staff, accepted: Accepted, clock: Clock) -> None:
    for guess in ("0001", "0002", "0003", "0004", "0005"):
        look_up(client, accepted.app_no, guess)
    clock.advance(minutes=15)
    for guess in ("0006", "0007", "0008", "0009"):  # a fresh allowance
        assert look_up(client, accepted.app_no, guess).status_code == 200
    assert look_up(client, accepted.app_no, "5678").status_code == 200


def test_a_finished_application_shows_it_is_finished(client: Staff, engine: Engine, clock: Clock,
                                                     scenarios: dict[str, Any]) -> None:
    last = None
    for last in drive(engine, scenarios["lv_residential"]):
        clock.advance(hours=3)
    assert last is not None and last.status == "completed"
    html = look_up(client, last.app_no, "5678").get_data(as_text=True)
    assert "已办结" in html and "milestone-current" not in html
    text = visible_text(html)
    assert "受理签约 已完成" in text and "施工接电 已完成" in text  # a residential customer's two steps
    assert "供电方案答复" not in text


def test_staff_pages_still_need_a_login(client: Staff) -> None:
    assert client.get("/applications/").status_code == 302


def test_a_step_waiting_for_the_customer_says_so(client: Staff, engine: Engine, scenarios: dict[str, Any]) -> None:
    steps = drive(engine, scenarios["hv_solo"], stop_after=4)  # the plan is replied: the customer confirms
    last = None
    for last in steps:
        pass
    assert last is not None and [t.node_id for t in last.ready_tasks] == ["hv_customer_confirm_plan"]
    text = visible_text(look_up(client, last.app_no, "5678").get_data(as_text=True))
    assert "供电方案答复 已完成" in text
    assert f"等待您办理：{last.ready_tasks[0].node_name}（此期间不计入供电企业办理时限）" in text
    # the inspection's limit counts from the customer's request, which has not come yet
    assert "办理时限 5 个工作日（自您提出竣工报验或整改完成之日起），待起算" in text


def test_whatever_is_typed_as_a_number_gets_the_plain_answer(client: Staff, accepted: Accepted) -> None:
    for typed in ("申请" * 20, "HV20261123000001'; DROP TABLE x;--", "HV ２０２６", "😀" * 40):
        response = look_up(client, typed, "5678")
        assert response.status_code == 200, typed
        assert "未查询到匹配的申请" in response.get_data(as_text=True)
    assert look_up(client, accepted.app_no, "5678", ip="198.51.100.77").status_code == 200


def test_confirming_the_application_date_is_under_the_same_limits_as_the_lookup(
        client: Staff, engine: Engine, accepted: Accepted, clock: Clock) -> None:
    def confirm(digits: str) -> Any:
        return client.post("/progress/first-contact", {"app_no": accepted.app_no, "phone_tail": digits,
                                                       "first_contact_on": accepted.accepted_on.isoformat()},
                           environ_base={"REMOTE_ADDR": "203.0.113.7"})

    before = engine.clocks(accepted.app_no).first_contact
    for guess in ("0001", "0002", "0003", "0004", "0005"):  # guessed on the lookup form
        assert look_up(client, "HV20261123999", guess).status_code == 200
    refused = confirm("5678")  # the right digits on the other form, from the same address: it waits too
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert "请 2 秒后再试" in refused.get_data(as_text=True)
    assert engine.clocks(accepted.app_no).first_contact == before  # nothing recorded
    clock.advance(seconds=2)
    answered = confirm("5678")
    assert answered.status_code == 200 and "已记录您的申请日期" in answered.get_data(as_text=True)
    assert engine.clocks(accepted.app_no).first_contact.source == "customer_page"
