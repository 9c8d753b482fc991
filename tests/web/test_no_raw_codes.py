"""No page a person reads shows a stored code or a login name: on a demo instance (every variant and stage,
site jobs, callbacks, a review meeting, 催办, 转办, 抄送, a substitute on leave, time-limit notices), log in as
each demo user, visit every page reachable by links from the task list — plus the pages each one is refused
(403) or finds already done (409), and the auditor's replay data — and search the text a person sees for
the codes the forms, the rules and the vocabulary store, for station codes and for usernames."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from html.parser import HTMLParser
from typing import Callable
from urllib.parse import urljoin, urlparse

from flask import Flask

from cli.demo import DEMO_STATIONS, DEMO_USERS, drive, load_scenarios, run_demo
from engine import HALVES, JOB_KINDS, MODES, ROLES, AppStatus, Decision, Engine

from tests.conftest import PROCESSES, Clock, Staff

PER_KIND = 6
"""Pages of one kind (one application page, one task page…) visited per person: each kind is built by one
template, so a few instances of it stand for all of them and the crawl stays quick."""
TEAM_SURVEY = next(s for s in load_scenarios(PROCESSES / "paths.json") if s.name == "hv_team")
DUAL_SUPPLY = next(s for s in load_scenarios(PROCESSES / "paths.json") if s.name == "hv_joint_review")
SKIP_PREFIXES = ("/static", "/vendor", "/documents", "/api/", "/exports", "/logout")
"""Not pages to read: files, the API's description (field names for programmers), event-log exports."""
SKIP_SUFFIXES = (".csv", ".xes", ".json", ".pdf", ".docx", ".html")


def known_codes() -> set[str]:
    """Every code a page could leak: enumerated form values, rule results, the vocabulary, stations, logins."""
    codes: set[str] = set()
    for path in (PROCESSES / "forms").glob("*.json"):
        for prop in json.loads(path.read_text(encoding="utf-8")).get("properties", {}).values():
            for source in (prop, prop.get("items") if isinstance(prop.get("items"), dict) else {}):
                codes.update(v for v in source.get("enum", ()) if isinstance(v, str) and re.fullmatch(r"[a-z_]+", v))
    codes.update({"solo", "team", "simple", "standard"})  # what the survey-mode and LV rules decide
    codes.update(ROLES, JOB_KINDS, MODES, HALVES, (s.value for s in AppStatus))
    codes.update({"urban", "rural", "waiting", "scheduled", "on_site", "finished", "issue_open"})
    codes.update(code for code, _, _ in DEMO_STATIONS)
    codes.update(username for username, _, _ in DEMO_USERS)
    return codes


class _Text(HTMLParser):
    """The text of a page as a person sees it (tooltips and placeholders included), and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.links: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "style"):
            self._hidden += 1
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
        self.parts.extend(str(a[k]) for k in ("title", "placeholder", "aria-label", "alt") if a.get(k))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def page_kind(path: str) -> str:
    return re.sub(r"(HV|LV|PV)\d{8,}", "<app>", re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\b\d+\b", "<id>", path))


def crawl(person: Staff, start: list[str], find: Callable[[str, str], None]) -> int:
    """Visit every page reachable from ``start`` (a few of each kind); report each page's text to ``find``."""
    queue, seen, kinds = list(start), set(), Counter[str]()
    while queue:
        url = queue.pop(0)
        parsed = urlparse(url)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        if path in seen or parsed.path.startswith(SKIP_PREFIXES) or parsed.path.endswith(SKIP_SUFFIXES):
            continue
        kind = page_kind(parsed.path)
        if kinds[kind] >= PER_KIND and path not in start:
            continue
        seen.add(path)
        kinds[kind] += 1
        response = person.get(path)
        if "text/html" not in response.content_type:
            continue
        text = _Text()
        text.feed(response.get_data(as_text=True))
        find(path, " ".join(text.parts))
        for link in text.links:
            target = urlparse(urljoin("http://localhost" + path, link))
            if target.netloc == "localhost":
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return len(seen)


def stage(engine: Engine, clock: Clock) -> dict[str, str]:
    """A demo instance with the day's task work done on it; returns ids of pages no link leads everyone to."""
    run_demo(engine, 18)
    today = clock.now.date()
    engine.set_substitute("manager1", "manager2", today, today + timedelta(days=3), "年休假", by="manager1")
    mine = engine.task_page("manager2", scope="mine").items
    held = next(t for t in mine if t.assignee == "manager2")
    engine.transfer(held.id, "manager1", by="manager2", reason="客户在其片区")
    done = engine.tasks(status="completed", limit=500)
    decided = next(t for t in done if t.node_id in ("hv_plan_approval", "hv_joint_review", "lv_completion_inspection"))
    engine.copy_decision(decided.id, ["manager1", "archive"], by=decided.completed_by or "marketing", note="请知悉")
    reviews = [t for t in engine.tasks(status="ready", limit=500) if t.node_id == "hv_design_review"]
    meeting = engine.meetings.open(today - timedelta(days=today.weekday()), "planning")
    if reviews:
        item = next(i for i in engine.meetings.meeting(meeting.id).items if i.task_id == reviews[0].id)
        engine.meetings.decide(meeting.id, {item.id: Decision("pass", "图纸齐全，同意")}, "planning")
    team = list(drive(engine, TEAM_SURVEY, stop_after=2))[-1]  # past the team survey: its members are people
    lifecycle = stage_lifecycle(engine)
    clock.advance(days=20)
    engine.sweep_time_limits()  # warnings and escalations name the task's holder
    return {"completed_task": done[0].id, "planning_task": next(
        t.id for t in engine.tasks(status="ready", limit=500) if t.role == "planning" or t.role == "marketing"),
        "team_app": team.app_no, "team_task": team.ready_tasks[0].id, **lifecycle}


