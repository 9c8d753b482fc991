"""The ``baozhuang`` command line: every command's good path, and bad input exits 1 without a traceback.

Commands run in-process through click's CliRunner against a SQLite database of their own; most tests
start from a copy of one database prepared by ``init`` once per module. One test runs the installed
console script to prove the entry point works.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine import Engine, NotFound
from cli.demo import DEMO_USERS, Scenario, actor_for, load_scenarios
from cli.main import main

from tests.conftest import PROCESSES, REPO
from tests.databases import database_url

MIWG = REPO / "tests" / "fixtures" / "miwg"
MIWG_FILES = sorted(MIWG.rglob("*.bpmn"))
SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TASK_LINE = re.compile(rf"^\s+({UUID})\s+\S+\s+\S+（(\w+)）", re.MULTILINE)  # "  id  app_no  名称（node_id）…"
APP_NO = re.compile(r"申请 ((HV|LV|PV)(\d{8})(\d{6}))")

BPMN_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs" targetNamespace="http://example.com/t">"""

# A script task (code in a diagram) and a service task calling an operator that does not exist.
HOSTILE = BPMN_HEAD + """
  <bpmn:process id="lv" name="恶意流程" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="lane1" name="客户经理">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>evil_script</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>evil_service</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:scriptTask id="evil_script" name="脚本"><bpmn:script>open("MARKER", "w").write("x")</bpmn:script></bpmn:scriptTask>
    <bpmn:serviceTask id="evil_service" name="规则">
      <bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="launch_missiles" resultVariable="r"/>
      </bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="evil_script"/>
    <bpmn:sequenceFlow id="f2" sourceRef="evil_script" targetRef="evil_service"/>
    <bpmn:sequenceFlow id="f3" sourceRef="evil_service" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


@dataclass(frozen=True)
class Workspace:
    """A database and documents folder, and the CLI pointed at them."""

    root: Path
    database_url: str | None = None

    @property
    def db_url(self) -> str:
        return self.database_url or database_url(self.root, "x.db", empty=True)

    @property
    def documents(self) -> Path:
        return self.root / "documents"

    def run(self, *args: str) -> Result:
        """Invoke ``baozhuang --db … --documents … ARGS``; fail the test on any traceback."""
        result = CliRunner().invoke(main, ["--db", self.db_url, "--documents", str(self.documents), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"baozhuang {' '.join(args)} raised {result.exception!r}\n{result.output}") \
                from result.exception
        assert "Traceback" not in result.output, result.output
        return result

    def ok(self, *args: str) -> Result:
        """Run a command that must succeed."""
        result = self.run(*args)
        assert result.exit_code == 0, result.output
        return result

    def fails(self, *args: str) -> str:
        """Run a command that must exit 1; return what it printed."""
        result = self.run(*args)
        assert result.exit_code == 1, result.output
        return result.output

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """The engine on the same database, to check what the CLI did."""
        engine = Engine({"database_url": self.db_url, "documents_dir": self.documents})
        try:
            yield engine
        finally:
            engine.dispose()

    def write(self, name: str, content: Any) -> str:
        """Write JSON (or raw text/bytes) beside the database; return the path."""
        path = self.root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
        return str(path)

    def start(self, scenario: Scenario) -> tuple[str, str]:
        """Accept a scenario's application; return its number and its first task id."""
        out = self.ok("start", scenario.process, "--data", self.write("start.json", dict(scenario.start))).output
        match = APP_NO.search(out)
        assert match, out
        return match.group(1), ready_tasks(out)[scenario.steps[0].node]


