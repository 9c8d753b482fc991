"""Moving running applications to a newer version of their process, only where no work is lost or repeated.

A plan says, per application, whether it can move and why (checked on its stored workflow, nothing
changed); migrating does the safe ones, each in its own transaction and checked again at that moment.
The check itself (what SpiffWorkflow's diff says of the workflow) is the kernel's
(:mod:`engine.kernel.statemigration`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ..casework import audit
from ..casework.audit import PendingEvent
from ..casework.rows import APP_COLUMNS, AppRow, app_row
from ..casework.steps import Live, Steps
from ..definitions.versions import Definitions
from ..errors import Conflict, InvalidInput, NotFound
from ..kernel.statemigration import Outcome, assess, mapping_problems
from ..kernel.transitions import record_moves
from ..results import InstanceVerdict, MigrationPlan, MigrationResult
from ..store import Store
from ..store.tables import APPS, ITEMS, WF_TASKS
from ..vocabulary import APP_STATUS_NAMES, ENDED, AppStatus, EventKind, TaskStatus


class Migrations:
    """Migration plans and migrations (the caller checked who may)."""

    def __init__(self, store: Store, definitions: Definitions, steps: Steps, clock: Callable[[], datetime]) -> None:
        self.store, self.definitions, self.steps, self.clock = store, definitions, steps, clock

    def plan(self, process_key: str, to_version: int, app_nos: Iterable[str] | None = None,
             status: str = AppStatus.RUNNING, mapping: Mapping[str, str] | None = None) -> MigrationPlan:
        """Whether each application of a process on an older version (all with that status, or the given ones)
        could move to ``to_version`` without losing or repeating work, with the node ``mapping`` (old node id
        → new node id) if given; nothing is changed. A mapping that does not fit the versions is refused
        (InvalidInput naming every problem) before any application is looked at."""
        wanted = None if app_nos is None else list(dict.fromkeys(a.strip() for a in app_nos if a.strip()))
        mapping = {k.strip(): v.strip() for k, v in (mapping or {}).items() if k.strip()}
        if status in ENDED:
            raise InvalidInput(f"{APP_STATUS_NAMES[status]}的申请已不再办理，不迁移")
        with self.store.read() as conn:
            target = self.definitions.version_row(conn, process_key, to_version)
            numbers = self.definitions.version_numbers(conn, process_key)
            cond = [APPS.c.process_key == process_key]
            if wanted is None:
                cond += [APPS.c.status == status,
                         APPS.c.version_id.in_([vid for vid, number in numbers.items() if number < to_version])]
            else:
                cond.append(APPS.c.app_no.in_(wanted))
            apps = {row.app_no: row for row in
                    (AppRow(*r) for r in conn.execute(select(*APP_COLUMNS).where(*cond).order_by(APPS.c.id)))}
            missing = [a for a in wanted or () if a not in apps]
            if missing:
                raise NotFound(f"流程 {process_key} 没有这些申请：{'、'.join(missing)}")
            if mapping:
                self._validate_mapping(conn, process_key, target, numbers, mapping,
                                       {a.version_id for a in apps.values()})
            order = wanted if wanted is not None else list(apps)
            verdicts = tuple(self._check(conn, apps[a], target, numbers, status, mapping)[0] for a in order)
        return MigrationPlan(process_key, to_version, verdicts, mapping)

    def _validate_mapping(self, conn: Connection, process_key: str, target: Any, numbers: Mapping[int, int],
                          mapping: Mapping[str, str], version_ids: Iterable[int]) -> None:
        """Refuse a mapping whose nodes do not exist, still exist, or differ in kind (every problem at once)."""
        new = self.definitions.diagram(conn, target.id)
        olds = {vid: self.definitions.diagram(conn, vid) for vid in version_ids if numbers[vid] < target.version}
        if not olds:  # nothing to migrate: check against the newest older version, so mistakes still show
            older = [vid for vid, n in numbers.items() if n < target.version]
            if older:
                newest_older = max(older, key=numbers.__getitem__)
                olds = {newest_older: self.definitions.diagram(conn, newest_older)}
        problems: list[str] = []
        for source, goal in mapping.items():
            holders = [d for d in olds.values() if source in d.nodes]
            if not holders:
                problems.append(f"映射的原环节「{source}」不在要迁移的申请所在版本的流程图中")
                continue
            for old in holders:
                problems += mapping_problems(old, new, target.version, {source: goal})
        if problems:
            raise InvalidInput("节点映射有误：" + "；".join(dict.fromkeys(problems)))

    def migrate(self, plan: MigrationPlan, by: str,
                progress: Callable[[int, int], None] | None = None) -> MigrationResult:
        """Move the safe applications of a plan to its version, each in its own transaction and checked again
        against its state at that moment; the unsafe ones stay and finish on their version."""
        migrated: list[str] = []
        skipped: list[InstanceVerdict] = []
        total = len(plan.verdicts)
        for done, verdict in enumerate(plan.verdicts, 1):
            if verdict.safe:
                fresh = self._migrate_one(plan.process_key, plan.to_version, verdict.app_no, by, plan.mapping)
                if fresh is None:
                    migrated.append(verdict.app_no)
                else:
                    skipped.append(fresh)
            else:
                skipped.append(verdict)
            if progress is not None:
                progress(done, total)
        return MigrationResult(tuple(migrated), tuple(skipped))

    def _migrate_one(self, process_key: str, to_version: int, app_no: str, by: str,
                     mapping: Mapping[str, str]) -> InstanceVerdict | None:
        """Migrate one application; None when done, else the verdict that stopped it."""
        with self.store.begin() as conn:
            app = app_row(conn, APPS.c.app_no == app_no, lock=True)
            target = self.definitions.version_row(conn, process_key, to_version)
            verdict, live, outcome = self._check(conn, app, target, self.definitions.version_numbers(conn, process_key),
                                                 AppStatus.RUNNING, mapping)
            if not verdict.safe or live is None or outcome is None or outcome.rows is None:
                return verdict
            now = self.clock()
            codec = self.steps.codec
            transitions = codec.changes(live.wf, live.snapshot, full=True).transitions
            conn.execute(delete(WF_TASKS).where(WF_TASKS.c.application_id == app.id))
            conn.execute(insert(WF_TASKS), [{"application_id": app.id, "task_id": tid, "seq": seq, "payload": payload}
                                            for tid, seq, payload in outcome.rows])
            used = {source: goal for source, goal in mapping.items() if source in verdict.waiting_at}
            new = self.definitions.diagram(conn, target.id)
            for source, goal in used.items():  # the open work items follow their task to the new node
                node = new.nodes[goal]
                conn.execute(update(ITEMS).where(ITEMS.c.application_id == app.id, ITEMS.c.node_id == source,
                                                 ITEMS.c.status == TaskStatus.READY)
                             .values(node_id=goal, node_name=node.name, role=node.role or "", form=node.form or ""))
            payload: dict[str, Any] = {"from_version": verdict.from_version, "to_version": to_version, "by": by}
            if used:
                payload["mapping"] = used
            events = [PendingEvent(EventKind.APPLICATION_MIGRATED, by, now, {**payload, **record_moves(transitions)})]
            audit.append(conn, app, events)
            changed = conn.execute(update(APPS).where(APPS.c.id == app.id, APPS.c.revision == app.revision).values(
                version_id=target.id, wf_meta=codec.dump_meta(live.wf, {"loop_counts": live.counts}),
                revision=app.revision + 1, audit_seq=app.audit_seq, audit_head=app.audit_head,
                updated_at=now)).rowcount
            if changed != 1:
                raise Conflict(f"申请 {app_no} 已被他人同时修改，请重新生成迁移计划")
        self.steps.forget(app.id)
        return None

    def _check(self, conn: Connection, app: AppRow, target: Any, numbers: Mapping[int, int],
               status: str, mapping: Mapping[str, str] | None = None
               ) -> tuple[InstanceVerdict, Live | None, Outcome | None]:
        """The verdict on one application; when safe, also its workflow (migrated in memory) and the outcome."""
        from_version = numbers[app.version_id]
        if from_version >= target.version:
            return InstanceVerdict(app.app_no, from_version, False,
                                   f"已在第 {from_version} 版，不能迁移到第 {target.version} 版", ()), None, None
        if app.status != status:
            return InstanceVerdict(app.app_no, from_version, False,
                                   f"申请状态为「{APP_STATUS_NAMES.get(app.status, app.status)}」，"
                                   f"只迁移状态为「{APP_STATUS_NAMES.get(status, status)}」的申请", ()), None, None
        old, new = self.definitions.diagram(conn, app.version_id), self.definitions.diagram(conn, target.id)
        live = self.steps.load(conn, app, old)
        usable = {k: v for k, v in (mapping or {}).items() if k in old.nodes and k not in new.nodes}
        outcome = assess(self.steps.codec, live.wf, old, new, target.version, live.counts, usable)
        verdict = InstanceVerdict(app.app_no, from_version, outcome.safe, outcome.reason, outcome.waiting_at)
        return verdict, (live if outcome.safe else None), outcome
