"""The case file: an application with its data, open tasks, history and documents; searching applications;
the diagram with the path taken."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from ..definitions.versions import Definitions
from ..kernel.codec import StateCodec
from ..kernel.forms import FormDefinition
from ..kernel.runtime import COMPLETED, trace
from ..results import ApplicationInfo, ApplicationPage, DiagramTrace, HistoryEntry, TaskInfo
from ..store import Store
from ..store.namesearch import name_contains
from ..store.tables import APPS, DOCUMENTS, EVENTS, ITEMS, VERSIONS, WF_TASKS
from ..vocabulary import TaskStatus
from .documents import doc_info
from .rows import app_by_number, find_item, task_info
from .steps import Steps


class Records:
    """Reading applications and tasks (nothing here writes)."""

    def __init__(self, store: Store, definitions: Definitions, steps: Steps) -> None:
        self.store, self.definitions, self.steps = store, definitions, steps

    def task(self, task_id: str) -> TaskInfo:
        """One task row (by id or a unique prefix)."""
        with self.store.read() as conn:
            return task_info(find_item(conn, task_id))

    def task_form(self, task_id: str) -> FormDefinition | None:
        """The form of a user task."""
        with self.store.read() as conn:
            item = find_item(conn, task_id)
            version_id = conn.execute(select(APPS.c.version_id)
                                      .where(APPS.c.id == item["application_id"])).scalar_one()
            return self.definitions.diagram(conn, version_id).form_for(item["node_id"])

    def application(self, app_no: str) -> ApplicationInfo:
        """An application with its data, open tasks, history and documents."""
        with self.store.read() as conn:
            app = conn.execute(select(APPS, VERSIONS.c.version).join(VERSIONS, VERSIONS.c.id == APPS.c.version_id)
                               .where(APPS.c.app_no == app_no.strip())).one_or_none()
            if app is None:
                app_by_number(conn, app_no)  # raises NotFound naming the number
            assert app is not None
            meta = json.loads(app.wf_meta)
            data = current_data(conn, app.id, meta)
            items = conn.execute(select(ITEMS).where(ITEMS.c.application_id == app.id,
                                                     ITEMS.c.status == TaskStatus.READY)).all()
            history = conn.execute(select(EVENTS).where(EVENTS.c.application_id == app.id)
                                   .order_by(EVENTS.c.seq)).all()
            docs = conn.execute(select(DOCUMENTS).where(DOCUMENTS.c.application_id == app.id)
                                .order_by(DOCUMENTS.c.created_at, DOCUMENTS.c.filename)).all()
        completed = tuple(name for name, count in meta.get("loop_counts", {}).items() if count)
        return ApplicationInfo(
            app_no=app.app_no, process_key=app.process_key, version=app.version, status=app.status,
            customer_name=app.customer_name, customer_type=app.customer_type, created_by=app.created_by,
            created_at=app.created_at, updated_at=app.updated_at, completed_at=app.completed_at,
            error_message=app.error_message, data=data, open_tasks=tuple(task_info(i) for i in items),
            history=tuple(HistoryEntry(e.seq, e.at, e.actor, e.kind, e.node_id, json.loads(e.payload), e.task_id)
                          for e in history),
            documents=tuple(doc_info(d) for d in docs), completed_nodes=completed,
            status_reason=app.status_reason, status_changed_at=app.status_changed_at,
            status_changed_by=app.status_changed_by,
        )

    def applications(self, *, status: str | None = None, limit: int = 50) -> list[ApplicationInfo]:
        """Recent applications (summary only: no data, history or documents)."""
        cond = application_conditions(status=status)
        with self.store.read() as conn:
            rows = conn.execute(select(APPS, VERSIONS.c.version).join(VERSIONS, VERSIONS.c.id == APPS.c.version_id)
                                .where(*cond).order_by(APPS.c.created_at.desc(), APPS.c.id.desc())
                                .limit(limit)).all()
        return [_summary(r) for r in rows]

    def search(self, *, app_no: str | None = None, customer: str | None = None, process_key: str | None = None,
               status: str | None = None, created_from: date | None = None, created_to: date | None = None,
               actor: str | None = None, page: int = 1, per_page: int = 20) -> ApplicationPage:
        """Applications by number prefix, customer (contains), variant, status, acceptance date and who acted
        on them (any audit event by that user), newest first."""
        page, per_page = max(1, page), min(max(1, per_page), 200)
        cond: list[Any] = []
        if app_no and app_no.strip():
            prefix = app_no.strip().upper()
            cond += [APPS.c.app_no >= prefix, APPS.c.app_no < prefix + "~"]
        if customer and customer.strip():
            cond.append(name_contains(APPS.c.customer_name, customer.strip(), self.store.sa_engine.dialect.name))
        cond += application_conditions(process_key=process_key, status=status, created_from=created_from,
                                       created_to=created_to)
        if actor and actor.strip():
            cond.append(APPS.c.id.in_(select(EVENTS.c.application_id).where(EVENTS.c.actor == actor.strip())))
        with self.store.read() as conn:
            total = conn.execute(select(func.count()).select_from(APPS).where(*cond)).scalar_one()
            rows = conn.execute(
                select(APPS, VERSIONS.c.version).join(VERSIONS, VERSIONS.c.id == APPS.c.version_id).where(*cond)
                .order_by(APPS.c.created_at.desc(), APPS.c.id.desc()).limit(per_page).offset((page - 1) * per_page)
            ).all()
        return ApplicationPage(tuple(_summary(r) for r in rows), int(total), page, per_page)

    def forms(self, app_no: str) -> tuple[FormDefinition | None, Mapping[str, FormDefinition]]:
        """The acceptance form and every node's form of the version an application runs on (by node id)."""
        with self.store.read() as conn:
            app = app_by_number(conn, app_no)
            diagram = self.definitions.diagram(conn, app.version_id)
        start = diagram.forms.get(diagram.start_form) if diagram.start_form else None
        by_node = {node_id: diagram.forms[n.form] for node_id, n in diagram.nodes.items()
                   if n.form and n.form in diagram.forms and n.kind != "startEvent"}
        return start, by_node

    def xml(self, app_no: str) -> str:
        """The BPMN XML of the version an application runs on (no workflow is loaded)."""
        with self.store.read() as conn:
            app = app_by_number(conn, app_no)
            return self.definitions.diagram(conn, app.version_id).xml.decode("utf-8")

    def trace(self, app_no: str) -> DiagramTrace:
        """The diagram of an application's version with its completed and active nodes and the flows taken."""
        with self.store.read() as conn:
            app = app_by_number(conn, app_no)
            diagram = self.definitions.diagram(conn, app.version_id)
            wf = self.steps.load(conn, app, diagram).wf
        completed, active, flows = trace(wf, diagram)
        return DiagramTrace(diagram.xml.decode("utf-8"), completed, active, flows)

    def stored_state(self, app_no: str) -> dict[str, Any]:
        """The workflow as stored (SpiffWorkflow's dict form, spec excluded): for checks and replay."""
        with self.store.read() as conn:
            app = app_by_number(conn, app_no)
            live = self.steps.load(conn, app, self.definitions.diagram(conn, app.version_id))
            return self.steps.codec.full_dict(live.wf)

    def cached_state(self, app_no: str) -> dict[str, Any] | None:
        """The in-memory workflow of an application in the same dict form, if cached."""
        with self.store.read() as conn:
            app_id = app_by_number(conn, app_no).id
        return self.steps.cached_state(app_id)


