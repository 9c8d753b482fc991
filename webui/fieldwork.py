"""Field work pages: the dispatcher's board (jobs to book, late jobs, remaining capacity), a job's page
(book, change, check in and out), a worker's own jobs, a station's weekly capacity, the printable
half-day dispatch lists, and a customer manager's daily summary for the morning meeting."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import Conflict, Forbidden, FormValidationError, InvalidInput
from engine import (
    DISPATCHER_ROLE,
    HALVES,
    JOB_KINDS,
    MODES,
    STATION_HEAD_ROLE,
    appointment_from_form,
)
from engine import ROLES

from webui import engine_of
from webui.auth import current_user, login_required, roles_required

bp = Blueprint("fieldwork", __name__, url_prefix="/fieldwork")

BOARD_DAYS = 7
SUMMARY_VIEWERS = ("marketing",)
"""营销部 may read any manager's daily summary; everyone else reads their own."""


def _date_arg(name: str, default: date) -> date:
    text = (request.args.get(name) or "").strip()
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"“{text}”不是有效日期（年-月-日）") from None


@bp.route("/")
@roles_required(DISPATCHER_ROLE, "marketing")
def board() -> Any:
    """The dispatcher's board: jobs waiting for an appointment, late jobs, capacity left per station/day."""
    engine = engine_of(current_app)
    today = engine.now().date()
    start = _date_arg("from", today)
    work = engine.field_work
    return render_template(
        "fieldwork/board.html", waiting=work.jobs(status="waiting"), late=work.late_jobs(),
        scheduled=work.jobs(status=("scheduled", "on_site"), limit=200), board=work.board(start, BOARD_DAYS),
        kinds=JOB_KINDS, start=start, today=today, prev=start - timedelta(days=BOARD_DAYS),
        next=start + timedelta(days=BOARD_DAYS))


@bp.route("/jobs/<job_id>", methods=["GET", "POST"])
@login_required
def job(job_id: str) -> Any:
    """A field job: its appointment and history; the dispatcher books or changes it, the worker reports."""
    engine = engine_of(current_app)
    user = current_user()
    work = engine.field_work
    current = work.job(job_id)
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        action = request.form.get("action", "")
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        try:
            if action in ("schedule", "reschedule"):
                appointment = appointment_from_form(request.form)
                override = request.form.get("override_reason", "") if request.form.get("override") else ""
                if action == "schedule":
                    work.schedule(current.id, user.username, appointment, override)
                    flash(f"已预约：{current.app_no}「{current.node_name}」", "success")
                else:
                    work.reschedule(current.id, user.username, appointment, request.form.get("reason", ""),
                                    override)
                    flash(f"已改约：{current.app_no}「{current.node_name}」", "success")
            elif action == "check_in":
                work.check_in(current.id, user.username, request.form.get("note", ""))
                flash("已记录到达现场", "success")
            elif action == "check_out":
                work.check_out(current.id, user.username, request.form.get("note", ""))
                flash("已记录作业结束，客户回访已生成；现在可以办理该环节", "success")
            else:
                raise InvalidInput(f"未知操作：{action}")
        except FormValidationError as exc:
            errors, status = dict(exc.field_errors) or {"_": exc.message}, 400
        except Conflict as exc:
            errors, status = {"_": exc.message}, 409
        else:
            return redirect(url_for("fieldwork.job", job_id=current.id))
        current = work.job(job_id)
    board = work.board(current.day or engine.now().date(), BOARD_DAYS) if current.status in ("waiting", "scheduled") \
        else None
    return render_template(
        "fieldwork/job.html", job=current, history=work.job_history(current.id), stations=work.stations(),
        board=board, workers=[u for u in engine.users(current.role)], modes=MODES, halves=HALVES,
        errors=errors, values=values, today=engine.now().date(), contact=work.customer_contact(current.id),
        dispatcher=DISPATCHER_ROLE in user.roles,
        reporter=(current.worker == user.username) or (not current.worker and current.role in user.roles)
        or current.worker in engine.standing_in_for(user.username)), status


