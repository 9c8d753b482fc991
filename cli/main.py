"""The ``baozhuang`` command: set up, deploy, and drive applications from a terminal.

Every command prints a clear message and exits 1 on bad input; never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import asdict
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, NoReturn

import click

from engine import APP_STATUS_NAMES, BaozhuangError, CaseAction, DiagramRejected, Engine, EventKind
from engine import FormValidationError, SHIPPED, StepResult, TaskInfo, load_config
from cli.demo import DEMO_PASSWORD, DEMO_USERS, DemoClock, create_demo_users, run_demo, stage_customer_side
from engine import appointment_from_form


def _fail(message: str) -> NoReturn:
    click.echo(f"错误：{message}", err=True)
    sys.exit(1)


def _engine(ctx: click.Context) -> Engine:
    engine = ctx.obj.get("engine")
    if engine is None:
        overrides: dict[str, Any] = {}
        if ctx.obj.get("db"):
            overrides["database_url"] = ctx.obj["db"]
        if ctx.obj.get("documents"):
            overrides["documents_dir"] = ctx.obj["documents"]
        engine = Engine(load_config(overrides))
        ctx.obj["engine"] = engine
        ctx.call_on_close(engine.dispose)
    return engine


def _read_json(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"无法读取数据文件 {path}：{exc.strerror}")
    except UnicodeDecodeError:
        _fail(f"数据文件 {path} 不是 UTF-8 编码的文本")
    try:
        data = json.loads(text)
    except ValueError as exc:
        _fail(f"数据文件 {path} 不是有效的 JSON：{exc}")
    except RecursionError:
        _fail(f"数据文件 {path} 的 JSON 嵌套层数过深")
    if not isinstance(data, dict):
        _fail(f"数据文件 {path} 必须是一个 JSON 对象")
    return data


def _print_task(t: TaskInfo) -> None:
    who = t.claimed_by or t.assignee or "-"
    click.echo(f"  {t.id}  {t.app_no}  {t.node_name}（{t.node_id}）  角色 {t.role}  处理人 {who}  {t.customer_name}")


def _print_step(result: StepResult) -> None:
    click.echo(f"申请 {result.app_no}：状态 {result.status}")
    if result.error_message:
        click.echo(f"  异常：{result.error_message}")
    if result.ready_tasks:
        click.echo("待办任务：")
        for t in result.ready_tasks:
            _print_task(t)


class Cli(click.Group):
    """Translates our errors into messages and exit code 1 at the command-line boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DiagramRejected as exc:
            click.echo(f"拒绝：{exc.message}", err=True)
            for reason in exc.reasons:
                click.echo(f"  - {reason}", err=True)
            sys.exit(1)
        except FormValidationError as exc:
            click.echo(f"错误：{exc.message}", err=True)
            for field, message in exc.field_errors.items():
                click.echo(f"  - {field}: {message}", err=True)
            sys.exit(1)
        except BaozhuangError as exc:
            _fail(exc.message)


@click.group(cls=Cli)
@click.option("--db", envvar="BAOZHUANG_DATABASE_URL", help="数据库 URL（默认 instance/ 下的 SQLite）")
@click.option("--documents", envvar="BAOZHUANG_DOCUMENTS_DIR", help="合同等文件的存放目录（默认 instance/documents）")
@click.pass_context
def main(ctx: click.Context, db: str | None, documents: str | None) -> None:
    """业扩报装 baozhuang：流程部署、受理和办理。"""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db
    ctx.obj["documents"] = documents


@main.command()
@click.option("--no-demo-users", is_flag=True, help="不创建演示用户")
@click.pass_context
def init(ctx: click.Context, no_demo_users: bool) -> None:
    """Create/upgrade the database, deploy the shipped processes, create demo users."""
    engine = _engine(ctx)
    engine.init_schema()
    deployed = engine.deploy_shipped()
    for v in deployed:
        click.echo(f"已部署 {v.process_key} 第 {v.version} 版（{v.name}）")
    if not deployed:
        click.echo("流程已是最新版本，无需部署")
    if not no_demo_users:
        created = create_demo_users(engine)
        if created:
            click.echo(f"已创建演示用户 {len(created)} 个（密码 {DEMO_PASSWORD}）：{'、'.join(created)}")
        else:
            click.echo("演示用户已存在，无需创建")
    click.echo(f"数据库：{engine.config.database_url}")


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...]) -> None:
    """Check diagrams against the deploy-time gate; exit 1 if any is rejected."""
    engine = _engine(ctx)
    bad = 0
    for name in files:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            click.echo(f"✗ {name}：无法读取（{exc.strerror}）")
            bad += 1
            continue
        forms_dir = Path(name).resolve().parent / "forms"
        try:
            diagram = engine.validate(data, Path(name).name, forms_dir if forms_dir.is_dir() else None)
        except DiagramRejected as exc:
            bad += 1
            click.echo(f"✗ {name}：{len(exc.reasons)} 个问题")
            for reason in exc.reasons:
                click.echo(f"    - {reason}")
            continue
        click.echo(f"✓ {name}：流程 {diagram.process_id}（{diagram.name}），{len(diagram.nodes)} 个节点")
    sys.exit(1 if bad else 0)


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--comment", default="", help="版本说明")
@click.option("--as", "user", required=True, help="部署人（流程分析员的用户名）")
@click.pass_context
def deploy(ctx: click.Context, files: tuple[str, ...], comment: str, user: str) -> None:
    """Validate and deploy diagrams as new versions; nothing is deployed if any is rejected."""
    engine = _engine(ctx)
    payloads = []
    for name in files:
        try:
            payloads.append((name, Path(name).read_bytes()))
        except OSError as exc:
            _fail(f"无法读取 {name}：{exc.strerror}")
    rejected = 0
    for name, data in payloads:
        forms_dir = Path(name).resolve().parent / "forms"
        try:
            engine.validate(data, Path(name).name, forms_dir if forms_dir.is_dir() else None)
        except DiagramRejected as exc:
            rejected += 1
            click.echo(f"✗ {name}：{len(exc.reasons)} 个问题", err=True)
            for reason in exc.reasons:
                click.echo(f"    - {reason}", err=True)
    if rejected:
        _fail(f"{rejected} 个文件未通过校验，未部署任何文件")
    for name, data in payloads:
        forms_dir = Path(name).resolve().parent / "forms"
        v = engine.deploy(data, Path(name).name, user, comment, forms_dir if forms_dir.is_dir() else None)
        click.echo(f"已部署 {v.process_key} 第 {v.version} 版（sha256 {v.sha256[:12]}）")