def current_data(conn: Connection, app_id: int, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The data of the most recently completed task: the application's data as it stands.

    A workflow migrated before the migration kept its last task has none recorded: the most recently
    completed task stands for it."""
    rows = conn.execute(select(WF_TASKS.c.task_id, WF_TASKS.c.seq, WF_TASKS.c.payload)
                        .where(WF_TASKS.c.application_id == app_id).order_by(WF_TASKS.c.seq)).all()
    last = meta.get("last_task")
    if not last or not any(tid == last for tid, _, _ in rows):
        last = StateCodec.last_completed(rows)
        if last is None:
            return {}
    return StateCodec.data_of(rows, last)


def application_conditions(*, process_key: str | None = None, status: str | None = None,
                           created_from: date | None = None, created_to: date | None = None) -> list[Any]:
    """WHERE conditions on applications by variant, status and acceptance date (both days inclusive)."""
    cond: list[Any] = []
    if process_key:
        cond.append(APPS.c.process_key == process_key)
    if status:
        cond.append(APPS.c.status == status)
    if created_from:
        cond.append(APPS.c.created_at >= datetime.combine(created_from, time.min))
    if created_to:
        cond.append(APPS.c.created_at < datetime.combine(created_to + timedelta(days=1), time.min))
    return cond


def _summary(r: Any) -> ApplicationInfo:
    """An ApplicationInfo without data, history or documents, from an applications row joined to its version."""
    return ApplicationInfo(app_no=r.app_no, process_key=r.process_key, version=r.version, status=r.status,
                           customer_name=r.customer_name, customer_type=r.customer_type, created_by=r.created_by,
                           created_at=r.created_at, updated_at=r.updated_at, completed_at=r.completed_at,
                           error_message=r.error_message, data={})
