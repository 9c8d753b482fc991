"""The remaining-time forecast: learnt from finished clock rounds of the same clock and step, conditioned on how
long the open step has already taken; its risk of missing the limit; stored for the task list to sort by."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cli.demo import Scenario, actor_for
from engine import Engine, Forecaster, Round, Visit, WorkingCalendar

from tests.conftest import Clock

START = datetime(2026, 9, 7, 9, 0)  # a Monday
CALENDAR = WorkingCalendar()


def at(days: int) -> datetime:
    """The end of the ``days``-th working day after START."""
    return CALENDAR.add_working_days(START, days)


def finished(a_days: int, b_days: int = 3) -> Round:
    """A finished round: step A for ``a_days`` working days, then step B for ``b_days``."""
    return Round("hv", "plan_reply", START, at(a_days + b_days), (),
                 (Visit("a", START, at(a_days)), Visit("b", at(a_days), at(a_days + b_days))), 5)


HISTORY = [finished(a) for a in (1, 2, 3, 4, 5, 6)]  # totals 4 … 9 working days; limit 5


def test_an_open_round_is_compared_with_rounds_still_in_the_same_step_after_as_long() -> None:
    model = Forecaster(CALENDAR, HISTORY)
    now = at(2)  # two working days into step A
    open_round = Round("hv", "plan_reply", START, None, (), (Visit("a", START, None),), 5)
    forecast = model.forecast(open_round, now)
    assert forecast is not None and forecast.basis == "step"
    # the rounds still in A after 2 days took a = 2 … 6, then 3 more: from now 3, 4, 5, 6, 7 → median 5
    assert forecast.samples == 5 and forecast.remaining_days == 5
    # used 2 + {3,4,5,6,7} > 5 for four of five (smoothed: 4.5 / 6)
    assert forecast.risk == pytest.approx(0.75)
    assert model.baseline(open_round, now) == pytest.approx(6.5 - 2)  # median total less what is used


def test_a_later_step_sees_less_ahead_and_less_risk() -> None:
    model = Forecaster(CALENDAR, HISTORY)
    now = at(3)
    in_b = Round("hv", "plan_reply", START, None, (), (Visit("a", START, at(3)), Visit("b", at(3), None)), 5)
    forecast = model.forecast(in_b, now)
    assert forecast is not None and forecast.remaining_days == 3  # B always took 3
    assert forecast.risk == pytest.approx((6 + 0.5) / 7)  # used 3 + 3 > 5 for every round: all would miss


def test_an_unknown_step_falls_back_to_the_clock_and_no_history_means_no_forecast() -> None:
    model = Forecaster(CALENDAR, HISTORY)
    elsewhere = Round("hv", "plan_reply", START, None, (), (Visit("z", START, None),), 5)
    forecast = model.forecast(elsewhere, at(1))
    assert forecast is not None and forecast.basis == "clock"
    assert forecast.remaining_days == pytest.approx(6.5 - 1)
    other_clock = Round("lv", "end_to_end", START, None, (), (Visit("a", START, None),), 5)
    assert model.forecast(other_clock, at(1)) is None


def test_the_customers_time_is_left_out_of_what_is_learnt() -> None:
    from engine import Pause

    paused = Round("hv", "plan_reply", START, at(13), (Pause(at(1), at(11), "customer"),),
                   (Visit("a", START, at(13)),), 5)
    model = Forecaster(CALENDAR, [paused] * 5)
    assert model.totals[("hv", "plan_reply")] == [3] * 5  # 13 working days, 10 of them the customer's


# ----------------------------------------------------------------------------- in the engine


def _run_lv(engine: Engine, clock: Clock, scenario: Scenario, sign_days: int, works_days: int) -> str:
    result = engine.start("lv", scenario.start, "frontdesk")
    for step, days in zip(scenario.steps[:2], (sign_days, works_days)):
        task = next(t for t in result.ready_tasks if t.node_id == step.node)
        clock.now = engine.calendar().add_working_days(clock.now, days)
        result = engine.complete(task.id, actor_for(engine, task.role, task.assignee), step.data)
    return result.app_no


@pytest.fixture
def lv_history(engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> None:
    """Five residential connections that sat 6 working days at the signing and took 1 to connect."""
    clock.now = START
    for _ in range(5):
        _run_lv(engine, clock, scenarios["lv_residential"], 6, 1)
    engine.forecasts.forget()


def test_an_open_application_gets_a_forecast_and_its_risk_is_stored_for_the_task_list(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario], lv_history: None) -> None:
    scenario = scenarios["lv_residential"]
    quick = engine.start("lv", scenario.start, "frontdesk")  # signs at once: at the works, 1 day to go
    sign = quick.ready_tasks[0]
    quick = engine.complete(sign.id, actor_for(engine, sign.role, sign.assignee), scenario.steps[0].data)
    clock.now += timedelta(minutes=5)
    slow = engine.start("lv", scenario.start, "frontdesk")  # accepted later, waits at the signing

    e2e = next(c for c in engine.clocks(slow.app_no).clocks if c.key == "end_to_end")
    assert e2e.forecast_days == 7 and e2e.risk == pytest.approx(5.5 / 6)
    assert e2e.forecast_basis == "同一环节的历史工单"
    fast = next(c for c in engine.clocks(quick.app_no).clocks if c.key == "end_to_end")
    assert fast.forecast_days == 1 and fast.risk == pytest.approx(0.5 / 6)

    assert engine.refresh_forecasts() >= 3  # both applications' counting clocks
    by_created = [t.app_no for t in engine.task_page("metering", scope="pool").items]
    by_risk = [t.app_no for t in engine.task_page("metering", scope="pool", order="risk").items]
    assert by_created == [quick.app_no]  # metering only sees the works; check the front desk's list too
    clerk_created = [t.app_no for t in engine.task_page("frontdesk", scope="pool").items]
    clerk_risk = [t.app_no for t in engine.task_page("frontdesk", scope="pool", order="risk").items]
    assert clerk_created == [slow.app_no] == clerk_risk
    mine = {quick.app_no, slow.app_no}  # the history's applications wait at the archive, with no clock running
    everything = [t.app_no for t in engine.task_page("marketing", scope="all").items if t.app_no in mine]
    riskiest = [t.app_no for t in engine.task_page("marketing", scope="all", order="risk").items]
    assert everything == [quick.app_no, slow.app_no]
    assert riskiest[:2] == [slow.app_no, quick.app_no]  # a clock's risk first; the archive tasks have none
    assert by_risk == [quick.app_no]