@main.command()
@click.argument("process", type=click.Choice(SHIPPED))
@click.option("--data", "data_file", required=True, help="受理表单数据（JSON 文件）")
@click.option("--as", "user", default="frontdesk", show_default=True, help="受理人")
@click.pass_context
def start(ctx: click.Context, process: str, data_file: str, user: str) -> None:
    """Accept a new application (受理)."""
    _print_step(_engine(ctx).start(process, _read_json(data_file), user))


@main.command()
@click.argument("process", type=click.Choice(SHIPPED))
@click.argument("node", required=False)
@click.option("--path", "path_key", help="取哪条示例路径（processes/paths.json 的 key；默认该流程的第一条经过 NODE 的路径）")
@click.pass_context
def example(ctx: click.Context, process: str, node: str | None, path_key: str | None) -> None:
    """Print example form data as JSON: PROCESS's acceptance data, or what is submitted at NODE (from the example
    paths in processes/paths.json), ready for `start --data` or `complete --data`."""
    from cli.demo import load_scenarios

    engine = _engine(ctx)
    scenarios = [s for s in load_scenarios(engine.config.processes_dir / "paths.json")
                 if s.process == process and (path_key is None or s.name == path_key)]
    for scenario in scenarios:
        data = scenario.start if node is None else next((st.data for st in scenario.steps if st.node == node), None)
        if data is not None:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
    where = f"路径 {path_key}" if path_key else f"流程 {process} 的示例路径"
    _fail(f"{where}中没有{'环节 ' + node + ' ' if node else '受理数据'}的示例（见 processes/paths.json）")


