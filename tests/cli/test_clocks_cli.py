"""`baozhuang clocks APP_NO [--json]`: an application's policy clocks from a terminal; `calendar import` reports
how many open deadlines it moved."""

from __future__ import annotations

import json
from datetime import datetime

from engine import Engine

from tests.cli.test_worker_cli import HV_SOLO, Cli, _at, cli  # noqa: F401  (cli is a fixture)


def _accept(cli: Cli, when: tuple[int, ...]) -> str:
    engine = Engine({"database_url": cli.db, "documents_dir": cli.root / "docs"})
    try:
        with _at(*when):
            return engine.start("hv", HV_SOLO.start, "frontdesk").app_no
    finally:
        engine.dispose()


def test_clocks_prints_each_clock_with_its_deadline_and_the_first_contact(cli: Cli) -> None:  # noqa: F811
    app_no = _accept(cli, (2026, 11, 23, 9, 0))
    with _at(2026, 11, 25, 9, 0):
        out = cli.ok("clocks", app_no)
    assert f"申请 {app_no}  时限 1 项" in out
    assert "供电方案答复（plan_reply，第 1 轮）  running：计时中  已用 2 / 15 个工作日" in out
    assert "起算 2026-11-23 09:00  止算 未止算  截止 2026-12-14 23:59" in out
    assert "客户首次申请：2025-03-03 09:15（受理员录入（未经客户确认））" in out
    with _at(2026, 12, 20, 9, 0):
        assert "已超时（计时中）" in cli.ok("clocks", app_no)


def test_clocks_json_is_the_report_as_data(cli: Cli) -> None:  # noqa: F811
    app_no = _accept(cli, (2026, 12, 28, 9, 0))  # the deadline falls in 2027: a provisional calendar
    with _at(2026, 12, 29, 9, 0):
        body = json.loads(cli.ok("clocks", app_no, "--json"))
    (clock,) = body["clocks"]
    assert (clock["key"], clock["status"], clock["limit"], clock["used_days"]) == ("plan_reply", "running", 15, 1)
    assert clock["provisional"] is True and clock["started_at"] == "2026-12-28T09:00:00"
    assert datetime.fromisoformat(clock["deadline"]).year == 2027
    assert body["first_contact"]["source"] == "clerk"


def test_an_unknown_application_exits_1_in_chinese(cli: Cli) -> None:  # noqa: F811
    result = cli.run("clocks", "HV20990101000001")
    assert result.exit_code == 1 and "申请不存在" in result.output


def test_calendar_import_reports_the_deadlines_it_moved(cli: Cli) -> None:  # noqa: F811
    app_no = _accept(cli, (2026, 12, 28, 9, 0))
    schedule = {"year": 2027, "days": [{"date": "2027-01-04", "workday": False, "name": "元旦（调休）"}]}
    with _at(2026, 12, 29, 9, 0):
        out = cli.ok("calendar", "import", cli.write("2027.json", schedule), "--by", "marketing")
        assert "已按新日历重算在办期限：1 个时限、0 个环节内部目标的截止时间改变，涉及 1 件申请" in out
        body = json.loads(cli.ok("clocks", app_no, "--json"))
    assert body["clocks"][0]["provisional"] is False
