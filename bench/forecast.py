"""Benchmark: how well the remaining-time forecast predicts when an open policy clock (时限) will stop.

A history is generated through the facade: applications of every variant on several paths, each step taking a
number of working days drawn for its node (a 会审 slower than an approval, a send-back adding a round, the
customer's steps long but not counted). The finished clock rounds are split by when they started: the older
part trains the forecaster, the newer part tests it. At every moment a step of a test round became ready, the
forecast's expected working days to the clock's stop is compared with what really remained; so is the naive
baseline, the clock's median total (training part) less the days already used. Printed: the mean absolute error
of both, per clock and overall, their ratio, and the Brier score of the risk of missing the limit against the
baseline's (the training part's share of rounds over the limit).

Run with ``make bench`` (or ``.venv/bin/python -m bench.forecast [--applications N] [--seed S]``).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import handlers
from bench.population import deploy_without_site_work
from bench.run import light_registry
from cli.demo import Scenario, actor_for, create_demo_users, load_scenarios
from engine import Engine, Forecaster, Round, WorkingCalendar, used_working_days

REPO = Path(__file__).resolve().parent.parent
PATHS = {"hv_solo": 4, "hv_joint_review": 3, "hv_plan_approval_sendback": 1, "hv_completion_rectify": 1,
         "lv_non_residential": 4, "lv_non_residential_works": 2, "lv_residential": 3, "pv_380v": 2}
"""Paths of paths.json and how often each is drawn."""

MEAN_DAYS: Mapping[str, float] = {
    "hv_site_survey_solo": 2, "hv_draft_supply_plan": 4, "hv_plan_approval": 3, "hv_joint_review": 8,
    "hv_reply_supply_plan": 5, "hv_customer_confirm_plan": 6, "hv_completion_request": 25,
    "hv_completion_inspection": 3, "hv_completion_rectify": 8, "hv_draft_contract": 3, "hv_sign_contract": 3,
    "hv_install_meter": 3, "hv_power_on": 2, "lv_site_survey": 1.5, "lv_reply_supply_plan": 4,
    "lv_completion_request": 12, "lv_completion_inspection": 2, "lv_completion_rectify": 5, "lv_sign_contract": 2,
    "lv_install_connect": 2, "lv_sign_simple": 1, "lv_construct_connect": 2, "pv_site_survey": 1.5,
    "pv_draft_access_scheme": 6, "pv_reply_access_scheme": 6, "pv_owner_confirm_scheme": 5,
    "pv_acceptance_request": 20, "pv_install_metering": 4, "pv_sign_contracts": 3,
    "pv_acceptance_commissioning": 4,
}
"""Mean working days a node's task stays open (others: half a day)."""


def step_days(rng: random.Random, node: str) -> int:
    """Working days a task takes: a skewed draw (most quick, some slow) around the node's mean."""
    mean = MEAN_DAYS.get(node, 0.5)
    return max(0, round(rng.lognormvariate(math.log(max(mean, 0.3)) - 0.18, 0.6)))


def generate(engine: Engine, clock: list[datetime], rng: random.Random, count: int,
             scenarios: Mapping[str, Scenario]) -> None:
    """Accept ``count`` applications, one every few working hours, and run each to its end on its own timeline."""
    calendar = engine.calendar()
    names = [name for name, weight in PATHS.items() for _ in range(weight)]
    accepted = clock[0]
    for _ in range(count):
        accepted += timedelta(hours=rng.choice((2, 3, 5, 20)))
        clock[0] = accepted
        scenario = scenarios[rng.choice(names)]
        result = engine.start(scenario.process, scenario.start, "frontdesk")
        for step in scenario.steps:
            task = next(t for t in result.ready_tasks if t.node_id == step.node)
            days = step_days(rng, step.node)
            if days:
                clock[0] = calendar.add_working_days(clock[0], days) - timedelta(hours=rng.uniform(6, 14))
            else:
                clock[0] += timedelta(minutes=rng.uniform(20, 300))
            result = engine.complete(task.id, actor_for(engine, task.role, task.assignee), step.data)
        assert result.status == "completed", result


def moments(r: Round) -> list[datetime]:
    """When the forecast is asked about a round: at its start and whenever one of its steps became ready."""
    assert r.stopped_at is not None
    inside = {v.ready_at for v in r.visits if r.started_at <= v.ready_at < r.stopped_at}
    return sorted({r.started_at, *inside})