@main.command()
@click.option("--role", help="按角色筛选")
@click.option("--user", help="某人可办的任务（指派给他、他认领的、或他角色下未认领的）")
@click.option("--status", default="ready", show_default=True, type=click.Choice(["ready", "completed", "cancelled"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def tasks(ctx: click.Context, role: str | None, user: str | None, status: str, limit: int) -> None:
    """List tasks."""
    rows = _engine(ctx).tasks(role=role, user=user, status=status, limit=limit)
    click.echo(f"共 {len(rows)} 个任务")
    for t in rows:
        _print_task(t)


@main.command()
@click.argument("task_id")
@click.option("--as", "user", required=True, help="认领人")
@click.pass_context
def claim(ctx: click.Context, task_id: str, user: str) -> None:
    """Claim a task."""
    t = _engine(ctx).claim(task_id, user)
    click.echo(f"{user} 已认领任务 {t.node_name}（申请 {t.app_no}）")


@main.command()
@click.argument("task_id")
@click.option("--as", "user", required=True, help="办理人")
@click.option("--data", "data_file", required=True, help="表单数据（JSON 文件）")
@click.pass_context
def complete(ctx: click.Context, task_id: str, user: str, data_file: str) -> None:
    """Complete a task with form data."""
    _print_step(_engine(ctx).complete(task_id, user, _read_json(data_file)))


@main.command()
@click.argument("app_no")
@click.pass_context
def show(ctx: click.Context, app_no: str) -> None:
    """Show an application: status, open tasks, data, documents, history."""
    engine = _engine(ctx)
    app = engine.application(app_no)
    click.echo(f"申请 {app.app_no}  {app.customer_name}  流程 {app.process_key} 第 {app.version} 版  "
               f"状态 {APP_STATUS_NAMES.get(app.status, app.status)}")
    if app.status_reason and app.status in ("suspended", "withdrawn", "terminated"):
        click.echo(f"原因：{app.status_reason}（{app.status_changed_by}，{app.status_changed_at:%Y-%m-%d %H:%M}）")
    if app.error_message:
        click.echo(f"异常：{app.error_message}")
    click.echo("待办：" if app.open_tasks else "待办：无")
    for t in app.open_tasks:
        _print_task(t)
    click.echo("数据：")
    for key, value in sorted(app.data.items()):
        click.echo(f"  {key} = {json.dumps(value, ensure_ascii=False)}")
    if app.documents:
        click.echo("文件：")
        for d in app.documents:
            click.echo(f"  {d.id}  {d.filename}  {d.size} 字节  sha256 {d.sha256[:12]}")
    click.echo("历史：")
    for e in app.history:
        if e.kind == EventKind.ENGINE_TRANSITIONS:
            continue
        click.echo(f"  #{e.seq} {e.at:%Y-%m-%d %H:%M:%S} {e.actor} {e.kind} {e.node_id or ''}")
    check = engine.verify_audit(app_no)
    click.echo(f"审计链：{'完整' if check.intact else '已损坏：第 %s 条，%s' % (check.first_bad_seq, check.problem)}")


@main.command()
@click.argument("app_no")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出（供其他程序读取）")
@click.pass_context
def clocks(ctx: click.Context, app_no: str, as_json: bool) -> None:
    """Show an application's policy clocks (时限): start, pauses, stop, working days used of the limit,
    deadline, status (running / paused / met / missed), provisional mark; and when the customer first applied."""
    report = _engine(ctx).clocks(app_no)
    if as_json:
        click.echo(json.dumps(_jsonable(asdict(report)), ensure_ascii=False, indent=2))
        return
    click.echo(f"申请 {report.app_no}  时限 {len(report.clocks)} 项（按规定口径：客户办理与暂停期间不计）")
    for c in report.clocks:
        limit = f"{c.limit} 个月" if c.kind == "validity" else f"已用 {_num(c.used_days)} / {_num(c.limit)} 个工作日"
        deadline = f"{c.deadline:%Y-%m-%d %H:%M}" if c.deadline else ("暂停中，恢复后顺延" if c.status == "paused" else "—")
        mark = "（暂定日历）" if c.provisional else ""
        stop = f"{c.stopped_at:%Y-%m-%d %H:%M}" if c.stopped_at else "未止算"
        click.echo(f"  {c.name}（{c.key}，第 {c.round} 轮）  {c.status}：{c.status_name}  {limit}")
        click.echo(f"    起算 {c.started_at:%Y-%m-%d %H:%M}  止算 {stop}  截止 {deadline}{mark}")
        for p in c.pauses:
            end = f"{p.end:%Y-%m-%d %H:%M}" if p.end else "至今"
            click.echo(f"    暂停 {p.start:%Y-%m-%d %H:%M} — {end}  {p.label}")
        if c.open and c.kind == "limit":
            if c.forecast_days is not None:
                risk = f"，超期风险 {c.risk * 100:.0f}%" if c.risk is not None else ""
                click.echo(f"    预计还需 {c.forecast_days:.1f} 个工作日{risk}（{c.forecast_basis}）")
            else:
                click.echo("    预计：暂无历史数据")
        if c.problem:
            click.echo(f"    问题：{c.problem}")
    fc = report.first_contact
    if fc.at is None:
        click.echo("客户首次申请：未记录")
    else:
        lag = f"，受理滞后 {fc.lag_days} 个工作日" if fc.lag_days is not None else ""
        click.echo(f"客户首次申请：{fc.at:%Y-%m-%d %H:%M}（{fc.source_name}）{lag}")


def _num(value: int | None) -> str:
    return "—" if value is None else str(value)


def _jsonable(value: Any) -> Any:
    """Dates as ISO 8601 text, everything else as JSON has it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@main.command()
@click.argument("app_no")
@click.option("--as", "user", required=True, help="操作人（已有的用户）")
@click.pass_context
def retry(ctx: click.Context, app_no: str, user: str) -> None:
    """Re-run the failed tasks of an application."""
    _print_step(_engine(ctx).retry(app_no, user))


# ----------------------------------------------------------------------------- the case lifecycle


def _print_case(done: CaseAction) -> None:
    click.echo(f"申请 {done.app_no}：{APP_STATUS_NAMES.get(done.status, done.status)}（{done.at:%Y-%m-%d %H:%M}，{done.by}）")
    if done.field is not None:
        click.echo(f"  更正「{done.field_title}」：{json.dumps(done.before, ensure_ascii=False)} → "
                   f"{json.dumps(done.after, ensure_ascii=False)}")
    if done.reason:
        click.echo(f"  原因：{done.reason}")


@main.command()
@click.argument("app_no")
@click.option("--reason", required=True, help="暂停原因（记入审计，客户可见）")
@click.option("--as", "user", required=True, help="操作人（客户经理或营销部）")
@click.pass_context
def suspend(ctx: click.Context, app_no: str, reason: str, user: str) -> None:
    """暂停: nothing moves until the case is resumed; its clocks pause."""
    _print_case(_engine(ctx).suspend(app_no, reason, by=user))


@main.command()
@click.argument("app_no")
@click.option("--reason", default="", help="恢复说明（可不填）")
@click.option("--as", "user", required=True, help="操作人（客户经理或营销部）")
@click.pass_context
def resume(ctx: click.Context, app_no: str, reason: str, user: str) -> None:
    """恢复 a suspended case to where it stood."""
    _print_case(_engine(ctx).resume(app_no, reason, by=user))


@main.command()
@click.argument("app_no")
@click.option("--reason", required=True, help="客户撤回申请的原因")
@click.option("--as", "user", required=True, help="操作人（受理员、客户经理或营销部）")
@click.pass_context
def withdraw(ctx: click.Context, app_no: str, reason: str, user: str) -> None:
    """撤销: the customer withdrew; open tasks and site jobs close."""
    _print_case(_engine(ctx).withdraw(app_no, reason, by=user))


@main.command()
@click.argument("app_no")
@click.option("--reason", required=True, help="终止原因")
@click.option("--as", "user", required=True, help="操作人（营销部）")
@click.pass_context
def terminate(ctx: click.Context, app_no: str, reason: str, user: str) -> None:
    """终止 a case with a reason; open tasks and site jobs close."""
    _print_case(_engine(ctx).terminate(app_no, reason, by=user))


@main.command()
@click.argument("app_no")
@click.option("--field", "field_name", help="要更正的字段（不给则列出可更正的字段）")
@click.option("--value", help="新值，按该字段的类型读取（数字、是/否 true/false、日期 2025-03-05 …）")
@click.option("--reason", default="", help="更正原因（必填）")
@click.option("--as", "user", help="操作人（营销部）")
@click.pass_context
def correct(ctx: click.Context, app_no: str, field_name: str | None, value: str | None, reason: str,
            user: str | None) -> None:
    """更正 one recorded value (audited with before and after); without --field, list what may be corrected."""
    engine = _engine(ctx)
    fields = engine.correctable_fields(app_no)
    if not field_name:
        click.echo(f"申请 {app_no} 可更正的字段：")
        for f in fields:
            click.echo(f"  {f.name}  {f.title}（{f.step}）= {json.dumps(f.value, ensure_ascii=False)}")
        return
    if value is None or not user:
        _fail("更正需要 --value、--reason 和 --as")
    chosen = next((f for f in fields if f.name == field_name), None)
    typed: Any = value
    if chosen is not None:
        from werkzeug.datastructures import MultiDict

        from webui import formdata  # the web form's reading of typed text: one rule for both


        start, by_node = engine.application_forms(app_no)
        form = next(f for f in ([start] if start else []) + list(by_node.values()) if f.name == chosen.form)
        spec = next(f for f in formdata.fields_of(form) if f.name == field_name)
        if spec.is_list:
            items = MultiDict([(field_name, v) for v in value.split(",")])
        else:
            items = MultiDict([(field_name, value)])
        data, errors = formdata.parse([spec], items)
        if errors:
            _fail(errors[field_name])
        typed = data.get(field_name)
    _print_case(engine.correct(app_no, field_name, typed, reason, by=user))


@main.command()
@click.argument("doc_id")
@click.option("-o", "--output", "output", required=True, help="写入的文件")
@click.option("--pdf", is_flag=True, help="写出 HTML 合同的 PDF 版本（首次生成约需 1 秒）")
@click.option("--as", "user", default="system", show_default=True, help="操作人（记入审计）")
@click.pass_context
def document(ctx: click.Context, doc_id: str, output: str, pdf: bool, user: str) -> None:
    """Write a stored document (or, with --pdf, an HTML contract's PDF) to a file."""
    engine = _engine(ctx)
    info, content = engine.document_pdf(doc_id, user) if pdf else engine.document(doc_id)
    try:
        Path(output).write_bytes(content)
    except OSError as exc:
        _fail(f"无法写入 {output}：{exc.strerror or exc}")
    click.echo(f"已写出 {info.filename}（{info.media_type}，{len(content)} 字节，sha256 {info.sha256[:12]}）到 {output}")


@main.command()
@click.argument("count", type=click.IntRange(1, 100_000))
@click.option("--backdate-days", default=40, show_default=True, type=click.IntRange(0, 3650),
              help="演示数据从多少天前开始（各环节耗时分钟到数天，部分超期）；0 表示全部按当前时间")
@click.pass_context
def demo(ctx: click.Context, count: int, backdate_days: int) -> None:
    """Create COUNT demo applications across the three variants and all stages."""
    engine = _engine(ctx)
    create_demo_users(engine)
    if backdate_days:
        now = datetime.now()
        engine = Engine(engine.config, clock=DemoClock(now - timedelta(days=backdate_days), until=now))
        ctx.call_on_close(engine.dispose)
    made = run_demo(engine, count, progress=lambda i: click.echo(f"  已生成 {i}/{count}") if i % 50 == 0 else None)
    # today's calls and complaints, on the real clock: the demo's history ends where today begins
    stage_customer_side(_engine(ctx), [app_no for app_no, _, _ in made])
    click.echo(f"已生成演示申请 {len(made)} 个：")
    for app_no, status, where in made[:20]:
        click.echo(f"  {app_no}  {status}  {where}")
    if len(made) > 20:
        click.echo(f"  …… 其余 {len(made) - 20} 个")
    click.echo("演示用户（密码 %s）：%s" % (DEMO_PASSWORD, "、".join(u for u, *_ in DEMO_USERS)))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="端口")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64), help="工作线程数")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="工作进程数（共用一个端口；多进程时请使用 PostgreSQL）")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, threads: int, workers: int) -> None:
    """Serve the web UI with waitress (a production WSGI server; the Flask debugger is never on)."""
    from waitress import serve as waitress_serve

    from webui import create_app

    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    if workers == 1:
        app = create_app(engine=_engine(ctx))
        settle()
        click.echo(f"业扩报装网页已启动：http://{shown}:{port}/  （Ctrl-C 停止；演示用户密码 baozhuang）")
        waitress_serve(app, host=host, port=port, threads=threads, ident="baozhuang")
        return
    _engine(ctx).dispose()  # settings checked once, before any process starts
    _serve_forked(ctx, host, port, threads, workers,
                  f"业扩报装网页已启动（{workers} 个进程）：http://{shown}:{port}/  （Ctrl-C 停止；演示用户密码 baozhuang）")


