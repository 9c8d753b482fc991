"""A database the size of a province: N applications across variants and stages, by bulk insert.

Real applications are run first through the facade (every scenario of ``processes/paths.json``, the
rows read back after each step), so each *stage template* is what the engine itself writes: the
application row, its work items with roles, assignees and due dates, its workflow task rows and its
hash-chained audit events.  The N applications are then clones of those templates, shifted in time
and given new numbers, ids and customer names, and written with PostgreSQL COPY (SQLite: executemany),
secondary indexes dropped during the load and rebuilt after it.

* Every clone has its application row and its work items (open and completed): what task lists,
  search and the supervision dashboard read.
* ``full`` clones (a few thousand) also get the workflow task rows, documents and the audit chain,
  re-hashed for their own numbers and times: they verify, and the engine can load and continue them.
  The others carry no history (``audit_seq`` 0, so their empty chain is intact too): a real trail of
  40 events and 100 KB of workflow state per application would make a million of them tens of GB.

Applications older than the open window are finished (a few are stuck at a step, long overdue);
those inside it stand at any stage, so open tasks are partly on time, partly 临期 or overdue.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    select,
    text,
)

from engine import GENESIS, SHIPPED, Engine, event_hash, tables
from cli.demo import DemoClock, drive, load_scenarios

APPS, ITEMS, WF_TASKS = tables.APPS, tables.ITEMS, tables.WF_TASKS
EVENTS, DOCUMENTS = tables.EVENTS, tables.DOCUMENTS
BULK_TABLES = ("applications", "work_items", "wf_tasks", "audit_events", "documents")
PENDING_INDEXES = Table("bench_pending_indexes", MetaData(), Column("name", String(128), primary_key=True),
                        Column("statement", Text, nullable=False))
"""Indexes a load dropped and has not rebuilt yet (kept in the database so a rerun can finish the job)."""

VARIANT_WEIGHTS = {"lv": 0.6, "pv": 0.25, "hv": 0.15}
"""Most applications are low-voltage residential and small business; HV is the long, heavy path."""

CLONE_SEQ_BASE = 500_000
"""Clone numbers use daily sequence numbers from here on: never those the engine hands out (from 1)."""

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志文斌宇浩凯晨瑞峰海燕雪梅琳欣怡佳俊晓春生荣亮成林光"
CITIES = ("杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州", "丽水", "义乌", "慈溪", "余姚",
          "诸暨", "乐清", "瑞安", "海宁", "桐乡", "临海")
WORDS = ("华能", "天成", "恒信", "宏达", "鑫源", "金泰", "永安", "顺发", "中科", "瑞丰", "东方", "新元", "远航", "正泰",
         "明珠", "博远", "卓越", "海川", "凯盛", "联创", "同济", "兴业", "汇通", "万家", "长青", "振华", "广源", "安信",
         "德润", "嘉禾", "星辰", "晨光", "祥和", "鼎盛", "富春", "钱江", "之江", "越秀", "江南", "普惠")
TRADES = ("实业", "纺织", "机械", "化工", "电子", "食品", "物流", "置业", "新材料", "光伏", "医药", "包装")


@dataclass(frozen=True)
class Template:
    """One application as the engine left it after some number of steps (rows as plain dicts)."""

    process_key: str
    stage: int
    final: bool
    app: dict[str, Any]
    items: list[dict[str, Any]]
    wf_tasks: list[dict[str, Any]]
    events: list[dict[str, Any]]
    documents: list[dict[str, Any]]

    @property
    def span(self) -> timedelta:
        """From acceptance to the last thing that happened."""
        times = [self.app["created_at"], self.app["updated_at"]]
        times += [i["completed_at"] for i in self.items if i["completed_at"]]
        return max(times) - self.app["created_at"]


SITE_WORK_MARK = re.compile(r'\s*<spiffworkflow:property name="(?:fieldJob|reviewMeeting)" value="[^"]*"\s*/>')


BENCH_ANALYST = "bench"


def deploy_without_site_work(engine: Engine) -> None:
    """Deploy the shipped diagrams once more without their field-job and review-meeting marks, so that every
    user task completes through the plain complete call (dispatching and meetings are not what these
    benchmarks measure); new applications run on these versions. They are deployed by a 流程分析员 of the
    benchmark's own (deploying is refused to anyone else)."""
    if not any(u.username == BENCH_ANALYST for u in engine.users("analyst")):
        engine.create_user(BENCH_ANALYST, "基准测试", ["analyst"], "bench")
    for key in SHIPPED:
        xml = (engine.config.processes_dir / f"{key}.bpmn").read_text(encoding="utf-8")
        plain = SITE_WORK_MARK.sub("", xml)
        if plain != xml:
            engine.deploy(plain.encode("utf-8"), f"{key}.bpmn", BENCH_ANALYST, "benchmark: without site work marks")