@bp.route("/mine")
@login_required
def mine() -> Any:
    """My field jobs: today's and coming appointments, with the arrival and finish reports."""
    engine = engine_of(current_app)
    user = current_user()
    jobs = [job for worker in (user.username, *engine.standing_in_for(user.username))
            for job in engine.field_work.jobs(status=("waiting", "scheduled", "on_site"), worker=worker)]
    return render_template("fieldwork/mine.html", jobs=jobs, today=engine.now().date())


@bp.route("/capacity/<station>", methods=["GET", "POST"])
@roles_required(DISPATCHER_ROLE, STATION_HEAD_ROLE)
def capacity(station: str) -> Any:
    """A station declares next week's capacity per day and kind of job (承载力)."""
    engine = engine_of(current_app)
    user = current_user()
    work = engine.field_work
    info = work.station(station)
    today = engine.now().date()
    monday = _date_arg("week", today + timedelta(days=7 - today.weekday()))
    monday -= timedelta(days=monday.weekday())
    errors: list[str] = []
    if request.method == "POST":
        values: dict[tuple[date, str], int] = {}
        for key, raw in request.form.items():
            if not key.startswith("cap:"):
                continue
            _, day_text, kind = key.split(":", 2)
            try:
                values[(date.fromisoformat(day_text), kind)] = int(raw)
            except ValueError:
                errors.append(f"{day_text} {JOB_KINDS.get(kind, kind)}：“{raw}”不是整数")
        if not errors:
            try:
                changed = work.set_capacities(station, values, user.username)
            except InvalidInput as exc:
                errors.append(exc.message)
            else:
                flash(f"{info.name}承载力已保存（{changed} 项有变化）", "success")
                return redirect(url_for("fieldwork.capacity", station=station, week=monday.isoformat()))
    board = work.board(monday, 7)
    return render_template("fieldwork/capacity.html", station=info, board=board, kinds=JOB_KINDS, monday=monday,
                           today=today, errors=errors), 400 if errors else 200


@bp.route("/lists/<station>/<day>/<half>")
@roles_required(DISPATCHER_ROLE, STATION_HEAD_ROLE, "marketing")
def dispatch_list(station: str, day: str, half: str) -> Any:
    """The printable half-day dispatch list sent to a station (上午/下午各一次)."""
    engine = engine_of(current_app)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"“{day}”不是有效日期（年-月-日）") from None
    if half not in HALVES:
        raise InvalidInput("应为上午（am）或下午（pm）")
    info = engine.field_work.station(station)
    jobs = engine.field_work.jobs(station=station, day=when, half=half,
                                  status=("scheduled", "on_site", "finished"))
    names = {u.username: u.display_name for u in engine.users()}
    return render_template("fieldwork/list.html", station=info, day=when, half=half, halves=HALVES, jobs=jobs,
                           names=names, printed_at=engine.now())


@bp.route("/daily")
@login_required
def daily() -> Any:
    """A customer manager's daily summary (早会): yesterday's steps, today's appointments, limits, problems."""
    engine = engine_of(current_app)
    user = current_user()
    whom = (request.args.get("user") or user.username).strip()
    if whom != user.username and not set(SUMMARY_VIEWERS) & set(user.roles):
        raise Forbidden("只能查看自己的每日工作摘要（营销部可查看所有客户经理）")
    person = engine.user(whom)
    day = _date_arg("day", engine.now().date())
    summary = engine.field_work.daily_summary(person.username, day)
    managers = [u for u in engine.users("customer_manager")] if set(SUMMARY_VIEWERS) & set(user.roles) else []
    return render_template("fieldwork/daily.html", summary=summary, person=person, managers=managers,
                           roles=ROLES, now=engine.now())