def settle() -> None:
    """Move what start-up built (modules, table metadata, templates, the app) out of the garbage collector's
    way: it lives as long as the process, yet every full collection would walk it again — and a workflow
    loaded from the database (tasks and workflow refer to each other) leaves garbage only those collections
    free, so with a long history they came often and cost more than the load itself."""
    import gc

    gc.collect()
    gc.freeze()


def _serve_forked(ctx: click.Context, host: str, port: int, threads: int, workers: int, banner: str) -> None:
    """Several waitress processes accepting on one listening socket. Each builds its own app and engine after
    the fork (no connection is shared); they share nothing else, the database's revision checks and row
    locks keep concurrent steps consistent. SIGTERM or Ctrl-C stops them all."""
    import os
    import signal
    import socket

    from waitress import serve as waitress_serve

    from webui import create_app

    listener = socket.create_server((host, port), backlog=1024, reuse_port=False)
    # No process accepts before every process has built its app: otherwise the first one ready takes every
    # connection queued meanwhile, and keep-alive clients stay on it while the others idle.
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                os.close(ready_r)
                os.close(go_w)
                app = create_app(engine=_engine(ctx))
                settle()
                os.write(ready_w, b"r")
                os.close(ready_w)
                if os.read(go_r, 1):
                    waitress_serve(app, sockets=[listener], threads=threads, ident="baozhuang")
            finally:
                os._exit(0)
        children.append(pid)
    listener.close()
    os.close(ready_w)
    os.close(go_r)
    started = 0
    while started < workers and os.read(ready_r, 1):  # b"" when every child has gone
        started += 1
    os.write(go_w, b"g" * workers)
    os.close(ready_r)
    os.close(go_w)
    click.echo(banner)

    def stop(signum: int, frame: Any) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while children:  # when one process ends (stopped or crashed), stop the others too
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        if pid in children:
            children.remove(pid)
            stop(signal.SIGTERM, None)


