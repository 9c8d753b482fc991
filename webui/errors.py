"""One handler per error family: a clear Chinese message with the status that fits, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine import (
    BaozhuangError,
    ConfigurationError,
    Conflict,
    DiagramRejected,
    Forbidden,
    FormValidationError,
    InvalidInput,
    NotFound,
    WorkflowFailure,
)

log = logging.getLogger("baozhuang.web")

STATUS: list[tuple[type[BaozhuangError], int]] = [
    (InvalidInput, 400),
    (DiagramRejected, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (WorkflowFailure, 409),
    (ConfigurationError, 500),
]

HTTP_MESSAGES = {
    400: "请求有误",
    401: "请先登录",
    403: "您没有权限进行此操作",
    404: "页面或记录不存在",
    405: "不支持该操作方式",
    409: "操作冲突",
    413: "提交的内容过大",
    429: "操作过于频繁，请稍后再试",
    500: "系统内部错误，已记录，请稍后再试或联系管理员",
}


def wants_json() -> bool:
    """API callers get JSON errors; people get pages."""
    return request.path.startswith("/api/")


def error_response(status: int, message: str, *, fields: dict[str, str] | None = None,
                   reasons: list[str] | None = None) -> Any:
    """Render an error as JSON or as a page."""
    if wants_json():
        body: dict[str, Any] = {"error": {"status": status, "message": message}}
        if fields:
            body["error"]["fields"] = fields
        if reasons:
            body["error"]["reasons"] = reasons
        return jsonify(body), status
    return render_template("error.html", status=status, title=HTTP_MESSAGES.get(status, "出错了"),
                           message=message, fields=fields or {}, reasons=reasons or []), status


NUL_MESSAGE = "请求中含有空字符（NUL），这不是任何字段的有效内容，请删除后重试"

FIELD_CHECKED = frozenset({"tasks.task", "tasks.accept", "lifecycle.correct", "lifecycle.suspend",
                           "lifecycle.resume", "lifecycle.withdraw", "lifecycle.terminate"})
"""Form pages that check every field themselves and show a bad one next to its input, keeping the form."""


def too_large_message() -> str:
    """Why a post was refused for its size, saying what to do (it is not always a file)."""
    limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
    size = request.content_length or 0
    got = f"共 {size / 1024 / 1024:.1f} MB，" if size else ""
    if wants_json():
        return f"请求体过大（{got}上限 {limit} MB）"
    files = bool(request.mimetype == "multipart/form-data")
    where = ("上传的文件合计过大，或某一栏粘贴了过长的内容" if files
             else "未上传文件：是某一栏填写或粘贴了过长的内容")
    return (f"提交的内容过大（{got}上限 {limit} MB）：{where}。请返回上一页修改后重新提交"
            "（返回后浏览器通常会保留已填写的内容）。")


def contains_nul(value: Any) -> bool:
    """Whether a string anywhere in a parsed JSON value holds NUL (walked without recursion: depth is the client's)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.before_request
    def refuse_nul() -> None:
        # PostgreSQL can neither store nor compare text holding NUL (psycopg raises DataError: a 500), and no
        # field needs one: refuse it in the path, the query and form fields up front, as bad input. The form
        # pages say so next to the field instead, with the form kept (webui.formdata, the engine's checks).
        if contains_nul([request.path, *request.args.keys(), *request.args.values()]):
            raise InvalidInput(NUL_MESSAGE)
        if request.endpoint not in FIELD_CHECKED and request.method == "POST" and not wants_json() \
                and contains_nul([*request.form.keys(), *request.form.values()]):
            raise InvalidInput(NUL_MESSAGE)

    @app.errorhandler(BaozhuangError)
    def engine_error(exc: BaozhuangError) -> Any:
        status = next((code for cls, code in STATUS if isinstance(exc, cls)), 500)
        if status == 500:
            log.error("configuration error: %s", exc.message)
        fields = exc.field_errors if isinstance(exc, FormValidationError) else None
        reasons = [str(r) for r in exc.reasons] if isinstance(exc, DiagramRejected) else None
        return error_response(status, exc.message, fields=fields, reasons=reasons)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        return error_response(400, "页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        if status == 413:
            return error_response(413, too_large_message())
        return error_response(status, HTTP_MESSAGES.get(status, exc.name))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, HTTP_MESSAGES[500])
