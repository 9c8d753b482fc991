"""The customer's side as plain rules: the milestones a customer knows and where each stands, the rotation of
the qualified firms, who may make the independent 回访, and the forms' checks."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from engine import FormValidationError, WorkingCalendar, answers_from_form, filing_from_form, person_name
from engine.customers.firms import FirmInfo, rotated
from engine.customers.followups import choose_assignee
from engine.customers.milestones import HV, LV_SIMPLE, LV_STANDARD, PV, TRACKS, TaskRow, milestone_states, track_for
from engine.customers.notices import EVENT_NAMES, checklist
from handlers.notify import MESSAGES

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ACCEPTED = datetime(2026, 11, 23, 9, 0)  # a Monday
CALENDAR = WorkingCalendar()


def row(node: str, status: str, created: datetime, completed: datetime | None = None, *,
        customer: bool = False) -> TaskRow:
    return TaskRow(node, f"«{node}»", status, created, completed, None, customer)


def states(track: object, rows: list[TaskRow], data: dict[str, object] | None = None,
           now: datetime = ACCEPTED + timedelta(days=1)) -> dict[str, object]:
    result = milestone_states(track, ACCEPTED, rows, data or {}, lambda: CALENDAR, now)  # type: ignore[arg-type]
    return {m.key: m for m in result}


@pytest.mark.parametrize("process_key", sorted(TRACKS))
def test_every_user_task_of_the_shipped_diagrams_belongs_to_a_milestone_or_is_internal(process_key: str) -> None:
    tree = etree.parse(str(PROCESSES / f"{process_key}.bpmn"))
    tasks = {t.get("id") for t in tree.iter(f"{{{BPMN}}}userTask")}
    named = frozenset().union(*(t.nodes for t in TRACKS[process_key]))
    assert tasks - named == set()
    assert named - tasks == set()  # no stale names either


def test_hv_shows_four_milestones_and_the_reply_is_due_fifteen_working_days_after_acceptance() -> None:
    rows = [row("hv_site_survey_solo", "completed", ACCEPTED, ACCEPTED + timedelta(hours=5)),
            row("hv_draft_supply_plan", "ready", ACCEPTED + timedelta(hours=5))]
    got = states(HV, rows, {"dual_supply": False})
    assert [m for m in got] == ["accepted", "plan_reply", "completion_inspection", "power_on"]
    assert [getattr(m, "state") for m in got.values()] == ["done", "current", "pending", "pending"]
    current = got["plan_reply"]
    assert getattr(current, "limit_days") == 15
    assert getattr(current, "due_on") == CALENDAR.add_working_days(ACCEPTED, 15).date()
    assert [s.name for s in getattr(current, "steps")] == ["«hv_draft_supply_plan»"]
    assert getattr(states(HV, rows, {"dual_supply": True})["plan_reply"], "limit_days") == 30


def test_a_milestone_past_its_due_date_is_overdue() -> None:
    rows = [row("hv_draft_supply_plan", "ready", ACCEPTED)]
    late = ACCEPTED + timedelta(days=40)
    assert getattr(states(HV, rows, {"dual_supply": False}, late)["plan_reply"], "overdue") is True
    assert getattr(states(HV, rows, {"dual_supply": False})["plan_reply"], "overdue") is False


def test_the_inspection_clock_waits_for_the_customer_and_restarts_after_rectification() -> None:
    t = ACCEPTED
    rows = [row("hv_reply_supply_plan", "completed", t, t + timedelta(days=1)),
            row("hv_customer_confirm_plan", "ready", t + timedelta(days=1), customer=True)]
    waiting = states(HV, rows)["completion_inspection"]
    assert getattr(waiting, "state") == "current" and getattr(waiting, "due_on") is None  # not started
    assert [s.customer_acting for s in getattr(waiting, "steps")] == [True]
    rectified = t + timedelta(days=20)
    rows = [row("hv_reply_supply_plan", "completed", t, t + timedelta(days=1)),
            row("hv_completion_request", "completed", t + timedelta(days=2), t + timedelta(days=10)),
            row("hv_completion_inspection", "completed", t + timedelta(days=10), t + timedelta(days=12)),
            row("hv_completion_rectify", "completed", t + timedelta(days=12), rectified),
            row("hv_completion_inspection", "ready", rectified)]
    again = states(HV, rows)["completion_inspection"]
    assert getattr(again, "state") == "current"  # a failed inspection does not finish the milestone
    assert getattr(again, "due_on") == CALENDAR.add_working_days(rectified, 5).date()


def test_power_on_counts_from_the_later_of_passing_inspection_and_signing() -> None:
    t = ACCEPTED
    passed, signed = t + timedelta(days=10), t + timedelta(days=14)
    base = [row("hv_reply_supply_plan", "completed", t, t + timedelta(days=1)),
            row("hv_completion_inspection", "completed", t + timedelta(days=8), passed),
            row("hv_install_meter", "ready", passed)]
    unsigned = states(HV, base + [row("hv_sign_contract", "ready", passed)])["power_on"]
    assert getattr(unsigned, "state") == "current" and getattr(unsigned, "due_on") is None
    signed_rows = base + [row("hv_sign_contract", "completed", passed, signed)]
    assert getattr(states(HV, signed_rows)["power_on"], "due_on") == CALENDAR.add_working_days(signed, 5).date()


def test_an_inspection_not_needed_is_shown_as_skipped() -> None:
    t = ACCEPTED
    rows = [row("lv_site_survey", "completed", t, t + timedelta(hours=2)),
            row("lv_reply_supply_plan", "completed", t, t + timedelta(hours=3)),
            row("lv_sign_contract", "ready", t + timedelta(hours=3))]
    got = states(LV_STANDARD, rows, {"customer_type": "non_residential"})
    assert [getattr(m, "state") for m in got.values()] == ["done", "done", "skipped", "current"]


def test_a_task_no_milestone_names_is_shown_under_the_milestone_under_way() -> None:
    rows = [row("hv_new_review_added_by_an_analyst", "ready", ACCEPTED)]
    current = states(HV, rows)["plan_reply"]
    assert [s.name for s in getattr(current, "steps")] == ["«hv_new_review_added_by_an_analyst»"]


def test_the_track_follows_the_tasks_an_application_has_had() -> None:
    assert track_for("lv", ["lv_sign_simple", "lv_archive"]) is LV_SIMPLE
    assert track_for("lv", ["lv_site_survey", "lv_archive"]) is LV_STANDARD
    assert track_for("lv", []) is LV_STANDARD
    assert track_for("pv", ["pv_site_survey"]) is PV and track_for("xx", []) is None


def test_every_firm_comes_first_in_turn_and_at_least_five_are_shown() -> None:
    firms = [FirmInfo(i, "design", f"单位{i}", "乙级", "", True) for i in range(1, 8)]
    firsts = {rotated(firms, offset, 5)[0].id for offset in range(len(firms))}
    assert firsts == {f.id for f in firms}
    assert all(len(rotated(firms, offset, 5)) == 5 for offset in range(20))
    assert len({f.id for f in rotated(firms, 3, 5)}) == 5  # no firm twice
    assert [f.id for f in rotated(firms[:3], 1, 5)] == [2, 3, 1]  # fewer than five: all of them
    assert rotated([], 4, 5) == ()


def test_the_follow_up_never_goes_to_the_cases_manager_or_anyone_who_handled_it() -> None:
    people = ["service", "service2", "cm_and_service"]
    loads = {"service": 3, "service2": 1}
    assert choose_assignee(people, {"cm_and_service"}, loads) == "service2"  # least loaded, manager excluded
    assert choose_assignee(people, {"cm_and_service", "service2"}, loads) == "service"
    assert choose_assignee(people, {"service2"}, {}) == "cm_and_service"  # a tie goes to the first name
    assert choose_assignee(["cm_and_service"], {"cm_and_service"}, {}) is None  # nobody independent: the pool


def test_every_notice_has_a_name_for_people() -> None:
    assert set(MESSAGES) <= set(EVENT_NAMES)
    assert all(not name.isascii() for name in EVENT_NAMES.values())


def test_the_checklist_asks_only_what_this_customer_type_needs() -> None:
    documents = [{"key": "resident_id", "title": "居民身份证", "required": True, "customerTypes": ["residential"]},
                 {"key": "business_licence", "title": "营业执照", "required": True, "customerTypes": ["company"]},
                 {"key": "property_proof", "title": "产权证明", "required": True},
                 {"key": "lease", "title": "租赁协议", "required": False}]
    assert checklist(documents, {"customer_type": "residential", "documents_received": ["resident_id"]}) == (
        ["居民身份证"], ["产权证明"])


def test_a_complaint_form_is_checked_field_by_field() -> None:
    with pytest.raises(FormValidationError) as caught:
        filing_from_form({"kind": "praise", "topic": "x", "content": "短", "reporter_phone": "abc"})
    assert set(caught.value.field_errors) == {"kind", "topic", "content", "reporter_phone"}
    filing = filing_from_form({"kind": "report", "topic": "improper", "content": " 要求吃请才肯装表 "})
    assert (filing.kind, filing.content, filing.reporter_name) == ("report", "要求吃请才肯装表", "")


def test_a_follow_up_reached_must_answer_all_three_questions() -> None:
    with pytest.raises(FormValidationError) as caught:
        answers_from_form({"reached": "yes", "nominated": "yes"})
    assert set(caught.value.field_errors) == {"satisfaction", "nominated_detail", "improper"}
    assert answers_from_form({"reached": "no"}).satisfaction is None
    answers = answers_from_form({"reached": "yes", "satisfaction": "4", "nominated": "no", "improper": "no"})
    assert (answers.reached, answers.satisfaction, answers.nominated, answers.improper) == (True, 4, False, False)


def test_a_customer_reads_a_member_of_staffs_name_without_the_role() -> None:
    assert person_name("客户经理 李强") == "李强" and person_name("王芳") == "王芳"