@main.command("token")
@click.argument("username")
@click.option("--name", default="api", show_default=True, help="渠道名称，例如 网上国网、95598")
@click.option("--as", "by", required=True, help="签发人（系统管理员的用户名）")
@click.pass_context
def token(ctx: click.Context, username: str, name: str, by: str) -> None:
    """Issue an API token acting as USERNAME (shown once; only its hash is stored)."""
    value = _engine(ctx).create_api_token(username, name, by=by)
    click.echo(f"已为 {username}（{name}）签发 API 令牌，请妥善保存（只显示这一次）：")
    click.echo(value)


# ----------------------------------------------------------------------------- audit (稽查)


def _progress_printer(label: str) -> Callable[[int, int], None]:
    """Progress on stderr: about twenty lines however many applications, none for a handful."""

    def report(done: int, total: int) -> None:
        step = max(1, total // 20)
        if total >= 20 and (done % step == 0 or done == total):
            click.echo(f"{label} {done}/{total} 个申请", err=True)

    return report


@main.group()
def audit() -> None:
    """稽查：校验审计链、导出流程挖掘事件日志。"""


AS_AUDITOR = click.option("--as", "by", required=True, help="稽查人员（稽查或营销部的用户名）")


@audit.command("verify")
@click.argument("app_nos", nargs=-1)
@AS_AUDITOR
@click.pass_context
def audit_verify(ctx: click.Context, app_nos: tuple[str, ...], by: str) -> None:
    """Check the hash chain of every application (or of APP_NO...); exit 1 if any is broken."""
    verdicts = _engine(ctx).verify_all(app_nos or None, progress=_progress_printer("已校验"), by=by)
    checked = broken = 0
    for v in verdicts:
        checked += 1
        if v.intact:
            click.echo(f"{v.app_no}  完整（{v.events} 条事件）")
        else:
            broken += 1
            click.echo(f"{v.app_no}  已损坏：第 {v.first_bad_seq} 条事件：{v.problem}")
    click.echo(f"共校验 {checked} 个申请：完整 {checked - broken} 个，已损坏 {broken} 个")
    sys.exit(1 if broken else 0)


@audit.command("replay")
@click.argument("app_no")
@click.option("--rerun", is_flag=True, help="按今日规则重新调用处理器，看哪些决定会不同")
@click.option("--steps", "show_steps", is_flag=True, help="逐步列出")
@AS_AUDITOR
@click.pass_context
def audit_replay(ctx: click.Context, app_no: str, rerun: bool, show_steps: bool, by: str) -> None:
    """Re-execute APP_NO from its recorded inputs; print "verified" or the first step that diverges."""
    report = _engine(ctx).replay(app_no, "rerun" if rerun else "recorded", by=by)
    if show_steps:
        for step in report.steps:
            mark = "✓" if step.matches else "✗"
            click.echo(f"  {mark} 第 {step.index + 1} 步  #{step.event_seq}  {step.at:%Y-%m-%d %H:%M}  {step.actor}  "
                       f"{step.node_name or step.kind}")
    click.echo(f"{report.app_no}：{'verified' if report.verified else 'diverged'} — {report.message}")
    sys.exit(0 if report.verified else 1)


@audit.command("export")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "xes"]), help="CSV 或 XES（IEEE 1849-2016）")
@click.option("--app", "app_nos", multiple=True, help="只导出这些申请（可多次给出）")
@click.option("--process", "process_key", type=click.Choice(SHIPPED), help="只导出该流程")
@click.option("--status", type=click.Choice(["running", "completed", "error"]), help="只导出该状态的申请")
@click.option("--from", "created_from", type=click.DateTime(["%Y-%m-%d"]), help="受理日期起（含），YYYY-MM-DD")
@click.option("--to", "created_to", type=click.DateTime(["%Y-%m-%d"]), help="受理日期止（含），YYYY-MM-DD")
@click.option("-o", "--output", required=True, help="写入的文件")
@AS_AUDITOR
@click.pass_context
def audit_export(ctx: click.Context, fmt: str, app_nos: tuple[str, ...], process_key: str | None,
                 status: str | None, created_from: datetime | None, created_to: datetime | None, output: str,
                 by: str) -> None:
    """Write the event log of the matching applications for process mining (one trace per application)."""
    from engine import to_csv, to_xes

    counts = [0, 0]

    def progress(done: int, total: int) -> None:
        counts[:] = [done, total]
        report(done, total)

    report = _progress_printer("已导出")
    records = _engine(ctx).event_log(app_nos=app_nos or None, process_key=process_key, status=status,
                                     created_from=created_from.date() if created_from else None,
                                     created_to=created_to.date() if created_to else None, progress=progress,
                                     by=by)
    target = Path(output)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            for chunk in (to_csv(records) if fmt == "csv" else to_xes(records)):
                out.write(chunk)
        partial.replace(target)  # never leave a half-written log under the real name
    except OSError as exc:
        partial.unlink(missing_ok=True)
        _fail(f"无法写入 {output}：{exc.strerror or exc}")
    click.echo(f"已导出 {counts[0]} 个申请的事件日志（{fmt.upper()}）到 {output}")


