"""The working-day calendar: official holidays and make-up days, provisional years, entered schedules."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from engine import CalendarNotCovered, ConfigurationError, Engine, InvalidInput, WorkingCalendar, YearStatus
from engine.timelimits.calendar import EnteredDay, parse_schedule

CAL = WorkingCalendar()

SCHEDULE_2027 = {
    "year": 2027,
    "days": [
        {"date": "2027-02-06", "workday": False, "name": "春节"},
        {"date": "2027-02-07", "workday": False, "name": "春节"},
        {"date": "2027-02-08", "workday": False, "name": "春节"},
        {"date": "2027-02-09", "workday": False, "name": "春节"},
        {"date": "2027-02-10", "workday": False, "name": "春节"},
        {"date": "2027-02-11", "workday": False, "name": "春节"},
        {"date": "2027-02-12", "workday": False, "name": "春节"},
        {"date": "2027-02-20", "workday": True, "name": "春节调休上班"},
    ],
}


def test_national_day_2026_and_its_make_up_saturday() -> None:
    # Ready on Wed 30 Sep 2026: 1–7 Oct are holidays, Sat 10 Oct is a make-up working day.
    due = CAL.add_working_days(datetime(2026, 9, 30, 10, 0), 5)
    # 8 Oct (1), 9 Oct (2), Sat 10 Oct (3), 12 Oct (4), 13 Oct (5)
    assert due == datetime(2026, 10, 13, 23, 59, 59)
    assert CAL.is_workday(date(2026, 10, 10)) and date(2026, 10, 10).weekday() == 5
    assert not CAL.is_workday(date(2026, 10, 5))
    assert not CAL.is_workday(date(2026, 10, 11))  # an ordinary Sunday stays a rest day


def test_spring_festival_2025_and_its_make_up_days() -> None:
    # 2025: 28 Jan – 4 Feb off; Sun 26 Jan and Sat 8 Feb are working days.
    assert CAL.is_workday(date(2025, 1, 26)) and CAL.is_workday(date(2025, 2, 8))
    assert not CAL.is_workday(date(2025, 1, 28)) and not CAL.is_workday(date(2025, 2, 4))
    # Ready Mon 27 Jan 2025 with 3 working days: 5 Feb (1), 6 Feb (2), 7 Feb (3).
    assert CAL.add_working_days(datetime(2025, 1, 27, 16, 30), 3) == datetime(2025, 2, 7, 23, 59, 59)
    # 4 working days land on the make-up Saturday 8 Feb.
    assert CAL.add_working_days(datetime(2025, 1, 27, 16, 30), 4) == datetime(2025, 2, 8, 23, 59, 59)


def test_spring_festival_2026_counts_only_working_time() -> None:
    # 2026: 15–23 Feb off, Sat 14 Feb and Sat 28 Feb are working days.
    assert CAL.add_working_days(datetime(2026, 2, 13, 9, 0), 1) == datetime(2026, 2, 14, 23, 59, 59)
    assert CAL.add_working_days(datetime(2026, 2, 14, 9, 0), 1) == datetime(2026, 2, 24, 23, 59, 59)
    elapsed = CAL.working_days_between(datetime(2026, 2, 14, 12, 0), datetime(2026, 2, 24, 12, 0))
    assert elapsed == pytest.approx(1.0)  # half of 14 Feb + half of 24 Feb; the nine holidays count nothing


def test_a_task_ready_on_a_rest_day_counts_from_the_next_working_day() -> None:
    # Sat 21 Nov 2026 (ordinary weekend): Monday 23 Nov is the first working day.
    assert CAL.add_working_days(datetime(2026, 11, 21, 10, 0), 1) == datetime(2026, 11, 23, 23, 59, 59)
    assert CAL.add_working_days(datetime(2026, 11, 20, 17, 0), 1) == datetime(2026, 11, 23, 23, 59, 59)
    assert CAL.add_working_days(datetime(2026, 11, 21, 10, 0), 0) == datetime(2026, 11, 23, 23, 59, 59)


def test_2027_is_provisional_from_the_holidays_package() -> None:
    status = CAL.year_status(2027)
    assert status == YearStatus(2027, "holidays", True)
    assert not CAL.is_workday(date(2027, 2, 8))  # Spring Festival (statutory holiday, a Monday)
    assert not CAL.is_workday(date(2027, 1, 9))  # a Saturday: rest, no 调休 known
    assert CAL.is_workday(date(2027, 1, 11))
    # Ready Thu 31 Dec 2026 with 3 days: 1 Jan 2027 holiday, weekend, then 4, 5, 6 Jan.
    assert CAL.add_working_days(datetime(2026, 12, 31, 9, 0), 3) == datetime(2027, 1, 6, 23, 59, 59)
    coverage = {s.year: s for s in CAL.coverage(today=date(2026, 11, 23))}
    assert coverage[2026] == YearStatus(2026, "chinesecalendar", False)
    assert coverage[2027].provisional


def test_an_imported_2027_schedule_confirms_the_year_and_its_make_up_saturday_counts() -> None:
    year, days = parse_schedule(SCHEDULE_2027)
    cal = WorkingCalendar(days, [year])
    assert cal.year_status(2027) == YearStatus(2027, "entered", False)
    assert cal.is_workday(date(2027, 2, 20))  # the entered 调休 Saturday
    assert not cal.is_workday(date(2027, 2, 11))  # entered holiday (the holidays package says working day)
    assert CAL.is_workday(date(2027, 2, 11)) and not CAL.is_workday(date(2027, 2, 20))
    # Ready Fri 19 Feb 2027, 1 working day: the make-up Saturday.
    assert cal.add_working_days(datetime(2027, 2, 19, 15, 0), 1) == datetime(2027, 2, 20, 23, 59, 59)
    special = {d.day: d for d in cal.special_days(2027)}
    assert special[date(2027, 2, 20)].workday and special[date(2027, 2, 20)].name == "春节调休上班"


def test_a_date_outside_every_source_is_an_error_that_says_how_to_fix_it() -> None:
    with pytest.raises(CalendarNotCovered) as caught:
        CAL.is_workday(date(2101, 3, 1))
    assert isinstance(caught.value, ConfigurationError)
    assert "2101-03-01" in caught.value.message and "baozhuang calendar import" in caught.value.message
    assert CAL.year_status(2101) == YearStatus(2101, "none", True)
    with pytest.raises(CalendarNotCovered):
        CAL.add_working_days(datetime(2100, 12, 30, 9, 0), 5)


def test_entered_days_win_over_chinesecalendar() -> None:
    typhoon = EnteredDay(date(2026, 11, 24), False, "台风停工")
    cal = WorkingCalendar([typhoon])
    assert not cal.is_workday(date(2026, 11, 24))
    assert cal.year_status(2026).source == "chinesecalendar"  # one entered day does not confirm a year
    assert cal.add_working_days(datetime(2026, 11, 23, 9, 0), 1) == datetime(2026, 11, 25, 23, 59, 59)


def test_a_bad_schedule_lists_every_problem() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_schedule({"year": 2027, "days": [
            {"date": "2027-13-01", "workday": False, "name": "x"},
            {"date": "2028-01-03", "workday": False, "name": "元旦"},
            {"date": "2027-02-20", "workday": "yes", "name": "调休"},
            {"date": "2027-02-08", "workday": False, "name": ""},
        ]})
    message = caught.value.message
    assert "2027-13-01" in message and "不属于 2027 年" in message
    assert "workday 必须是 true 或 false" in message and "name 必须" in message


def test_engine_import_replaces_the_year_and_is_used_for_due_dates(engine: Engine) -> None:
    assert engine.calendar().year_status(2027).provisional
    engine.import_calendar({"year": 2027, "days": [{"date": "2027-03-01", "workday": False, "name": "测试"}]}, "admin")
    imported = engine.import_calendar(SCHEDULE_2027, "admin")
    assert imported.status == YearStatus(2027, "entered", False)
    assert imported.days == len(SCHEDULE_2027["days"])
    cal = engine.calendar()
    assert cal.is_workday(date(2027, 3, 1))  # the earlier import of 2027 was replaced
    assert cal.is_workday(date(2027, 2, 20))
