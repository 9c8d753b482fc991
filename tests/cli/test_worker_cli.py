"""The time-limit commands: worker / sweep send warnings and escalations; calendar show / import."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from click.testing import CliRunner, Result

from sqlalchemy import update

from engine import Engine, tables
from cli.demo import load_scenarios
from cli.main import main

from tests.conftest import PROCESSES
from tests.databases import database_url

HV_SOLO = next(s for s in load_scenarios(PROCESSES / "paths.json") if s.name == "hv_solo")

SCHEDULE_2027 = {"year": 2027, "days": [
    {"date": "2027-02-06", "workday": False, "name": "春节"},
    {"date": "2027-02-11", "workday": False, "name": "春节"},
    {"date": "2027-02-20", "workday": True, "name": "春节调休上班"},
]}


def _at(*args: int) -> Any:
    return time_machine.travel(datetime(*args).astimezone(), tick=False)


class Cli:
    """The CLI on a database of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = database_url(root, "w.db", empty=True)

    def run(self, *args: str) -> Result:
        result = CliRunner().invoke(main, ["--db", self.db, "--documents", str(self.root / "docs"), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"{args} raised {result.exception!r}\n{result.output}") from result.exception
        assert "Traceback" not in result.output
        return result

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.exit_code == 0, result.output
        return result.output

    def write(self, name: str, content: Any) -> str:
        path = self.root / name
        path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False),
                        encoding="utf-8")
        return str(path)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    c = Cli(tmp_path)
    c.ok("init")
    return c


def test_worker_once_prints_the_escalation_it_sent_and_a_second_sweep_sends_nothing(cli: Cli) -> None:
    engine = Engine({"database_url": cli.db, "documents_dir": cli.root / "docs"})
    try:
        with _at(2026, 11, 23, 9, 0):
            survey = engine.start("hv", HV_SOLO.start, "frontdesk").ready_tasks[0]
    finally:
        engine.dispose()
    holder = survey.assignee
    assert holder and survey.due_at == datetime(2026, 11, 25, 23, 59, 59)  # the survey's internal target

    with _at(2026, 11, 26, 10, 0):  # past the survey's target: the worker speaks of policy clocks only
        assert "预警 0 项时限，超期督办 0 项时限" in cli.ok("worker", "--once")
    with _at(2026, 12, 14, 9, 0):  # 供电方案答复: 15 working days from acceptance end today
        out = cli.ok("worker", "--once")
        assert f"预警 → {holder}：【时限预警】申请 {survey.app_no}" in out and "「供电方案答复」" in out
        assert "预警 → role:marketing：【时限预警】" in out
        assert "预警 1 项时限，超期督办 0 项时限" in out
    with _at(2026, 12, 15, 9, 0):
        out = cli.ok("worker", "--once")
        assert f"超期 → {holder}：【超期督办】" in out and "超期 → role:marketing：【超期督办】" in out
        assert "预警 0 项时限，超期督办 1 项时限" in out
        assert "预警 0 项时限，超期督办 0 项时限" in cli.ok("sweep")


def test_worker_once_sends_the_customer_notices_a_step_queued_and_only_once(cli: Cli) -> None:
    engine = Engine({"database_url": cli.db, "documents_dir": cli.root / "docs"})
    try:
        with _at(2026, 11, 23, 9, 0):
            app_no = engine.start("hv", HV_SOLO.start, "frontdesk").app_no
    finally:
        engine.dispose()
    with _at(2026, 11, 23, 9, 1):
        out = cli.ok("worker", "--once")
    phone = HV_SOLO.start["contact_phone"]
    assert f"客户通知（受理通知）→ {phone}：{app_no}" in out
    assert f"客户通知（补充资料通知）→ {phone}：{app_no}" in out and "客户通知：已发送 2 条" in out
    with _at(2026, 11, 23, 9, 2):
        assert "客户通知" not in cli.ok("worker", "--once")