# ----------------------------------------------------------------------------- time limits (办电时限)

WEEKDAYS = "一二三四五六日"
SOURCE_NAMES = {"entered": "管理员录入（已确认）", "chinesecalendar": "chinesecalendar（含调休）",
                "holidays": "holidays（仅法定节假日，调休未知）", "none": "无"}


def _print_sweep(engine: Engine) -> None:
    """One sweep of the time limits, and what it sent."""
    from engine import SweepResult

    result: SweepResult = engine.sweep_time_limits()
    stamp = f"{engine.now():%Y-%m-%d %H:%M:%S}"
    for notice in result.sent:
        kind = "预警" if notice.kind == "warning" else "超期"
        click.echo(f"{stamp}  {kind} → {notice.recipient}：{notice.message}")
    click.echo(f"{stamp}  时限巡检：预警 {result.warnings} 项时限，超期督办 {result.escalations} 项时限")


def _deliver_notices(engine: Engine) -> None:
    """Send the notices to customers that steps queued (acceptance, rectification, power on…)."""
    sent = engine.deliver_notices()
    stamp = f"{engine.now():%Y-%m-%d %H:%M:%S}"
    for notice in sent:
        click.echo(f"{stamp}  客户通知（{notice.event_name}）→ {notice.recipient}：{notice.app_no}")
    if sent:
        click.echo(f"{stamp}  客户通知：已发送 {len(sent)} 条")


def _refresh_dashboard(engine: Engine) -> None:
    """Precompute the supervision dashboard's default views when they are getting old (slow at scale), and
    check the kept open-task counts against the open work items now and then (repairing any that drifted)."""
    engine.supervision.refresh_snapshots()
    wrong = engine.supervision.reconcile_open_counts()
    if wrong:
        click.echo(f"{engine.now():%Y-%m-%d %H:%M:%S}  待办计数核对：修正了 {wrong} 项与待办任务不符的计数")


@main.command()
@click.option("--once", is_flag=True, help="只巡检一次")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="两次巡检之间的秒数")
@click.pass_context
def worker(ctx: click.Context, once: bool, interval: float) -> None:
    """Sweep the time limits in a loop: warn before a task's limit, escalate after it; send the customer
    notices steps queued (Ctrl-C stops)."""
    import signal
    import time

    engine = _engine(ctx)
    if once:
        _print_sweep(engine)
        _deliver_notices(engine)
        engine.refresh_forecasts()
        return

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # `kill` from scripts/run.sh stops it like Ctrl-C; and Ctrl-C stops it even when it was started with SIGINT
    # ignored (a background job of a script), as serve does.
    previous = signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, stop)
    click.echo(f"时限巡检已启动：每 {interval:g} 秒一次（Ctrl-C 停止）")
    try:
        while True:
            try:
                _print_sweep(engine)
                _deliver_notices(engine)
                _refresh_dashboard(engine)
                engine.refresh_forecasts()  # the task list sorts by the stored risk of missing a clock
            except (BaozhuangError, OSError) as exc:
                # Keep running: an administrator can fix the cause (import a calendar, restart a channel).
                click.echo(f"错误：{getattr(exc, 'message', exc)}", err=True)
            time.sleep(interval)
    except KeyboardInterrupt:
        click.echo("时限巡检已停止")
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


@main.command()
@click.pass_context
def sweep(ctx: click.Context) -> None:
    """Sweep the time limits once (the same as worker --once)."""
    _print_sweep(_engine(ctx))


@main.group()
def calendar() -> None:
    """工作日历：查看覆盖情况，录入国务院公布的放假安排。"""


@calendar.command("show")
@click.argument("year", type=click.IntRange(1900, 2300))
@click.pass_context
def calendar_show(ctx: click.Context, year: int) -> None:
    """Show which source covers YEAR, whether it is provisional, and its non-standard days."""
    engine = _engine(ctx)
    cal = engine.calendar()
    for status in cal.coverage(sorted({*(s.year for s in cal.coverage(today=engine.now().date())), year})):
        flag = "暂定（调休未确认）" if status.provisional else "已确认"
        click.echo(f"{status.year} 年：{SOURCE_NAMES.get(status.source, status.source)}，{flag}")
    status = cal.year_status(year)
    if status.source == "none":
        _fail(f"{year} 年没有任何日历来源：请在国务院公布放假安排后运行 baozhuang calendar import 文件.json")
    if status.provisional:
        click.echo(f"注意：{year} 年为暂定日历，周末一律按休息日计算；公布放假安排后请运行 baozhuang calendar import")
    days = cal.special_days(year)
    click.echo(f"{year} 年的节假日与调休（{len(days)} 天）：")
    for d in days:
        kind = "上班" if d.workday else "休息"
        click.echo(f"  {d.day.isoformat()}  周{WEEKDAYS[d.day.weekday()]}  {kind}  {d.name}")


