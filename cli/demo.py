"""Demo users and demo applications, driven through the real facade from example scenarios.

A scenario (an entry of processes/paths.json) is the start data of an application and, in order,
the node id and form data of every user task on one path; the same file drives the end-to-end tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from engine import Answers, Appointment, Filing
from engine import CUSTOMER, Conflict, ContactSource
from engine import Engine
from engine import StepResult

DEMO_PASSWORD = "baozhuang"
DEMO_STATIONS: tuple[tuple[str, str, str], ...] = (
    ("CQ", "城区供电所", "urban"),
    ("XZ", "乡镇供电所", "rural"),
)
DEMO_DISPATCHER = "fielddispatch"
DEMO_USERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("frontdesk", "柜台受理员 张敏", ("front_desk",)),
    ("manager1", "客户经理 李强", ("customer_manager",)),
    ("manager2", "客户经理 王芳", ("customer_manager",)),
    ("survey", "勘查组 赵刚", ("survey_team",)),
    ("marketing", "营销部 陈静（主管）", ("marketing",)),
    ("planning", "发展策划 刘洋", ("planning",)),
    ("design", "设计室 许晴", ("design",)),
    ("metering", "计量 孙伟", ("metering",)),
    ("dispatch", "调度 周杰", ("dispatch",)),
    ("archive", "档案 吴丽", ("archive",)),
    ("auditor", "稽查 郑华", ("auditor",)),
    ("analyst", "流程分析员 冯涛", ("analyst",)),
    (DEMO_DISPATCHER, "工单调度员 何平", ("field_dispatch",)),
    ("service", "客户服务 林娜", ("customer_service",)),
    ("station1", "城区供电所所长 马军", ("station_head",)),
    ("admin", "系统管理员 韩雪", ("administrator",)),
)
DEMO_USER_STATIONS = {"station1": "CQ", "manager1": "CQ", "manager2": "XZ"}
DEMO_WORK_PHONES = {"manager1": "0512-65001101", "manager2": "0512-65001102", "service": "0512-65009559",
                    "marketing": "0512-65001000"}
"""The numbers customers may call (a customer manager's is shown on the progress page: 一口对外)."""
DEMO_FIRMS: tuple[tuple[str, str, str, str], ...] = (
    ("design", "示例市电力设计院有限公司", "电力行业（送电、变电）专业乙级", "0512-65100001"),
    ("design", "苏南电力工程设计咨询有限公司", "电力行业（送电、变电）专业乙级", "0512-65100002"),
    ("design", "吴中华电设计有限公司", "电力行业（变电）专业丙级", "0512-65100003"),
    ("design", "姑苏能源工程设计所", "电力行业（送电）专业丙级", "0512-65100004"),
    ("design", "东吴电气设计研究院有限公司", "电力行业专业乙级", "0512-65100005"),
    ("design", "太湖智能电力设计有限公司", "电力行业（变电）专业丙级", "0512-65100006"),
    ("construction", "示例市送变电工程有限公司", "承装（修、试）电力设施许可证 二级", "0512-65200001"),
    ("construction", "江南电力安装有限公司", "承装（修、试）电力设施许可证 三级", "0512-65200002"),
    ("construction", "苏城机电工程有限公司", "承装（修、试）电力设施许可证 三级", "0512-65200003"),
    ("construction", "金阊电力建设有限公司", "承装（修、试）电力设施许可证 四级", "0512-65200004"),
    ("construction", "相城恒通电力工程有限公司", "承装（修、试）电力设施许可证 三级", "0512-65200005"),
    ("construction", "园区宏达电气安装有限公司", "承装（修、试）电力设施许可证 四级", "0512-65200006"),
    ("supply", "示例市开关厂有限公司", "高低压成套设备 3C 认证", "0512-65300001"),
    ("supply", "华东变压器制造有限公司", "变压器型式试验报告齐全", "0512-65300002"),
    ("supply", "苏州电缆股份有限公司", "电线电缆 3C 认证", "0512-65300003"),
    ("supply", "吴江电表箱有限公司", "计量箱型式试验合格", "0512-65300004"),
    ("supply", "常熟电气成套设备厂", "高低压成套设备 3C 认证", "0512-65300005"),
    ("supply", "昆山互感器有限公司", "互感器型式试验合格", "0512-65300006"),
)
"""Six qualified firms of each kind (三不指定: at least five are shown, in rotation). Names are made up."""


class DemoClock:
    """A clock that moves on a little every time it is read, starting weeks ago: demo applications then
    have steps that took minutes, hours or days, some of them past their time limits."""

    STEPS_MINUTES = (3, 10, 30, 60, 5, 150, 15, 430)

    def __init__(self, start: datetime, until: datetime | None = None) -> None:
        self.now, self.calls, self.until = start, 0, until

    def __call__(self) -> datetime:
        self.calls += 1
        self.now += timedelta(minutes=self.STEPS_MINUTES[(self.calls * 5) % len(self.STEPS_MINUTES)])
        if self.until is not None and self.now > self.until:
            self.now = self.until  # never run into the future
        return self.now


# How long before acceptance the demo customers first applied, in hours: mostly the same day, a few
# days for some — so that the 体外循环 report has something to show.
FIRST_CONTACT_LAG_HOURS = (0.5, 2, 1, 4, 0.2, 30, 3, 80, 1.5, 6)


@dataclass(frozen=True)
class Step:
    """One user task of a scenario: which node, and what is submitted."""

    node: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Scenario:
    """One path through a process, with the data that drives it."""

    name: str
    title: str
    process: str
    start: Mapping[str, Any]
    steps: tuple[Step, ...]


def load_scenarios(path: Path) -> list[Scenario]:
    """Every scenario of a paths file, in file order."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return [Scenario(entry["key"], entry.get("title", entry["key"]), entry["variant"], entry["start"],
                     tuple(Step(node, data) for node, data in entry["steps"])) for entry in raw]


def create_demo_users(engine: Engine) -> list[str]:
    """Create the demo stations and the demo users that do not exist yet; return the users' names."""
    for code, name, area in DEMO_STATIONS:
        try:
            engine.field_work.create_station(code, name, area)
        except Conflict:
            continue
    created = []
    for username, display, roles in DEMO_USERS:
        try:
            engine.create_user(username, display, roles, DEMO_PASSWORD, DEMO_USER_STATIONS.get(username),
                               DEMO_WORK_PHONES.get(username))
        except Conflict:
            continue
        created.append(username)
    if not engine.firms(include_withdrawn=True):
        for kind, name, qualification, phone in DEMO_FIRMS:
            engine.add_firm(kind, name, qualification, phone, by="marketing")
    return created


def do_field_work(engine: Engine, task_id: str, worker: str) -> None:
    """Do a task's site work as an office would: the dispatcher books the first station and day with
    capacity left (a fixed-time appointment an hour or more ahead), the worker checks in and out."""
    job = engine.field_work.find(task_id)
    if job is None or job.status in ("finished", "cancelled"):
        return
    if job.status == "waiting":
        day, station, override = _free_slot(engine, job.kind)
        name, phone = engine.field_work.customer_contact(job.id)  # the contact given at acceptance
        appointment = Appointment(station, day, "fixed", name, phone, start=time(9, 30), worker=worker)
        job = engine.field_work.schedule(job.id, DEMO_DISPATCHER, appointment, override_reason=override)
    if job.status == "scheduled":
        job = engine.field_work.check_in(job.id, job.worker or worker, "已到达现场，客户在场")
    if job.status == "on_site":
        engine.field_work.check_out(job.id, job.worker or worker, "现场作业完成")


def _free_slot(engine: Engine, kind: str) -> tuple[date, str, str]:
    """The first station and day from tomorrow with capacity left for a kind of job, and the override
    reason to give when two weeks are full. From tomorrow: a demo clock moves on with every read and
    must not leave a booking in the past."""
    first = engine.now().date() + timedelta(days=1)
    board = engine.field_work.board(first, 14)
    for day in board.days:
        for station in board.stations:
            if board.cell(station.code, day, kind).remaining > 0:
                return day, station.code, ""
    return first, DEMO_STATIONS[0][0], "演示数据：两周内各所均已约满"


def actor_for(engine: Engine, role: str, assignee: str | None) -> str:
    """The demo user who would do a task of this role."""
    if assignee:
        return assignee
    for username, _, roles in DEMO_USERS:
        if role in roles:
            return username
    raise LookupError(f"没有角色为 {role} 的演示用户")


def drive(engine: Engine, scenario: Scenario, stop_after: int | None = None,
          start_as: str = "frontdesk") -> Iterator[StepResult]:
    """Start a scenario's application and complete its user tasks in order, yielding each result."""
    result = engine.start(scenario.process, scenario.start, start_as)
    yield result
    for index, step in enumerate(scenario.steps):
        if stop_after is not None and index >= stop_after:
            return
        matches = [t for t in result.ready_tasks if t.node_id == step.node]
        if not matches:
            open_nodes = ", ".join(t.node_id for t in result.ready_tasks) or "无"
            raise AssertionError(f"{scenario.name}: 期望待办 {step.node}，实际待办 {open_nodes}（状态 {result.status}）")
        task = matches[0]
        actor = actor_for(engine, task.role, task.assignee)
        do_field_work(engine, task.id, actor)
        result = engine.complete(task.id, actor, step.data)
        yield result


def run_demo(engine: Engine, count: int, progress: Callable[[int], Any] | None = None) -> list[tuple[str, str, str]]:
    """Create ``count`` applications over every scenario, stopped at spread-out stages."""
    by_variant: dict[str, list[Scenario]] = {}
    for scenario in load_scenarios(engine.config.processes_dir / "paths.json"):
        by_variant.setdefault(scenario.process, []).append(scenario)
    # Round-robin over the variants so that even a small demo has HV, LV and PV applications.
    scenarios = [group[i % len(group)] for i in range(max(map(len, by_variant.values())))
                 for group in by_variant.values()]
    made = []
    for i in range(count):
        scenario = scenarios[i % len(scenarios)]
        # A third of the applications (of every variant) run to the end; the others stop part-way so
        # that every stage has work waiting.
        stop = None if (i + i // 3) % 3 == 0 else (i * 7) % (len(scenario.steps) + 1)
        lag = timedelta(hours=FIRST_CONTACT_LAG_HOURS[i % len(FIRST_CONTACT_LAG_HOURS)])
        first_contact = (engine.now() - lag).replace(microsecond=0).isoformat() + "+08:00"
        scenario = replace(scenario, start={**scenario.start, "first_contact_at": first_contact})
        last = None
        for last in drive(engine, scenario, stop):
            pass
        assert last is not None
        if i % 3 == 1:  # some customers confirm the date on the progress page (体外循环 evidence)
            engine.confirm_first_contact(last.app_no, first_contact[:10], ContactSource.CUSTOMER_PAGE, CUSTOMER)
        where = "、".join(t.node_name for t in last.ready_tasks) or "已办结"
        made.append((last.app_no, last.status, f"{scenario.title}：{where}"))
        if progress:
            progress(i + 1)
    stage_field_work(engine)
    stage_task_work(engine)
    return made


def stage_field_work(engine: Engine) -> None:
    """Give the dispatcher's board something to show: book every other waiting site job where capacity is
    left (a fixed time or an afternoon window), and record the first callbacks, one with an issue left open."""
    waiting = engine.field_work.jobs(status="waiting")
    for n, job in enumerate(waiting[::2]):
        day, station, override = _free_slot(engine, job.kind)
        name, phone = engine.field_work.customer_contact(job.id)
        if n % 2 == 0:
            appointment = Appointment(station, day, "fixed", name, phone, start=time(8, 30))
        else:
            appointment = Appointment(station, day, "window", name, phone, start=time(14), end=time(17))
        engine.field_work.schedule(job.id, DEMO_DISPATCHER, appointment, override_reason=override)
    for n, callback in enumerate(engine.field_work.callbacks("open")[:3]):
        issue = "客户反映现场作业后未告知下一步办理事项" if n == 0 else ""
        engine.field_work.record_callback(callback.id, "service", True, not issue, issue)


def stage_task_work(engine: Engine) -> None:
    """Give the task work something to show: remarks on the newest running application (one of them shown to
    the customer), and 营销部 hurrying one of its open tasks."""
    running = engine.applications(status="running", limit=1)
    if not running:
        return
    app = engine.application(running[0].app_no)
    engine.add_comment(app.app_no, "客户来电询问进度，已告知当前环节与时限", by="frontdesk")
    engine.add_comment(app.app_no, "您的申请资料已收齐，我们正在办理，请保持电话畅通。", by="marketing", public=True)
    for task in app.open_tasks:
        if (task.claimed_by or task.assignee) != "marketing":
            engine.urge(task.id, by="marketing", note="客户来电催问，请尽快办理")
            break
def stage_customer_side(engine: Engine, app_nos: list[str]) -> None:
    """Give the customer's side something to show: independent 回访 made (one customer reporting a nominated
    builder), complaints filed online and by 95598, one answered; then send the queued notices."""
    answers = (Answers(True, 5, False, "", False, "", "客户对办电速度满意"),
               Answers(True, 4, False, "", False, ""),
               Answers(False, remarks="无人接听"),
               Answers(True, 2, True, "勘查时有人推荐某施工队，说用他们验收快", False, "", "已告知客户可自主选择"))
    for answer, follow_up in zip(answers, engine.follow_ups()):
        engine.record_follow_up(follow_up.id, answer, by="service")
    if len(app_nos) >= 3:
        complaint = engine.file_complaint(app_nos[0], Filing("complaint", "time_limit", "供电方案答复比承诺的晚了两天，希望加快。"))
        engine.file_complaint(app_nos[1], Filing("complaint", "information", "不清楚下一步要准备哪些资料，请再说明一下。"))
        engine.record_complaint(app_nos[2], Filing("report", "improper", "来电反映现场人员暗示要“好处费”才能尽快装表。",
                                                   "匿名", ""), "hotline_95598", by="service")
        engine.answer_complaint(complaint.case_no, "已核实，供电方案已于次日答复，已对承办人员进行提醒。", by="marketing")
    engine.deliver_notices(limit=10_000)