def ready_tasks(output: str) -> dict[str, str]:
    """Node id → task id of the task lines a command printed."""
    return {node: task_id for task_id, node in TASK_LINE.findall(output)}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database set up once by ``init``: schema, hv/lv/pv version 1, demo users."""
    ws = Workspace(tmp_path_factory.mktemp("prepared"))
    ws.ok("init")
    return ws.root


@pytest.fixture
def ws(prepared: Path, tmp_path: Path) -> Workspace:
    """A private copy of the prepared database, free to change."""
    root = tmp_path / "ws"
    shutil.copytree(prepared, root)
    database_url(root, "x.db", copy_of=Workspace(prepared).db_url)
    return Workspace(root)


@pytest.fixture
def fresh(tmp_path: Path) -> Workspace:
    """An empty workspace: no database yet."""
    return Workspace(tmp_path)


@pytest.fixture
def forms_beside(tmp_path: Path) -> Path:
    """tmp_path with the shipped forms in forms/, as validate and deploy look for them beside the file."""
    (tmp_path / "forms").symlink_to(PROCESSES / "forms", target_is_directory=True)
    return tmp_path


def renamed_hv(folder: Path) -> Path:
    """processes/hv.bpmn with a changed process name: a new version of the same process."""
    source = (PROCESSES / "hv.bpmn").read_text(encoding="utf-8")
    old = '<bpmn:process id="hv" name="高压业扩报装"'
    assert old in source
    path = folder / "hv.bpmn"
    path.write_text(source.replace(old, '<bpmn:process id="hv" name="高压业扩报装（修订）"'), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- init


def test_init_creates_schema_deploys_the_processes_and_demo_users(fresh: Workspace) -> None:
    out = fresh.ok("init").output
    for key in ("hv", "lv", "pv"):
        assert f"已部署 {key} 第 1 版" in out
    with fresh.engine() as engine:
        assert sorted((v.process_key, v.version) for v in engine.versions()) == [("hv", 1), ("lv", 1), ("pv", 1)]
        for username, display, roles in DEMO_USERS:
            user = engine.user(username)
            assert (user.display_name, user.roles) == (display, roles)


def test_a_second_init_deploys_nothing_and_creates_no_users(ws: Workspace) -> None:
    with ws.engine() as engine:
        before = engine.versions()
    out = ws.ok("init").output
    assert "已部署" not in out and "已创建" not in out
    assert "无需部署" in out and "演示用户已存在" in out
    with ws.engine() as engine:
        assert engine.versions() == before


def test_init_without_demo_users(fresh: Workspace) -> None:
    fresh.ok("init", "--no-demo-users")
    with fresh.engine() as engine:
        assert len(engine.versions()) == 3
        with pytest.raises(NotFound):
            engine.user("manager1")


# ----------------------------------------------------------------------------- validate


def test_validate_accepts_the_shipped_processes(prepared: Path) -> None:
    files = [str(PROCESSES / f"{key}.bpmn") for key in ("hv", "lv", "pv")]
    out = Workspace(prepared).ok("validate", *files).output
    for key in ("hv", "lv", "pv"):
        assert re.search(rf"✓ .*{key}\.bpmn：流程 {key}（", out), out


def test_validate_rejects_a_hostile_diagram_naming_every_element(prepared: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bpmn"
    path.write_text(HOSTILE.replace("MARKER", str(marker)), encoding="utf-8")
    out = Workspace(prepared).fails("validate", str(path))
    count = re.search(r"✗ .*evil\.bpmn：(\d+) 个问题", out)
    assert count, out
    reasons = re.findall(r"^    - (.+)$", out, re.MULTILINE)
    assert len(reasons) == int(count.group(1)) >= 2
    assert any(r.startswith("[evil_script]") for r in reasons), reasons
    assert any(r.startswith("[evil_service]") and "launch_missiles" in r for r in reasons), reasons
    assert not marker.exists()


def test_validate_rejects_doctype_entities_without_reading_them(prepared: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xml = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
           + HOSTILE.split("?>", 1)[1].replace('name="脚本"', 'name="&x;"'))
    path = tmp_path / "xxe.bpmn"
    path.write_text(xml, encoding="utf-8")
    out = Workspace(prepared).fails("validate", str(path))
    assert "✗" in out and "DOCTYPE" in out
    assert "TOP-SECRET" not in out


def test_validate_reports_a_missing_file_and_still_checks_the_others(prepared: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.bpmn"
    out = Workspace(prepared).fails("validate", str(missing), str(PROCESSES / "lv.bpmn"))
    assert f"✗ {missing}：无法读取" in out
    assert "✓" in out and "流程 lv" in out


@pytest.mark.parametrize("path", MIWG_FILES, ids=[str(p.relative_to(MIWG)) for p in MIWG_FILES])
def test_validate_answers_every_miwg_corpus_file_without_a_traceback(prepared: Path, path: Path) -> None:
    result = Workspace(prepared).run("validate", str(path))
    assert result.exit_code in (0, 1), result.output
    mark = "✓" if result.exit_code == 0 else "✗"
    assert result.output.startswith(f"{mark} {path}："), result.output


def test_the_miwg_corpus_is_there() -> None:
    assert len(MIWG_FILES) >= 10, MIWG


# ----------------------------------------------------------------------------- deploy


def test_deploy_stores_a_new_version(ws: Workspace, forms_beside: Path) -> None:
    out = ws.ok("deploy", str(renamed_hv(forms_beside)), "--comment", "改名", "--as", "analyst").output
    assert "已部署 hv 第 2 版" in out
    with ws.engine() as engine:
        newest = engine.latest_version("hv")
        assert newest is not None
        assert (newest.version, newest.name, newest.comment, newest.deployed_by) == (2, "高压业扩报装（修订）", "改名", "analyst")


def test_deploy_with_one_bad_file_deploys_nothing(ws: Workspace, forms_beside: Path) -> None:
    bad = forms_beside / "evil.bpmn"
    bad.write_text(HOSTILE.replace("MARKER", str(forms_beside / "pwned")), encoding="utf-8")
    with ws.engine() as engine:
        before = engine.versions()
    out = ws.fails("deploy", "--as", "analyst", str(renamed_hv(forms_beside)), str(bad))
    assert "evil_script" in out and "未部署任何文件" in out
    with ws.engine() as engine:
        assert engine.versions() == before


def test_deploy_of_a_missing_file_deploys_nothing(ws: Workspace, forms_beside: Path) -> None:
    out = ws.fails("deploy", "--as", "analyst", str(renamed_hv(forms_beside)), str(forms_beside / "nope.bpmn"))
    assert "无法读取" in out and "nope.bpmn" in out
    with ws.engine() as engine:
        assert [v.version for v in engine.versions("hv")] == [1]


# ----------------------------------------------------------------------------- start


def test_start_prints_the_application_number_and_the_first_task(ws: Workspace) -> None:
    scenario = SCENARIOS["hv_solo"]
    out = ws.ok("start", "hv", "--data", ws.write("hv.json", dict(scenario.start))).output
    match = APP_NO.search(out)
    assert match and match.group(2) == "HV", out
    datetime.strptime(match.group(3), "%Y%m%d")
    assert scenario.steps[0].node in ready_tasks(out)
    with ws.engine() as engine:
        app = engine.application(match.group(1))
        assert (app.status, app.customer_name) == ("running", scenario.start["customer_name"])


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


HV_START = dict(SCENARIOS["hv_solo"].start)


@pytest.mark.parametrize("content,expected", [
    ('{"customer_name": "张三",', "不是有效的 JSON"),
    ("[1, 2, 3]", "必须是一个 JSON 对象"),
    (b"\xff\xfe\x00garbage", "不是 UTF-8"),
    ("[" * 100_000 + "]" * 100_000, "嵌套"),
    ({**HV_START, "capacity_kva": -5}, "capacity_kva"),
    (_without(HV_START, "customer_name"), "customer_name"),
    (None, "无法读取数据文件"),
], ids=["bad-json", "not-an-object", "not-utf8", "too-deep", "negative-capacity", "missing-customer-name",
        "missing-file"])
def test_start_rejects_bad_data_and_creates_no_application(ws: Workspace, content: Any, expected: str) -> None:
    path = str(ws.root / "missing.json") if content is None else ws.write("data.json", content)
    out = ws.fails("start", "hv", "--data", path)
    assert "错误：" in out and expected in out
    with ws.engine() as engine:
        assert engine.applications() == []


def test_start_by_a_user_without_the_front_desk_role_is_refused(ws: Workspace) -> None:
    out = ws.fails("start", "lv", "--data", ws.write("lv.json", dict(SCENARIOS["lv_residential"].start)),
                   "--as", "metering")
    assert "受理需要「受理员」角色，您没有该角色" in out
    with ws.engine() as engine:
        assert engine.applications() == []


# ----------------------------------------------------------------------------- tasks, claim, complete


def test_tasks_by_role_and_by_user(ws: Workspace) -> None:
    app_no, task_id = ws.start(SCENARIOS["hv_solo"])  # the survey goes to the least busy manager: manager1
    by_role = ws.ok("tasks", "--role", "customer_manager").output
    assert "共 1 个任务" in by_role and ready_tasks(by_role) == {"hv_site_survey_solo": task_id}
    assert app_no in by_role
    assert ready_tasks(ws.ok("tasks", "--user", "manager1").output) == {"hv_site_survey_solo": task_id}
    assert "共 0 个任务" in ws.ok("tasks", "--user", "manager2").output
    assert "共 0 个任务" in ws.ok("tasks", "--role", "marketing").output
    assert "用户不存在" in ws.fails("tasks", "--user", "nobody")


def test_claim_by_prefix_and_nobody_else_can_take_it(ws: Workspace) -> None:
    with ws.engine() as engine:
        engine.create_user("frontdesk2", "柜台受理员 二", ("front_desk",), "pw")
    _, task_id = ws.start(SCENARIOS["lv_residential"])  # lv_sign_simple: front desk, not assigned
    assert "frontdesk 已认领任务" in ws.ok("claim", task_id[:8], "--as", "frontdesk").output
    assert "已被柜台受理员 张敏认领" in ws.fails("claim", task_id, "--as", "frontdesk2")
    assert "只有认领人可以办理" in ws.fails("complete", task_id, "--as", "frontdesk2", "--data",
                                      ws.write("step.json", dict(SCENARIOS["lv_residential"].steps[0].data)))
    with ws.engine() as engine:
        task = engine.task(task_id)
        assert (task.claimed_by, task.status) == ("frontdesk", "ready")


def test_claim_of_a_task_assigned_to_someone_else_is_refused(ws: Workspace) -> None:
    _, task_id = ws.start(SCENARIOS["hv_solo"])
    assert "已指派给客户经理 李强" in ws.fails("claim", task_id, "--as", "manager2")
    with ws.engine() as engine:
        assert engine.task(task_id).claimed_by is None


@pytest.mark.parametrize("given,expected", [("zzzzzz", "任务不存在"), ("abc", "任务不存在")])
def test_claim_of_an_unknown_or_too_short_task_id(ws: Workspace, given: str, expected: str) -> None:
    assert expected in ws.fails("claim", given, "--as", "manager1")


def test_complete_drives_an_lv_residential_application_to_the_end(ws: Workspace) -> None:
    scenario = SCENARIOS["lv_residential"]
    app_no, first_task = ws.start(scenario)
    task_id = first_task
    out = ""
    for index, step in enumerate(scenario.steps):
        with ws.engine() as engine:
            task = engine.task(task_id)
            actor = actor_for(engine, task.role, task.assignee)
        assert task.node_id == step.node
        given = task_id[:6] if index % 2 else task_id  # the shortest unique prefix works too
        out = ws.ok("complete", given, "--as", actor, "--data", ws.write(f"step{index}.json", dict(step.data))).output
        if index + 1 < len(scenario.steps):
            task_id = ready_tasks(out)[scenario.steps[index + 1].node]
    assert f"申请 {app_no}：状态 completed" in out and "待办任务" not in out
    with ws.engine() as engine:
        app = engine.application(app_no)
        assert app.status == "completed" and app.completed_at is not None
        assert [e.node_id for e in app.history if e.kind == "task.completed"] == [s.node for s in scenario.steps]
    again = ws.fails("complete", first_task, "--as", "frontdesk",
                     "--data", ws.write("again.json", dict(scenario.steps[0].data)))
    assert "已由柜台受理员 张敏于" in again


def test_complete_by_a_user_without_the_role_is_refused(ws: Workspace) -> None:
    scenario = SCENARIOS["lv_residential"]
    _, task_id = ws.start(scenario)
    out = ws.fails("complete", task_id, "--as", "metering", "--data", ws.write("s.json", dict(scenario.steps[0].data)))
    assert "您没有该角色" in out and "metering" not in out
    with ws.engine() as engine:
        assert engine.task(task_id).status == "ready"


def test_complete_with_invalid_form_data_names_the_field(ws: Workspace) -> None:
    _, task_id = ws.start(SCENARIOS["lv_residential"])
    out = ws.fails("complete", task_id, "--as", "frontdesk", "--data", ws.write("s.json", {"signed_on": "2025-03-04"}))
    assert "  - signed: " in out
    with ws.engine() as engine:
        assert engine.task(task_id).status == "ready"


def test_complete_with_a_missing_data_file(ws: Workspace) -> None:
    _, task_id = ws.start(SCENARIOS["lv_residential"])
    assert "无法读取数据文件" in ws.fails("complete", task_id, "--as", "frontdesk", "--data", str(ws.root / "no.json"))


# ----------------------------------------------------------------------------- show, retry


def test_show_prints_status_data_documents_and_an_intact_audit_chain(ws: Workspace) -> None:
    app_no, _ = ws.start(SCENARIOS["lv_residential"])
    out = ws.ok("show", app_no).output
    assert f"申请 {app_no}" in out and "状态 进行中" in out
    assert 'customer_name = "张伟"' in out
    with ws.engine() as engine:
        documents = engine.application(app_no).documents
    assert documents and all(d.id in out for d in documents)
    assert "审计链：完整" in out


def test_show_of_an_unknown_application(ws: Workspace) -> None:
    assert "申请不存在：HV20990101000001" in ws.fails("show", "HV20990101000001")


def test_retry_without_failed_tasks_is_refused(ws: Workspace) -> None:
    app_no, _ = ws.start(SCENARIOS["lv_residential"])
    assert "没有出错的任务可重试" in ws.fails("retry", app_no, "--as", "manager1")
    assert "申请不存在" in ws.fails("retry", "LV20990101000001", "--as", "manager1")


# ----------------------------------------------------------------------------- demo


def test_demo_creates_and_lists_applications(ws: Workspace) -> None:
    out = ws.ok("demo", "6").output
    assert "已生成演示申请 6 个" in out
    printed = re.findall(r"^  ((?:HV|LV|PV)\d{14})  ", out, re.MULTILINE)
    with ws.engine() as engine:
        apps = engine.applications()
    assert sorted(printed) == sorted(a.app_no for a in apps) and len(apps) == 6
    assert any(a.status == "completed" for a in apps) and any(a.status == "running" for a in apps)


def test_demo_spreads_even_a_few_applications_over_the_variants(ws: Workspace) -> None:
    ws.ok("demo", "6")
    with ws.engine() as engine:
        assert {a.process_key for a in engine.applications()} == {"hv", "lv", "pv"}


# ----------------------------------------------------------------------------- document


def test_document_writes_the_stored_bytes_and_the_pdf(ws: Workspace) -> None:
    app_no, _ = ws.start(SCENARIOS["lv_residential"])  # the residential contract is made at acceptance
    with ws.engine() as engine:
        documents = engine.application(app_no).documents
        docx = next(d for d in documents if d.filename.endswith(".docx"))
        html = next(d for d in documents if d.media_type == "text/html")
        _, stored = engine.document(docx.id)
    target = ws.root / "out.docx"
    assert docx.filename in ws.ok("document", docx.id, "-o", str(target)).output
    assert target.read_bytes() == stored and stored.startswith(b"PK") and zipfile.is_zipfile(target)
    pdf = ws.root / "out.pdf"
    ws.ok("document", html.id, "--pdf", "-o", str(pdf), "--as", "manager1")
    assert pdf.read_bytes().startswith(b"%PDF")
    with ws.engine() as engine:
        assert any(d.media_type == "application/pdf" for d in engine.application(app_no).documents)
        assert engine.verify_audit(app_no).intact
    # the contract's DOCX id, shortened to a prefix, gives the same PDF (kept since the first request)
    again = ws.root / "again.pdf"
    ws.ok("document", docx.id[:8], "--pdf", "-o", str(again))
    assert again.read_bytes() == pdf.read_bytes()
    short = ws.root / "short.docx"
    ws.ok("document", docx.id[:8], "-o", str(short))
    assert short.read_bytes() == stored


def test_document_refuses_bad_requests(ws: Workspace) -> None:
    app_no, _ = ws.start(SCENARIOS["lv_residential"])
    with ws.engine() as engine:
        docx = next(d for d in engine.application(app_no).documents if d.filename.endswith(".docx"))
    assert "文件不存在：no-such-id" in ws.fails("document", "no-such-id", "-o", str(ws.root / "x.docx"))
    assert "文件不存在：abc" in ws.fails("document", "abc", "-o", str(ws.root / "x.docx"))  # too short for a prefix
    unwritable = ws.root / "no-such-folder" / "x.docx"
    assert f"无法写入 {unwritable}" in ws.fails("document", docx.id, "-o", str(unwritable))
    assert f"无法写入 {ws.root}" in ws.fails("document", docx.id, "-o", str(ws.root))
    assert not (ws.root / "x.pdf").exists() and not (ws.root / "x.docx").exists()


# ----------------------------------------------------------------------------- set-up mistakes


def test_a_database_without_init_says_to_run_init(fresh: Workspace) -> None:
    assert "init" in fresh.fails("tasks")


def test_a_malformed_database_url_is_a_clear_error(tmp_path: Path) -> None:
    assert "nonsense" in Workspace(tmp_path, "nonsense://x").fails("tasks")


# ----------------------------------------------------------------------------- the installed command


def test_the_console_script_initialises_and_validates(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("baozhuang")
    assert script.is_file(), f"{script} 不存在：先在 venv 中 pip install -e ."
    common = [str(script), "--db", database_url(tmp_path, "x.db", empty=True),
              "--documents", str(tmp_path / "documents")]
    # The installed wrapper, running this checkout's code (the editable install may point at another clone).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    init = subprocess.run([*common, "init"], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
                          check=False)
    assert init.returncode == 0, init.stderr
    assert "已部署 hv 第 1 版" in init.stdout
    check = subprocess.run([*common, "validate", str(PROCESSES / "hv.bpmn")], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path, env=env, check=False)
    assert check.returncode == 0, check.stderr
    assert "✓" in check.stdout and "流程 hv" in check.stdout


# ----------------------------------------------------------------------------- field work


def test_a_site_task_is_booked_reported_and_then_completed_from_the_terminal(ws: Workspace) -> None:
    scenario = SCENARIOS["hv_solo"]
    app_no, task_id = ws.start(scenario)  # hv_site_survey_solo, assigned to manager1
    data = ws.write("survey.json", dict(scenario.steps[0].data))
    assert "现场作业待预约" in ws.fails("complete", task_id, "--as", "manager1", "--data", data)
    assert task_id in ws.ok("fieldjob", "list").output
    today = date.today()
    monday = today + timedelta(days=7 - today.weekday())
    booking = ("--station", "XZ", "--mode", "fixed", "--start", "09:30", "--contact", "赵工",
               "--phone", "13600001234")
    assert "日期格式" in ws.fails("fieldjob", "book", task_id[:8], "--day", "2026-02-30", *booking,
                                "--as", "fielddispatch")
    assert "工单调度员" in ws.fails("fieldjob", "book", task_id[:8], "--day", monday.isoformat(), *booking,
                                 "--as", "manager1")
    out = ws.ok("fieldjob", "book", task_id[:8], "--day", monday.isoformat(), *booking, "--as", "fielddispatch").output
    assert "已预约" in out and "约时" in out
    out = ws.ok("fieldjob", "book", task_id, "--day", (monday + timedelta(days=1)).isoformat(), *booking,
                "--reason", "客户改期", "--as", "fielddispatch").output
    assert "已改约" in out
    assert "已到达现场" in ws.ok("fieldjob", "checkin", task_id, "--note", "到达", "--as", "manager1").output
    assert "可以办理" in ws.ok("fieldjob", "checkout", task_id, "--note", "完成", "--as", "manager1").output
    assert app_no in ws.ok("complete", task_id, "--as", "manager1", "--data", data).output


# ----------------------------------------------------------------------------- example data


def test_example_data_is_what_start_and_complete_accept(ws: Workspace) -> None:
    accept = ws.write("accept.json", ws.ok("example", "lv").output)
    out = ws.ok("start", "lv", "--data", accept, "--as", "frontdesk").output
    tasks = ready_tasks(out)
    [(node, task_id)] = list(tasks.items())
    data = ws.write("step.json", ws.ok("example", "lv", node).output)
    scenario = next(s for s in SCENARIOS.values() if s.process == "lv" and s.steps and s.steps[0].node == node)
    with ws.engine() as engine:
        actor = actor_for(engine, engine.task(task_id).role, engine.task(task_id).assignee)
    assert "状态 running" in ws.ok("complete", task_id, "--as", actor, "--data", data).output
    assert json.loads(Path(data).read_text(encoding="utf-8")) == dict(scenario.steps[0].data)
    assert "没有环节 no_such_node 的示例" in ws.fails("example", "lv", "no_such_node")