def test_calendar_show_flags_2027_as_provisional_until_the_schedule_is_imported(cli: Cli) -> None:
    with _at(2026, 11, 23, 9, 0):
        out = cli.ok("calendar", "show", "2027")
    assert "2026 年：chinesecalendar（含调休），已确认" in out
    assert "2027 年：holidays（仅法定节假日，调休未知），暂定（调休未确认）" in out
    assert "baozhuang calendar import" in out
    assert "2027-02-08  周一  休息" in out

    out = cli.ok("calendar", "import", cli.write("2027.json", SCHEDULE_2027), "--by", "admin")
    assert "已录入 2027 年放假安排 3 天" in out
    with _at(2026, 11, 23, 9, 0):
        out = cli.ok("calendar", "show", "2027")
    assert "2027 年：管理员录入（已确认），已确认" in out
    assert "2027-02-20  周六  上班  春节调休上班" in out
    assert "2027-02-11  周四  休息  春节" in out
    assert "2027-02-08" not in out  # the entered schedule replaced the provisional one


def test_calendar_show_of_an_uncovered_year_says_how_to_fix_it(cli: Cli) -> None:
    result = cli.run("calendar", "show", "2101")
    assert result.exit_code == 1
    assert "2101 年没有任何日历来源" in result.output and "baozhuang calendar import" in result.output


def test_a_bad_calendar_file_exits_1_with_its_reasons(cli: Cli) -> None:
    bad = cli.write("bad.json", {"year": 2027, "days": [
        {"date": "2027-02-30", "workday": False, "name": "春节"},
        {"date": "2027-02-20", "workday": "true", "name": "调休"},
        {"date": "2026-12-31", "workday": False, "name": "元旦"},
    ]})
    result = cli.run("calendar", "import", "--as", "admin", bad)
    assert result.exit_code == 1
    assert "日历文件有 3 处问题" in result.output
    assert "2027-02-30" in result.output and "workday 必须是 true 或 false" in result.output
    assert "不属于 2027 年" in result.output
    assert cli.run("calendar", "import", "--as", "admin", cli.write("notjson.json", "{year: 2027")).exit_code == 1
    with _at(2026, 11, 23, 9, 0):
        assert "暂定" in cli.ok("calendar", "show", "2027")  # nothing was imported


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_worker_loop_stops_cleanly(cli: Cli, sig: signal.Signals) -> None:
    script = Path(sys.executable).parent / "baozhuang"
    proc = subprocess.Popen([str(script), "--db", cli.db, "worker", "--interval", "0.2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]  # started, then two sweeps
    assert "时限巡检已启动" in lines[0] and all("时限巡检：预警" in line for line in lines[1:])
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "时限巡检已停止" in out and "Traceback" not in err


def test_the_worker_repairs_open_task_counts_a_direct_edit_put_out_of_step(cli: Cli) -> None:
    engine = Engine({"database_url": cli.db, "documents_dir": cli.root / "docs"})
    try:
        survey = engine.start("hv", HV_SOLO.start, "frontdesk").ready_tasks[0]
        with engine.store.begin() as conn:  # withdrawn by hand, past the steps that keep the counts
            conn.execute(update(tables.ITEMS).where(tables.ITEMS.c.id == survey.id).values(status="cancelled"))
        assert sum(n.total for n in engine.supervision.kept_open_tasks()) == 1
    finally:
        engine.dispose()
    script = Path(sys.executable).parent / "baozhuang"
    proc = subprocess.Popen([str(script), "--db", cli.db, "worker", "--interval", "0.2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    lines: list[str] = []  # started, a sweep (and the customer notices it sends), the repair
    while len(lines) < 12 and not any("待办计数核对" in line for line in lines):
        lines.append(proc.stdout.readline())
    while (line := proc.stdout.readline()) and "时限巡检：预警" not in line:  # the next round's sweep
        pass
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert any("待办计数核对：修正了 1 项" in line for line in lines), lines
    assert "修正了" not in out  # checked once, not again in the next rounds
    engine = Engine({"database_url": cli.db, "documents_dir": cli.root / "docs"})
    try:
        assert engine.supervision.kept_open_tasks() == engine.supervision.open_tasks_by_due_state() == []
    finally:
        engine.dispose()