def evaluate(calendar: WorkingCalendar, train: list[Round], test: list[Round]) -> None:
    model = Forecaster(calendar, train)
    errors: dict[tuple[str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    brier: tuple[list[float], list[float]] = ([], [])
    over: dict[tuple[str, str], float] = {}
    for key, totals in model.totals.items():
        limits = [r.limit for r in train if (r.process_key, r.clock_key) == key and r.limit is not None]
        limit = statistics.median(limits) if limits else None
        over[key] = sum(t > limit for t in totals) / len(totals) if limit is not None else 0.0
    for r in test:
        assert r.stopped_at is not None
        key = (r.process_key, r.clock_key)
        missed = float(r.limit is not None and used_working_days(calendar, r.started_at, r.stopped_at, r.pauses)
                       > r.limit)
        for now in moments(r):
            open_round = Round(r.process_key, r.clock_key, r.started_at, None,
                               tuple(p for p in r.pauses if p.start < now),
                               tuple(v for v in r.visits if v.ready_at <= now), r.limit)
            actual = used_working_days(calendar, now, r.stopped_at, r.pauses)
            baseline = model.baseline(open_round, now)
            forecast = model.forecast(open_round, now)
            if baseline is None or forecast is None:
                continue
            predicted = forecast.remaining_days if not math.isnan(forecast.remaining_days) else baseline
            errors[key][0].append(abs(predicted - actual))
            errors[key][1].append(abs(baseline - actual))
            if forecast.risk is not None:
                brier[0].append((forecast.risk - missed) ** 2)
                brier[1].append((over.get(key, 0.0) - missed) ** 2)
    print(f"{'variant · clock':<34} {'moments':>8} {'forecast MAE':>13} {'baseline MAE':>13} {'ratio':>6}")
    all_f: list[float] = []
    all_b: list[float] = []
    for (variant, clock_key), (f, b) in sorted(errors.items()):
        all_f += f
        all_b += b
        ratio = f"{statistics.fmean(f) / statistics.fmean(b):6.2f}" if statistics.fmean(b) else f"{'—':>6}"
        print(f"{variant + ' · ' + clock_key:<34} {len(f):>8} {statistics.fmean(f):>13.2f} {statistics.fmean(b):>13.2f} "
              f"{ratio}")
    mf, mb = statistics.fmean(all_f), statistics.fmean(all_b)
    print(f"{'all':<34} {len(all_f):>8} {mf:>13.2f} {mb:>13.2f} {mf / mb:>6.2f}")
    print(f"\nremaining working days: forecast MAE {mf:.2f}, naive median-total baseline MAE {mb:.2f} "
          f"(forecast / baseline = {mf / mb:.2f}) over {len(all_f)} moments of {len(test)} test rounds")
    if brier[0]:
        print(f"risk of missing the limit: Brier score {statistics.fmean(brier[0]):.3f} "
              f"(baseline: the clock's share over its limit, {statistics.fmean(brier[1]):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=360)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--train", type=float, default=0.7, help="share of the rounds (oldest first) trained on")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    scenarios = {s.name: s for s in load_scenarios(REPO / "processes" / "paths.json")}
    clock = [datetime(2026, 1, 5, 9, 0)]
    registry: Mapping[str, handlers.Operator] = light_registry()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine({"database_url": f"sqlite:///{Path(tmp) / 'forecast.db'}", "documents_dir": Path(tmp) / "d"},
                        registry=registry, clock=lambda: clock[0])
        engine.init_schema()
        engine.deploy_shipped()
        create_demo_users(engine)
        deploy_without_site_work(engine)
        t0 = time.perf_counter()
        generate(engine, clock, rng, args.applications, scenarios)
        generated = time.perf_counter() - t0
        rounds = engine.clock_history(100_000)
        calendar = engine.calendar()
        engine.dispose()
    accepted: dict[str, datetime] = {}
    for r in rounds:
        accepted[r.app_no] = min(accepted.get(r.app_no, r.started_at), r.started_at)
    order = sorted(accepted, key=lambda app_no: accepted[app_no])
    trained_on = set(order[:int(len(order) * args.train)])
    train = [r for r in rounds if r.app_no in trained_on]
    test = [r for r in rounds if r.app_no not in trained_on]
    print(f"history: {args.applications} applications through the facade in {generated:.1f} s, "
          f"{len(rounds)} finished clock rounds; trained on the {len(trained_on)} accepted first ({len(train)} rounds), "
          f"tested on the {len(order) - len(trained_on)} accepted after them ({len(test)} rounds)\n")
    evaluate(calendar, train, test)


if __name__ == "__main__":
    main()