def stage_lifecycle(engine: Engine) -> dict[str, str]:
    """The case lifecycle on the demo: a case suspended, one withdrawn, one terminated, one corrected (its
    customer type: a code before and after), and a dual-supply case waiting at the countersign of 设计 and 调度."""
    running = [a.app_no for a in engine.applications(limit=100) if a.status == AppStatus.RUNNING]
    suspended, withdrawn, terminated, corrected = running[:4]
    engine.suspend(suspended, "客户申请暂缓：厂房规划调整", by="marketing")
    engine.withdraw(withdrawn, "客户来电撤回申请", by="frontdesk")
    engine.terminate(terminated, "客户项目未获批准", by="marketing")
    engine.correct(corrected, "contact_name", "王建华", "联系人登记有误", by="marketing")
    joint = list(drive(engine, DUAL_SUPPLY, stop_after=3))[-1]  # 发展策划 done; 设计 and 调度 wait
    assert {t.node_id for t in joint.ready_tasks} == {"hv_joint_review_design", "hv_joint_review_dispatch"}
    return {"suspended_app": suspended, "withdrawn_app": withdrawn, "terminated_app": terminated,
            "corrected_app": corrected, "joint_app": joint.app_no}


def leaks(engine: Engine, staff: Callable[[str], Staff], people: list[str],
          extra: Callable[[str], list[str]] = lambda username: []) -> tuple[dict[tuple[str, str], str], Counter[str]]:
    """Crawl as each person; every (page kind, code) found with where and in what words, and pages per person."""
    codes = known_codes()
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(sorted(map(re.escape, codes), key=len, reverse=True))
                         + r")(?![A-Za-z0-9_])")
    found: dict[tuple[str, str], str] = {}
    visited: Counter[str] = Counter()
    for username in people:
        person = staff(username)

        def find(path: str, text: str, who: str = username) -> None:
            for match in pattern.finditer(text):
                context = " ".join(text[max(0, match.start() - 25):match.end() + 25].split())
                found.setdefault((page_kind(path), match.group(1)), f"{who} {path}: …{context}…")

        visited[username] = crawl(person, ["/", "/?scope=pool", "/notices/", "/delegation/", *extra(username)], find)
        if username == "auditor":
            app_no = next(a.app_no for a in engine.applications(limit=100) if a.process_key == "hv"
                          and any(e.kind == "task.completed" for e in engine.application(a.app_no).history))
            replay = person.get(f"/audit/{app_no}/replay.json").get_json()
            find(f"/audit/{app_no}/replay.json",
                 " ".join(f"{r['label']} {r['value']}" for step in replay["steps"] for s in step["sections"]
                          for r in s["rows"]))
    return found, visited


def test_no_page_shows_a_code_or_a_login_name(app: Flask, engine: Engine, clock: Clock,
                                              staff: Callable[[str], Staff], client: Staff) -> None:
    ids = stage(engine, clock)
    lifecycle = [ids[k] for k in ("suspended_app", "withdrawn_app", "terminated_app", "corrected_app", "joint_app")]
    refused = ["/?scope=all", "/audit/", "/supervision/", "/fieldwork/", "/callbacks/", "/accept",
               f"/tasks/{ids['completed_task']}", f"/tasks/{ids['planning_task']}",
               f"/applications/{ids['team_app']}", f"/tasks/{ids['team_task']}", f"/audit/{ids['team_app']}",
               *(f"/applications/{app_no}" for app_no in lifecycle),
               *(f"/applications/{app_no}/correct" for app_no in lifecycle),
               *(f"/audit/{app_no}" for app_no in lifecycle)]
    found, visited = leaks(engine, staff, [u for u, _, _ in DEMO_USERS], lambda username: refused)
    # the customer's progress page of each case the lifecycle touched
    codes = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(sorted(map(re.escape, known_codes()), key=len, reverse=True))
                       + r")(?![A-Za-z0-9_])")
    for app_no in lifecycle:
        phone = str(engine.application(app_no).data.get("contact_phone", ""))
        text = _Text()
        text.feed(client.post("/progress", {"app_no": app_no, "phone_tail": phone[-4:]}).get_data(as_text=True))
        page = " ".join(text.parts)
        assert app_no in page
        for match in codes.finditer(page):
            found.setdefault(("/progress", match.group(1)), f"customer /progress {app_no}: …{match.group(1)}…")
    assert found == {}, "\n".join(found.values())
    # the crawl really went everywhere: every role reached its own pages
    assert min(visited.values()) >= 20 and visited["marketing"] >= 50 and visited["fielddispatch"] >= 35, visited


def test_the_crawl_catches_a_code_or_a_login_name_on_a_page(engine: Engine, staff: Callable[[str], Staff]) -> None:
    run_demo(engine, 3)
    app_no = engine.applications(limit=1)[0].app_no
    engine.add_comment(app_no, "请 manager1 按 team 方式勘查", by="marketing")
    found, _ = leaks(engine, staff, ["marketing"])
    assert {code for kind, code in found if kind == "/applications/<app>"} == {"manager1", "team"}
