"""``baozhuang audit verify`` and ``baozhuang audit export``: what an auditor runs from a terminal."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lxml import etree
from sqlalchemy import text

from engine import Engine
from cli.demo import drive, load_scenarios
from cli.main import main

from tests.conftest import PROCESSES, Clock
from tests.databases import database_url
from tests.engine.test_audit import APP_EVENT, sql

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
XES = "{http://www.xes-standard.org/}"


def baozhuang(engine: Engine, *args: str) -> Result:
    """Run the command in-process against the test's engine (stdout and stderr kept apart)."""
    return CliRunner().invoke(main, list(args), obj={"engine": engine})


def run(engine: Engine, clock: Clock, name: str, stop_after: int | None = None) -> str:
    last = None
    for last in drive(engine, SCENARIOS[name], stop_after):
        clock.advance(hours=1)
    assert last is not None
    return str(last.app_no)


@pytest.fixture
def apps(engine: Engine, clock: Clock) -> list[str]:
    return [run(engine, clock, "lv_residential"), run(engine, clock, "hv_solo", 3), run(engine, clock, "pv_380v", 2)]


def test_verify_reports_every_chain_intact(engine: Engine, apps: list[str]) -> None:
    result = baozhuang(engine, "audit", "verify", "--as", "auditor")
    assert result.exit_code == 0, result.output
    for app_no in apps:
        events = len(engine.application(app_no).history)
        assert f"{app_no}  完整（{events} 条事件）" in result.stdout
    assert "共校验 3 个申请：完整 3 个，已损坏 0 个" in result.stdout


def test_verify_names_the_broken_application_and_event_and_exits_1(engine: Engine, apps: list[str]) -> None:
    sql(engine, f"UPDATE audit_events SET actor = 'intruder' WHERE {APP_EVENT}", app_no=apps[1], seq=6)
    result = baozhuang(engine, "audit", "verify", "--as", "auditor")
    assert result.exit_code == 1
    assert f"{apps[1]}  已损坏：第 6 条事件：事件内容已被修改" in result.stdout
    assert all(f"{n}  完整" in result.stdout for n in (apps[0], apps[2]))
    assert "完整 2 个，已损坏 1 个" in result.stdout


def test_verify_checks_only_the_numbers_given(engine: Engine, apps: list[str]) -> None:
    sql(engine, f"DELETE FROM audit_events WHERE {APP_EVENT}", app_no=apps[0], seq=4)
    result = baozhuang(engine, "audit", "verify", "--as", "auditor", apps[2])
    assert result.exit_code == 0 and apps[0] not in result.stdout and "共校验 1 个申请" in result.stdout
    result = baozhuang(engine, "audit", "verify", "--as", "auditor", apps[0])
    assert result.exit_code == 1 and "已损坏：第 4 条事件：缺少第 4 条事件" in result.stdout


def test_verify_an_unknown_number_exits_1_with_a_message(engine: Engine, apps: list[str]) -> None:
    result = baozhuang(engine, "audit", "verify", "--as", "auditor", apps[0], "LV20990101000001")
    assert result.exit_code == 1
    assert "申请不存在：LV20990101000001" in result.stderr and "Traceback" not in result.output


def test_progress_goes_to_stderr_when_there_are_many(engine: Engine, clock: Clock, tmp_path: Path) -> None:
    made = [run(engine, clock, "lv_small_micro", 0) for _ in range(25)]
    result = baozhuang(engine, "audit", "verify", "--as", "auditor")
    assert result.exit_code == 0
    assert "已校验 25/25 个申请" in result.stderr and "已校验" not in result.stdout
    assert result.stdout.count("完整（") == 25
    out = tmp_path / "all.csv"
    result = baozhuang(engine, "audit", "export", "--as", "auditor", "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert re.findall(r"已导出 (\d+)/25 个申请", result.stderr)[-1] == "25"
    assert {row["申请编号"] for row in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))} == set(made)


def test_export_xes_with_filters(engine: Engine, apps: list[str], tmp_path: Path) -> None:
    out = tmp_path / "hv.xes"
    result = baozhuang(engine, "audit", "export", "--as", "auditor", "--format", "xes", "--process", "hv", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"已导出 1 个申请的事件日志（XES）到 {out}" in result.stdout
    traces = list(etree.parse(str(out)).getroot().iter(f"{XES}trace"))
    assert [t.find(f"{XES}string[@key='concept:name']").get("value") for t in traces] == [apps[1]]

    out = tmp_path / "two.csv"
    result = baozhuang(engine, "audit", "export", "--as", "auditor", "--format", "csv", "--app", apps[0], "--app", apps[2],
                       "--from", "2026-11-23", "--to", "2026-11-23", "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r["申请编号"] for r in rows if r["生命周期"] == "start"] == [apps[0], apps[2]]

    result = baozhuang(engine, "audit", "export", "--as", "auditor", "--format", "csv", "--from", "2026-11-24", "-o", str(out))
    assert result.exit_code == 0 and out.read_text(encoding="utf-8").count("\n") == 1  # the header only


def test_export_refuses_bad_input_without_writing(engine: Engine, apps: list[str], tmp_path: Path) -> None:
    out = tmp_path / "x.xes"
    result = baozhuang(engine, "audit", "export", "--as", "auditor", "--format", "xes", "--app", "HV20990101000001", "-o", str(out))
    assert result.exit_code == 1 and "申请不存在" in result.stderr and not out.exists()
    result = baozhuang(engine, "audit", "export", "--as", "auditor", "--format", "xes", "--from", "2026-12-01", "--to", "2026-11-01",
                       "-o", str(out))
    assert result.exit_code == 1 and "晚于" in result.stderr and not out.exists()
    result = baozhuang(engine, "audit", "export", "--as", "auditor", "--format", "xes", "-o", str(tmp_path / "missing" / "x.xes"))
    assert result.exit_code == 1 and "无法写入" in result.stderr
    assert not list(tmp_path.rglob("*.partial"))


def test_audit_replay_verifies_and_reports_divergence(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from engine import Engine
    from cli.demo import create_demo_users, drive, load_scenarios
    from cli.main import main

    db = database_url(tmp_path, "r.db")
    engine = Engine({"database_url": db, "documents_dir": tmp_path / "docs"})
    engine.init_schema()
    engine.deploy_shipped()
    create_demo_users(engine)
    scenario = next(s for s in load_scenarios(Path("processes/paths.json")) if s.name == "lv_non_residential")
    last = None
    for last in drive(engine, scenario):
        pass
    assert last is not None
    runner = CliRunner()
    base = ["--db", db, "--documents", str(tmp_path / "docs")]
    ok = runner.invoke(main, [*base, "audit", "replay", "--as", "auditor", last.app_no, "--steps"])
    assert ok.exit_code == 0 and "verified" in ok.output and ok.output.count("✓") == len(scenario.steps) + 1
    with engine.store.transaction() as s:
        s.execute(text("UPDATE wf_tasks SET payload = replace(payload, :old, :new) WHERE payload LIKE :pattern"),
                  {"old": '"capacity_kw":', "new": '"capacity_kw_x":', "pattern": '%"capacity_kw":%'})
    bad = runner.invoke(main, [*base, "audit", "replay", "--as", "auditor", last.app_no])
    assert bad.exit_code == 1 and "diverged" in bad.output and "不一致" in bad.output
    engine.dispose()
