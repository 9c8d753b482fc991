"""``baozhuang diff`` and ``baozhuang migrate``: what an analyst runs after deploying a new version."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from engine import Engine
from cli.main import main

from tests.engine.test_migration import SENDBACK, deploy_fixture, start_and_stop


def baozhuang(engine: Engine, *args: str) -> Result:
    """Run the command in-process against the test's engine (stdout and stderr kept apart)."""
    return CliRunner().invoke(main, list(args), obj={"engine": engine})


@pytest.fixture
def apps(engine: Engine) -> dict[str, str]:
    """One v1 application waiting before the reviews, one at the design review; then the reform as v2."""
    before = start_and_stop(engine, SENDBACK, 3).app_no
    inside = start_and_stop(engine, SENDBACK, 6).app_no  # waiting at 设计文件审查
    deploy_fixture(engine, "hv_reform.bpmn")
    return {"before": before, "inside": inside}


def test_diff_prints_the_summary(engine: Engine, apps: dict[str, str]) -> None:
    result = baozhuang(engine, "diff", "--as", "analyst", "hv", "1", "2")
    assert result.exit_code == 0, result.output
    assert "流程 hv 第 1 版 → 第 2 版：删除 12 个节点" in result.stdout
    assert "  删除环节「设计文件审查」（hv_design_review）" in result.stdout
    assert "顺序流 hv_f_plan_accepted 改为从「客户是否同意」直接到「竣工验收申请」" in result.stdout


def test_diff_of_a_missing_version_fails_with_a_message(engine: Engine) -> None:
    result = baozhuang(engine, "diff", "--as", "analyst", "hv", "1", "5")
    assert result.exit_code == 1
    assert "流程 hv 没有第 5 版" in result.stderr


def test_dry_run_shows_each_verdict_and_changes_nothing(engine: Engine, apps: dict[str, str]) -> None:
    result = baozhuang(engine, "migrate", "--as", "analyst", "hv", "--to", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(apps["before"] in line and "可以迁移" in line and "hv_reply_supply_plan" in line for line in lines)
    assert any(apps["inside"] in line and "不能迁移" in line and "「设计文件审查」" in line for line in lines)
    assert "共 2 个申请：可以迁移 1 个，不能迁移 1 个" in result.stdout
    assert {engine.application(a).version for a in apps.values()} == {1}


def test_migrate_moves_the_safe_ones_with_progress_and_a_summary(engine: Engine, apps: dict[str, str]) -> None:
    result = baozhuang(engine, "migrate", "--as", "analyst", "hv", "--to", "2")
    assert result.exit_code == 0, result.output
    assert f"{apps['before']}  已迁移到第 2 版" in result.stdout
    assert f"{apps['inside']}  未迁移，仍在第 1 版办理" in result.stdout
    assert "已迁移 1 个，未迁移 1 个" in result.stdout
    assert "迁移 2/2 个申请" in result.stderr
    assert engine.application(apps["before"]).version == 2
    assert engine.application(apps["inside"]).version == 1
    assert engine.replay(apps["before"], by="auditor").verified


def test_migrate_exits_1_when_none_of_the_asked_for_could_move(engine: Engine, apps: dict[str, str]) -> None:
    result = baozhuang(engine, "migrate", "--as", "analyst", "hv", "--to", "2", "--app", apps["inside"])
    assert result.exit_code == 1
    assert "已迁移 0 个，未迁移 1 个" in result.stdout
    assert engine.application(apps["inside"]).version == 1
    unknown = baozhuang(engine, "migrate", "--as", "analyst", "hv", "--to", "2", "--app", "HV000000000000")
    assert unknown.exit_code == 1 and "HV000000000000" in unknown.stderr