@calendar.command("import")
@click.argument("file")
@click.option("--as", "--by", "by", required=True, help="录入人（系统管理员或营销部的用户名）")
@click.pass_context
def calendar_import(ctx: click.Context, file: str, by: str) -> None:
    """Enter a year's official schedule from FILE ({"year": 2027, "days": [{"date", "workday", "name"}]})."""
    schedule = _read_json(file)
    result = _engine(ctx).import_calendar(schedule, by)
    year, moved = result.status.year, result.moved
    click.echo(f"已录入 {year} 年放假安排 {result.days} 天（{by}）；{year} 年工作日历已确认")
    click.echo(f"已按新日历重算在办期限：{moved.clocks} 个时限、{moved.tasks} 个环节内部目标的截止时间改变，"
               f"涉及 {moved.applications} 件申请（已记入各申请的审计链）")


# ----------------------------------------------------------------------------- versions (版本差异与迁移)


@main.command("diff")
@click.argument("process", type=click.Choice(SHIPPED))
@click.argument("from_version", type=click.IntRange(1))
@click.argument("to_version", type=click.IntRange(1))
@click.option("--as", "by", required=True, help="查看人（流程分析员或营销部的用户名）")
@click.pass_context
def diff_versions(ctx: click.Context, process: str, from_version: int, to_version: int, by: str) -> None:
    """Show what changed in PROCESS from version FROM_VERSION to TO_VERSION."""
    diff = _engine(ctx).version_diff(process, from_version, to_version, by=by)
    click.echo(f"流程 {process} 第 {from_version} 版 → 第 {to_version} 版：删除 {len(diff.removed)} 个节点，"
               f"新增 {len(diff.added)} 个，改动 {len(diff.changed)} 个，顺序流变化 {len(diff.rerouted)} 处")
    for sentence in diff.summary:
        click.echo(f"  {sentence}")


