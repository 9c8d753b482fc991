"""The weekly design-review meeting: open it on the reviews waiting, decide them one by one (or several
at once), close it with the attendees; the minutes are a printable page."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import Forbidden, InvalidInput
from engine import DECISIONS, MEETING_ROLES, Decision

from webui import engine_of
from webui.auth import current_user, roles_required

bp = Blueprint("meetings", __name__, url_prefix="/meetings")

VIEW_ROLES = (*MEETING_ROLES, "auditor")


@bp.route("/", methods=["GET", "POST"])
@roles_required(*VIEW_ROLES)
def index() -> Any:
    """Meetings held and the button that opens this week's."""
    engine = engine_of(current_app)
    if request.method == "POST":
        _require_meeting_role()
        text = (request.form.get("week") or "").strip()
        try:
            week = date.fromisoformat(text) if text else engine.now().date()
        except ValueError:
            raise InvalidInput(f"“{text}”不是有效日期（年-月-日）") from None
        meeting = engine.meetings.open(week, current_user().username)
        flash(f"已召开{meeting.title}，议题 {len(meeting.items)} 项", "success")
        return redirect(url_for("meetings.show", meeting_id=meeting.id))
    return render_template("meetings/index.html", meetings=engine.meetings.meetings(), today=engine.now().date(),
                           may_run=bool(set(MEETING_ROLES) & set(current_user().roles)))


@bp.route("/<int:meeting_id>", methods=["GET", "POST"])
@roles_required(*VIEW_ROLES)
def show(meeting_id: int) -> Any:
    """The agenda: decide items (each completes its review task) or close the meeting with its minutes."""
    engine = engine_of(current_app)
    user = current_user()
    outcomes = []
    status = 200
    if request.method == "POST":
        _require_meeting_role()
        if request.form.get("action") == "close":
            attendees = re.split(r"[,，、;；\n]+", request.form.get("attendees", ""))
            engine.meetings.close(meeting_id, user.username, attendees, request.form.get("notes", ""))
            flash("例会已结束，纪要已保存", "success")
            return redirect(url_for("meetings.minutes", meeting_id=meeting_id))
        decisions = {}
        for key, value in request.form.items():
            match = re.fullmatch(r"decision:(\d+)", key)
            if not match or not value:
                continue
            if value not in DECISIONS:
                raise InvalidInput(f"“{value}”不是有效的审查结论")
            item_id = int(match.group(1))
            decisions[item_id] = Decision(value, request.form.get(f"opinion:{item_id}", ""),
                                          bool(request.form.get(f"documents:{item_id}")))
        if not decisions:
            raise InvalidInput("请至少为一个议题选择审查结论")
        outcomes = engine.meetings.decide(meeting_id, decisions, user.username)
        done = [o for o in outcomes if o.error is None]
        if done:
            flash(f"已决定 {len(done)} 项：{'、'.join(o.app_no for o in done)}", "success")
        if any(o.error for o in outcomes):
            status = 400
        else:
            return redirect(url_for("meetings.show", meeting_id=meeting_id))
    meeting = engine.meetings.meeting(meeting_id)
    return render_template("meetings/show.html", meeting=meeting, decisions=DECISIONS, values=request.form,
                           failed={o.item_id: o.error for o in outcomes if o.error},
                           may_run=bool(set(MEETING_ROLES) & set(user.roles))), status


@bp.route("/<int:meeting_id>/minutes")
@roles_required(*VIEW_ROLES)
def minutes(meeting_id: int) -> Any:
    """The printable minutes: attendees and each decision."""
    engine = engine_of(current_app)
    meeting = engine.meetings.meeting(meeting_id)
    names = {u.username: u.display_name for u in engine.users()}
    return render_template("meetings/minutes.html", meeting=meeting, names=names)


def _require_meeting_role() -> None:
    if not set(MEETING_ROLES) & set(current_user().roles):
        raise Forbidden("审查例会由客户经理、发展策划或营销部组织；稽查只能查看")
