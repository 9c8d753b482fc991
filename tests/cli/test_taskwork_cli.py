"""The task work from a terminal: 催办, 转办 and substitutes during leave (委托)."""

from __future__ import annotations

from datetime import date, timedelta

from tests.cli.test_cli import SCENARIOS, Workspace, prepared, ws  # noqa: F401  (fixtures)


def test_urge_and_transfer_from_the_terminal(ws: Workspace) -> None:
    _, task_id = ws.start(SCENARIOS["hv_solo"])
    with ws.engine() as engine:
        holder = engine.task(task_id).assignee
    colleague = "manager2" if holder == "manager1" else "manager1"
    assert "已催办" in ws.ok("urge", task_id[:8], "--note", "客户来电", "--as", "marketing").output
    assert "只有「营销部」或本申请的客户经理可以催办" in ws.fails("urge", task_id, "--as", "planning")
    out = ws.ok("transfer", task_id, "--to", colleague, "--reason", "外出", "--as", str(holder)).output
    assert "已转办" in out and colleague not in out  # named, not by login
    assert "转办须说明原因" in ws.fails("transfer", task_id, "--to", str(holder), "--reason", " ", "--as", colleague)
    with ws.engine() as engine:
        assert engine.task(task_id).assignee == colleague
        assert [n.kind for n in engine.notifications(colleague)] == ["transfer"]


def test_a_substitute_is_set_listed_and_cancelled(ws: Workspace) -> None:
    today = date.today()
    out = ws.ok("substitute", "set", "manager1", "manager2", "--from", today.isoformat(),
                "--to", (today + timedelta(days=2)).isoformat(), "--reason", "年休假", "--as", "manager1").output
    assert "客户经理 李强的任务由客户经理 王芳代为办理" in out
    number = out.split("#")[1].split("：")[0]
    listed = ws.ok("substitute", "list").output
    assert f"#{number}" in listed and "生效中" in listed and "年休假" in listed
    assert "只能为自己设置委托" in ws.fails("substitute", "set", "manager2", "manager1", "--from",
                                       today.isoformat(), "--to", today.isoformat(), "--as", "manager1")
    assert "已取消委托" in ws.ok("substitute", "cancel", number, "--as", "manager1").output
    assert "已取消" in ws.ok("substitute", "list", "--all").output
    assert f"#{number}" not in ws.ok("substitute", "list").output