@main.command("migrate")
@click.argument("process", type=click.Choice(SHIPPED))
@click.option("--to", "to_version", required=True, type=click.IntRange(1), help="迁移到的版本号")
@click.option("--app", "app_nos", multiple=True, help="只迁移这些申请（可多次给出；默认为较旧版本上所有办理中的申请）")
@click.option("--dry-run", is_flag=True, help="只判断能否迁移，不做任何改动")
@click.option("--as", "user", required=True, help="操作人（流程分析员的用户名，记入审计）")
@click.pass_context
def migrate(ctx: click.Context, process: str, to_version: int, app_nos: tuple[str, ...], dry_run: bool,
            user: str) -> None:
    """Move running applications of PROCESS to version --to where that loses and repeats no work."""
    engine = _engine(ctx)
    plan = engine.migration_plan(process, to_version, app_nos or None, by=user)
    if not plan.verdicts:
        click.echo(f"没有需要迁移到流程 {process} 第 {to_version} 版的申请")
        return
    if dry_run:
        click.echo(f"迁移到流程 {process} 第 {to_version} 版（试算，不做任何改动）：")
        for v in plan.verdicts:
            where = "、".join(v.waiting_at) or "-"
            click.echo(f"  {v.app_no}  第 {v.from_version} 版  {'可以迁移' if v.safe else '不能迁移'}  待办 {where}  {v.reason}")
        click.echo(f"共 {len(plan.verdicts)} 个申请：可以迁移 {len(plan.safe)} 个，不能迁移 {len(plan.unsafe)} 个")
        return

    def report(done: int, total: int) -> None:
        if done % max(1, total // 20) == 0 or done == total:
            click.echo(f"迁移 {done}/{total} 个申请", err=True)

    result = engine.migrate(plan, user, report)
    for app_no in result.migrated:
        click.echo(f"  {app_no}  已迁移到第 {to_version} 版")
    for v in result.skipped:
        click.echo(f"  {v.app_no}  未迁移，仍在第 {v.from_version} 版办理：{v.reason}")
    click.echo(f"共 {len(plan.verdicts)} 个申请：已迁移 {len(result.migrated)} 个，未迁移 {len(result.skipped)} 个")
    if not result.migrated:
        sys.exit(1)


@main.group()
def fieldjob() -> None:
    """Site work: book a task's field job, report arrival and finish (what 派工调度 and 现场作业 do)."""


@fieldjob.command("list")
@click.option("--status", type=click.Choice(["waiting", "scheduled", "on_site", "finished", "cancelled"]),
              default=None, help="状态（默认：未完工的）")
@click.option("--station", default=None, help="班所编码")
@click.pass_context
def fieldjob_list(ctx: click.Context, status: str | None, station: str | None) -> None:
    """Field jobs by status and station."""
    jobs = _engine(ctx).field_work.jobs(status=status or ("waiting", "scheduled", "on_site"), station=station)
    for j in jobs:
        late = "  迟到" if j.late else ""
        click.echo(f"  {j.id}  {j.app_no}  {j.node_name}  {j.status_name}  {j.appointment_text}  "
                   f"{j.station_code or '-'}  {j.worker or '-'}{late}")
    click.echo(f"共 {len(jobs)} 项")


@fieldjob.command("book")
@click.argument("task_id")
@click.option("--station", required=True, help="班所编码")
@click.option("--day", required=True, help="作业日期 2026-11-24")
@click.option("--mode", type=click.Choice(["fixed", "window", "deadline"]), required=True,
              help="fixed 约时 / window 限时 / deadline 限期")
@click.option("--start", default="", help="到达时间或时段开始 09:30")
@click.option("--end", default="", help="时段结束（限时）")
@click.option("--deadline", default="", help="期限（限期）")
@click.option("--contact", "contact_name", required=True, help="客户联系人")
@click.option("--phone", "contact_phone", required=True, help="联系电话")
@click.option("--worker", default="", help="作业人员（默认：任务的承办人）")
@click.option("--override", default="", help="超出承载力时强制派工的原因")
@click.option("--reason", default="", help="改约原因（已预约的作业改约时必填）")
@click.option("--as", "user", required=True, help="工单调度员")
@click.pass_context
def fieldjob_book(ctx: click.Context, task_id: str, user: str, override: str, reason: str, **form: str) -> None:
    """Book (or, with --reason, change) the appointment of a task's field job."""
    engine = _engine(ctx)
    task_id = engine.task(task_id).id  # a unique prefix will do, as for complete
    work = engine.field_work
    appointment = appointment_from_form(form)
    job = work.reschedule(task_id, user, appointment, reason, override) if reason else \
        work.schedule(task_id, user, appointment, override)
    click.echo(f"已{'改约' if reason else '预约'}：{job.app_no} {job.node_name}  {job.appointment_text}  "
               f"{job.station_code}{'  （超承载力）' if job.overbooked else ''}")


@fieldjob.command("checkin")
@click.argument("task_id")
@click.option("--note", required=True, help="现场情况")
@click.option("--as", "user", required=True, help="作业人员")
@click.pass_context
def fieldjob_checkin(ctx: click.Context, task_id: str, note: str, user: str) -> None:
    """Report arrival on site."""
    engine = _engine(ctx)
    job = engine.field_work.check_in(engine.task(task_id).id, user, note)
    click.echo(f"已到达现场：{job.app_no} {job.node_name}{'（迟到）' if job.due_by and job.checked_in_at and job.checked_in_at > job.due_by else ''}")


@fieldjob.command("checkout")
@click.argument("task_id")
@click.option("--note", required=True, help="作业结果")
@click.option("--as", "user", required=True, help="作业人员")
@click.pass_context
def fieldjob_checkout(ctx: click.Context, task_id: str, note: str, user: str) -> None:
    """Report the work finished: the task can now be completed, a callback is opened."""
    engine = _engine(ctx)
    job = engine.field_work.check_out(engine.task(task_id).id, user, note)
    click.echo(f"作业结束：{job.app_no} {job.node_name}；现在可以办理该环节（complete），客户回访已生成")


# ----------------------------------------------------------------------------- task work


@main.command()
@click.argument("task_id")
@click.option("--note", default="", help="催办附言")
@click.option("--as", "user", required=True, help="催办人（营销部或本申请的客户经理）")
@click.pass_context
def urge(ctx: click.Context, task_id: str, note: str, user: str) -> None:
    """Hurry an open task (催办): its holder, or everyone of its role, is notified."""
    t = _engine(ctx).urge(task_id, by=user, note=note)
    click.echo(f"已催办：{t.app_no} {t.node_name}")


@main.command()
@click.argument("task_id")
@click.option("--to", "to_user", required=True, help="接手的同事（用户名）")
@click.option("--reason", required=True, help="转办原因")
@click.option("--as", "user", required=True, help="任务的办理人")
@click.pass_context
def transfer(ctx: click.Context, task_id: str, to_user: str, reason: str, user: str) -> None:
    """Hand my task to a colleague of its role (转办)."""
    engine = _engine(ctx)
    t = engine.transfer(task_id, to_user, by=user, reason=reason)
    click.echo(f"已转办：{t.app_no} {t.node_name} → {engine.user(to_user).display_name}")


@main.group()
def substitute() -> None:
    """Substitutes during leave (委托): set, list, cancel."""


@substitute.command("set")
@click.argument("username")
@click.argument("deputy")
@click.option("--from", "first_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="开始日期 2026-11-24")
@click.option("--to", "last_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="结束日期（含当天）")
@click.option("--reason", default="", help="原因，如：年休假")
@click.option("--as", "user", required=True, help="设置人（本人，或营销部）")
@click.pass_context
def substitute_set(ctx: click.Context, username: str, deputy: str, first_day: Any, last_day: Any, reason: str,
                   user: str) -> None:
    """USERNAME is away from --from to --to; DEPUTY works their tasks meanwhile."""
    engine = _engine(ctx)
    made = engine.set_substitute(username, deputy, first_day.date(), last_day.date(), reason, by=user)
    click.echo(f"委托 #{made.id}：{made.first_day}–{made.last_day} {engine.user(username).display_name}的任务由"
               f"{engine.user(deputy).display_name}代为办理")


@substitute.command("list")
@click.option("--user", "username", default=None, help="只看某人设置或代理的委托")
@click.option("--all", "everything", is_flag=True, help="包括已结束、已取消的委托")
@click.pass_context
def substitute_list(ctx: click.Context, username: str | None, everything: bool) -> None:
    """Substitutions in force or to come (with --all, past ones too)."""
    engine = _engine(ctx)
    now = engine.now()
    names = engine.display_names()
    for s in engine.substitutions(username, current_only=not everything):
        click.echo(f"#{s.id}  {s.first_day}–{s.last_day}  {names.get(s.username, s.username)} → "
                   f"{names.get(s.substitute, s.substitute)}  {s.state(now)}  {s.reason}")


@substitute.command("cancel")
@click.argument("substitution_id", type=int)
@click.option("--as", "user", required=True, help="取消人")
@click.pass_context
def substitute_cancel(ctx: click.Context, substitution_id: int, user: str) -> None:
    """End a substitution now."""
    s = _engine(ctx).cancel_substitute(substitution_id, by=user)
    click.echo(f"已取消委托 #{s.id}")