def capture_templates(engine: Engine, now: datetime) -> list[Template]:
    """Run every scenario of paths.json through the engine (on a clock that ends before ``now``) and keep
    its rows after each step: one template per (scenario, stage)."""
    clock = DemoClock(now - timedelta(days=60), until=now - timedelta(minutes=1))
    runner = Engine(engine.config, clock=clock)
    templates: list[Template] = []
    try:
        for scenario in load_scenarios(engine.config.processes_dir / "paths.json"):
            # demo.drive walks a scenario the way the demo and the end-to-end tests do.
            for stage, result in enumerate(drive(runner, scenario)):
                templates.append(_read_template(runner, result.app_no, scenario.process, stage, result.status))
    finally:
        runner.dispose()
    return templates


def _read_template(engine: Engine, app_no: str, process_key: str, stage: int, status: str) -> Template:
    with engine.store.reading() as s:
        conn = s.connection()
        app = dict(conn.execute(select(APPS).where(APPS.c.app_no == app_no)).mappings().one())
        items = [dict(r) for r in conn.execute(select(ITEMS).where(ITEMS.c.application_id == app["id"])).mappings()]
        tasks = [dict(r) for r in conn.execute(select(WF_TASKS).where(WF_TASKS.c.application_id == app["id"])).mappings()]
        events = [dict(r) for r in conn.execute(select(EVENTS).where(EVENTS.c.application_id == app["id"])
                                                .order_by(EVENTS.c.seq)).mappings()]
        docs = [dict(r) for r in conn.execute(select(DOCUMENTS).where(DOCUMENTS.c.application_id == app["id"])).mappings()]
    return Template(process_key, stage, status == "completed", app, items, tasks, events, docs)


# ----------------------------------------------------------------------------- names and numbers


def customer_name(rng: random.Random, process_key: str) -> str:
    """A company for HV (and some PV), a person otherwise."""
    if process_key == "hv" or (process_key == "pv" and rng.random() < 0.3):
        return f"{rng.choice(CITIES)}{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.choice(TRADES)}有限公司"
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


