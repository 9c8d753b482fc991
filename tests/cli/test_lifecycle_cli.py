"""The case lifecycle from a terminal: suspend, resume, withdraw, terminate and correct — the engine's rules (who
may, what a value may be), a message and exit 1 when refused, the audit chain intact afterwards."""

from __future__ import annotations

from cli.demo import load_scenarios

from tests.cli.test_cli import Workspace, prepared, ws  # noqa: F401  (the fixtures)
from tests.conftest import PROCESSES

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}


def test_suspend_resume_and_terminate_from_the_terminal(ws: Workspace) -> None:
    app_no, _ = ws.start(SCENARIOS["hv_solo"])
    out = ws.ok("suspend", app_no, "--reason", "客户申请暂缓", "--as", "manager1").output
    assert f"申请 {app_no}：已暂停" in out and "原因：客户申请暂缓" in out
    shown = ws.ok("show", app_no).output
    assert "状态 已暂停" in shown and "原因：客户申请暂缓（manager1" in shown
    assert "已暂停，不能暂停" in ws.fails("suspend", app_no, "--reason", "再停", "--as", "manager1")
    assert f"申请 {app_no}：进行中" in ws.ok("resume", app_no, "--as", "marketing").output
    assert "状态 进行中" in ws.ok("show", app_no).output
    assert "无权终止申请" in ws.fails("terminate", app_no, "--reason", "x", "--as", "manager1")
    assert "请填写原因" in ws.fails("terminate", app_no, "--reason", " ", "--as", "marketing")
    assert "已终止" in ws.ok("terminate", app_no, "--reason", "客户失联", "--as", "marketing").output
    assert "审计链：完整" in ws.ok("show", app_no).output


def test_withdraw_at_the_desk(ws: Workspace) -> None:
    app_no, _ = ws.start(SCENARIOS["lv_residential"])
    assert "已撤销" in ws.ok("withdraw", app_no, "--reason", "客户撤回", "--as", "frontdesk").output
    with ws.engine() as engine:
        assert engine.application(app_no).open_tasks == ()


def test_correct_lists_the_fields_then_reads_the_value_by_its_type(ws: Workspace) -> None:
    app_no, _ = ws.start(SCENARIOS["hv_solo"])
    listing = ws.ok("correct", app_no).output
    assert "capacity_kva  申请容量（kVA）（受理信息）= 800" in listing
    out = ws.ok("correct", app_no, "--field", "capacity_kva", "--value", "900", "--reason", "现场核定",
                "--as", "marketing").output
    assert "更正「申请容量（kVA）」：800 → 900" in out
    refused = ws.fails("correct", app_no, "--field", "capacity_kva", "--value", "九百", "--reason", "x",
                       "--as", "marketing")
    assert "请输入数字" in refused
    assert "无权更正申请数据" in ws.fails("correct", app_no, "--field", "contact_name", "--value", "赵六",
                                      "--reason", "x", "--as", "manager1")
    with ws.engine() as engine:
        assert engine.application(app_no).data["capacity_kva"] == 900
        assert engine.verify_audit(app_no).intact