class Numbers:
    """Application numbers like the engine's (HV + date + sequence), from CLONE_SEQ_BASE per day."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, str], int] = {}

    def next(self, process_key: str, day: datetime) -> str:
        """The next clone number of that variant and day."""
        key = (process_key, f"{day:%Y%m%d}")
        n = self.counters.get(key, CLONE_SEQ_BASE) + 1
        self.counters[key] = n
        return f"{process_key.upper()}{key[1]}{n:06d}"


# ----------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Plan:
    """What to generate."""

    applications: int
    full: int
    span_days: int = 3 * 365
    open_share: float = 0.1
    stuck_share: float = 0.01
    seed: int = 7
    variants: Mapping[str, float] = field(default_factory=lambda: dict(VARIANT_WEIGHTS))
    """Variant → share of the applications (the impact benchmark asks for HV only)."""


def _shift(value: datetime | None, delta: timedelta) -> datetime | None:
    return value + delta if value is not None else None


class Cloner:
    """Turns templates into rows for N applications."""

    def __init__(self, templates: Sequence[Template], plan: Plan, now: datetime, first_app_id: int,
                 first_event_id: int) -> None:
        self.plan, self.now = plan, now
        self.rng = random.Random(plan.seed)
        self.numbers = Numbers()
        self.next_app_id, self.next_event_id = first_app_id, first_event_id
        self.by_variant: dict[str, list[Template]] = {}
        self.finals: dict[str, list[Template]] = {}
        for t in templates:
            (self.finals if t.final else self.by_variant).setdefault(t.process_key, []).append(t)
        self.variants = [v for v, weight in plan.variants.items() if weight > 0]
        self.weights = [plan.variants[v] for v in self.variants]
        # Full clones are spread evenly over the whole population.
        self.full_every = max(1, plan.applications // plan.full) if plan.full else 0
        self.full_made = 0

    def rows(self, index: int) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]],
                                        list[dict[str, Any]], list[dict[str, Any]]]:
        """Application, work items, workflow rows, events and documents of the index-th application
        (applications come out in acceptance order)."""
        rng, plan = self.rng, self.plan
        key = rng.choices(self.variants, self.weights)[0]
        span = timedelta(days=plan.span_days)
        created = self.now - span + span * ((index + rng.random()) / plan.applications)
        recent = self.now - created < span * plan.open_share
        if recent and rng.random() < 0.85 or (not recent and rng.random() < plan.stuck_share):
            template = rng.choice(self.by_variant[key])
        else:
            template = rng.choice(self.finals[key])
        if created + template.span > self.now:  # its history must have happened already
            created = self.now - template.span - timedelta(minutes=rng.randint(1, 600))
        created = created.replace(microsecond=0)
        delta = created - template.app["created_at"]
        full = bool(self.full_every) and index % self.full_every == 0 and self.full_made < plan.full
        app_id = self.next_app_id
        self.next_app_id += 1
        app_no = self.numbers.next(key, created)
        name = customer_name(rng, key)
        app = dict(template.app)
        ids: dict[str, str] = {}

        def new_id(old: str) -> str:
            if old not in ids:
                ids[old] = str(uuid.uuid4())
            return ids[old]

        lag_hours = rng.choice((0.2, 0.5, 1, 2, 3, 4, 6, 1.5, 30, 80))
        acceptor = rng.choice(("frontdesk", "frontdesk", "frontdesk", "frontdesk2", "frontdesk3"))
        app.update(id=app_id, app_no=app_no, customer_name=name, created_at=created, created_by=acceptor,
                   updated_at=_shift(app["updated_at"], delta), completed_at=_shift(app["completed_at"], delta),
                   first_contact_at=created - timedelta(hours=lag_hours))
        items = []
        for item in template.items:
            row = dict(item)
            row.update(id=new_id(item["id"]), application_id=app_id, app_no=app_no, customer_name=name)
            for column in ("created_at", "completed_at", "due_at", "claimed_at", "warned_at", "escalated_at"):
                row[column] = _shift(row[column], delta)
            items.append(row)
        if not full:
            app.update(wf_meta="{}", audit_seq=0, audit_head="")
            return app, items, [], [], []
        self.full_made += 1
        old_no, old_name = template.app["app_no"], template.app["customer_name"]

        def rewrite(payload: str) -> str:
            payload = UUID_RE.sub(lambda m: new_id(m.group(0)), payload)
            return payload.replace(old_no, app_no).replace(old_name, name) if old_name else payload.replace(old_no, app_no)

        for doc in template.documents:
            new_id(doc["id"])
        tasks = [{**t, "application_id": app_id, "task_id": new_id(t["task_id"]), "payload": rewrite(t["payload"])}
                 for t in template.wf_tasks]
        events = []
        head = GENESIS
        for ev in template.events:
            at = ev["at"] + delta
            payload = rewrite(ev["payload"])
            task_id = new_id(ev["task_id"]) if ev["task_id"] else None
            digest = event_hash(head, ev["seq"], at, ev["actor"], ev["kind"], ev["node_id"], task_id, payload)
            events.append({**ev, "id": self.next_event_id, "application_id": app_id, "at": at, "task_id": task_id,
                           "payload": payload, "prev_hash": head, "hash": digest})
            self.next_event_id += 1
            head = digest
        docs = [{**d, "id": new_id(d["id"]), "application_id": app_id, "created_at": d["created_at"] + delta}
                for d in template.documents]
        app.update(wf_meta=rewrite(app["wf_meta"]), audit_head=head if events else "", audit_seq=len(events))
        return app, items, tasks, events, docs


# ----------------------------------------------------------------------------- writing


class BulkWriter:
    """Appends rows to tables as fast as the database allows: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.store.sa_engine.dialect.name
        self.tables = {t.name: t for t in (APPS, ITEMS, WF_TASKS, EVENTS, DOCUMENTS)}

    def write(self, buffers: dict[str, list[dict[str, Any]]]) -> None:
        """Write and commit one batch of rows (table name → rows), parents first."""
        with self.engine.store.sa_engine.begin() as conn:
            for name in BULK_TABLES:
                rows = buffers.get(name)
                if not rows:
                    continue
                table = self.tables[name]
                if self.dialect == "postgresql":
                    columns = [c.name for c in table.columns]
                    raw: Any = conn.connection.dbapi_connection  # psycopg's connection: COPY is not DB-API
                    assert raw is not None
                    with raw.cursor() as cur, cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row([row[c] for c in columns])
                else:
                    conn.execute(insert(table), rows)

    def drop_indexes(self) -> None:
        """Drop the secondary indexes of the bulk tables, first noting their definitions in PENDING_INDEXES
        (same transaction), so that an interrupted load can still rebuild them (restore_indexes)."""
        with self.engine.store.sa_engine.begin() as conn:
            if self.dialect == "postgresql":
                found = conn.execute(text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND tablename = ANY(:tables) AND indexname NOT IN (SELECT conname FROM pg_constraint)"),
                    {"tables": list(BULK_TABLES)}).all()
            else:
                found = conn.execute(text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                    "AND tbl_name IN ('applications', 'work_items', 'wf_tasks', 'audit_events', 'documents')")).all()
            PENDING_INDEXES.create(conn, checkfirst=True)
            if found:
                conn.execute(insert(PENDING_INDEXES), [{"name": name, "statement": sql} for name, sql in found])
            for name, _ in found:
                conn.execute(text(f'DROP INDEX "{name}"'))

    def restore_indexes(self, progress: Callable[[str], None] = print) -> int:
        """Create every index a load dropped (PENDING_INDEXES) and every index of the models that is missing
        (databases filled before the definitions were noted), one commit each, so an interrupted rebuild
        resumes; then fix identity sequences, vacuum (PostgreSQL) and refresh planner statistics. Returns the
        indexes built."""
        sa_engine = self.engine.store.sa_engine
        with sa_engine.begin() as conn:
            pending = (conn.execute(select(PENDING_INDEXES.c.name, PENDING_INDEXES.c.statement)).all()
                       if inspect(conn).has_table(PENDING_INDEXES.name) else [])
        built = 0
        for name, statement in pending:
            t0 = time.perf_counter()
            with sa_engine.begin() as conn:
                self._tune(conn)
                if name not in self._existing_indexes(conn):
                    conn.execute(text(statement))
                    built += 1
                    progress(f"  index {name} in {time.perf_counter() - t0:.1f} s")
                conn.execute(PENDING_INDEXES.delete().where(PENDING_INDEXES.c.name == name))
        for table in (APPS, ITEMS, WF_TASKS, EVENTS, DOCUMENTS):
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                t0 = time.perf_counter()
                with sa_engine.begin() as conn:
                    if index.name in self._existing_indexes(conn):
                        continue
                    self._tune(conn)
                    index.create(conn)
                built += 1
                progress(f"  index {index.name} (missing) in {time.perf_counter() - t0:.1f} s")
        with sa_engine.begin() as conn:
            PENDING_INDEXES.drop(conn, checkfirst=True)
            if self.dialect == "postgresql":
                for table_name in ("applications", "audit_events"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                                      f"(SELECT max(id) FROM {table_name}))"))
        if self.dialect == "postgresql":
            # Freshly copied pages are not marked all-visible until autovacuum reaches them, which at this
            # size takes a while; until then no count can be answered from an index alone.
            with sa_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f"VACUUM (ANALYZE) {', '.join(BULK_TABLES)}"))
        self.engine.optimize()
        return built

    def _existing_indexes(self, conn: Connection) -> set[str]:
        return {str(ix["name"]) for t in BULK_TABLES for ix in inspect(conn).get_indexes(t)}

    def _tune(self, conn: Connection) -> None:
        if self.dialect == "postgresql":  # sort in memory: builds on 7.7M work items take seconds, not minutes
            conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))


def populate(engine: Engine, plan: Plan, now: datetime, progress: Callable[[str], None] = print,
             batch: int = 5_000) -> dict[str, int]:
    """Generate the applications of ``plan`` into the engine's (initialised) database; return row counts."""
    t0 = time.perf_counter()
    templates = capture_templates(engine, now)
    progress(f"  {len(templates)} stage templates from the engine in {time.perf_counter() - t0:.1f} s")
    with engine.store.reading() as s:
        conn = s.connection()
        first_app = int(conn.execute(select(APPS.c.id).order_by(APPS.c.id.desc()).limit(1)).scalar() or 0) + 1
        first_event = int(conn.execute(select(EVENTS.c.id).order_by(EVENTS.c.id.desc()).limit(1)).scalar() or 0) + 1
    writer = BulkWriter(engine)
    writer.drop_indexes()
    cloner = Cloner(templates, plan, now, first_app, first_event)
    counts = dict.fromkeys(BULK_TABLES, 0)
    buffers: dict[str, list[dict[str, Any]]] = {name: [] for name in BULK_TABLES}
    t1 = time.perf_counter()
    for index in range(plan.applications):
        app, items, tasks, events, docs = cloner.rows(index)
        buffers["applications"].append(app)
        buffers["work_items"].extend(items)
        buffers["wf_tasks"].extend(tasks)
        buffers["audit_events"].extend(events)
        buffers["documents"].extend(docs)
        if (index + 1) % batch == 0 or index + 1 == plan.applications:
            writer.write(buffers)
            for name, rows in buffers.items():
                counts[name] += len(rows)
                rows.clear()
            if (index + 1) % (batch * 20) == 0:
                rate = (index + 1) / (time.perf_counter() - t1)
                progress(f"  {index + 1:,} applications ({rate:,.0f}/s)")
    t2 = time.perf_counter()
    progress(f"  rows written in {t2 - t1:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    writer.restore_indexes(progress)
    progress(f"  indexes rebuilt and statistics refreshed in {time.perf_counter() - t2:.1f} s")
    t3 = time.perf_counter()
    engine.backfill_figures(progress, recount=True)  # the clones bypassed the steps that keep the figures
    progress(f"  supervision figures counted in {time.perf_counter() - t3:.1f} s")
    return counts


__all__ = ["BulkWriter", "Cloner", "Plan", "Template", "capture_templates", "customer_name", "populate"]
