"""The OpenAPI 3.1 description of the JSON API: one source for /api/v1/openapi.json, the docs page and tests.

Kept by hand beside the views in :mod:`webui.api`; a test checks that every route of the blueprint is
described here and every path described here is a route, and that real responses match the schemas.
"""

from __future__ import annotations

import copy
from typing import Any

API_PREFIX = "/api/v1"
METHODS = ("get", "post", "put", "patch", "delete")

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], "description": description, **extra}


LOCAL_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$"
"""ISO 8601 local time without an offset: "format": "date-time" (RFC 3339) would promise an offset we do not send."""


def _datetime(description: str, nullable: bool = False) -> dict[str, Any]:
    kind: str | list[str] = ["string", "null"] if nullable else "string"
    return {"type": kind, "pattern": LOCAL_DATETIME,
            "description": f"{description}（ISO 8601，服务器本地时间即北京时间，不带时区后缀）"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}
    return {str(status): {"$ref": f"#/components/responses/{names[status]}"} for status in statuses}


TASK_ID = {
    "name": "task_id", "in": "path", "required": True,
    "description": "任务编号（UUID），也可以是唯一的前缀（至少 6 位）",
    "schema": {"type": "string", "minLength": 6, "maxLength": 36},
}

APP_NO = {
    "name": "app_no", "in": "path", "required": True,
    "description": "申请编号，例如 LV202611230001",
    "schema": {"type": "string"},
}

TASK = {
    "type": "object",
    "description": "一个用户任务（待办或已办）",
    "required": ["id", "app_no", "process_key", "customer_name", "node_id", "node_name", "role", "role_name",
                 "form", "status", "assignee", "claimed_by", "created_at", "completed_at", "completed_by", "due_at",
                 "time_limit_days", "warned_at", "escalated_at", "clock_stopped"],
    "properties": {
        "id": {"type": "string", "description": "任务编号（UUID）"},
        "app_no": {"type": "string", "description": "申请编号"},
        "process_key": {"type": "string", "description": "流程键：hv、lv 或 pv"},
        "customer_name": {"type": "string", "description": "客户名称"},
        "node_id": {"type": "string", "description": "流程图中的节点编号"},
        "node_name": {"type": "string", "description": "环节名称"},
        "role": {"type": "string", "description": "办理该任务需要的角色键"},
        "role_name": {"type": "string", "description": "角色的中文名称"},
        "form": {"type": "string", "description": "表单名称（为空表示无表单）"},
        "status": {"type": "string", "enum": ["ready", "completed", "cancelled"], "description": "任务状态"},
        "assignee": _nullable("string", "指派给的用户"),
        "claimed_by": _nullable("string", "认领人"),
        "created_at": _datetime("生成时间"),
        "completed_at": _datetime("办理完成时间", nullable=True),
        "completed_by": _nullable("string", "办理人"),
        "due_at": _datetime("环节内部目标（第 N 个工作日 23:59:59）；无目标或客户办理中为 null。"
                            "考核时限见 /applications/{app_no}/clocks", nullable=True),
        "time_limit_days": _nullable("integer", "环节内部目标的工作日数（流程图 timeLimit 或本单位配置）"),
        "warned_at": _datetime("发出时限预警的时间", nullable=True),
        "escalated_at": _datetime("超期督办的时间", nullable=True),
        "clock_stopped": {"type": "boolean", "description": "客户办理中（计时暂停），该环节不计时限"},
    },
}

STATUS_ENUM = ["running", "completed", "error", "suspended", "withdrawn", "terminated"]
"""An application's status: 进行中, 已办结, 异常, 已暂停, 已撤销, 已终止."""

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {
                "status": {"type": "integer", "description": "HTTP 状态码"},
                "message": {"type": "string", "description": "中文错误说明"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "逐字段的中文错误（表单校验失败时）"},
                "reasons": {"type": "array", "items": {"type": "string"}, "description": "更多原因"},
            },
        }},
    },
    "Task": TASK,
    "TaskPage": {
        "type": "object",
        "description": "任务列表的一页",
        "required": ["items", "total", "page", "per_page", "pages"],
        "properties": {
            "items": {"type": "array", "items": _ref("Task")},
            "total": {"type": "integer", "minimum": 0, "description": "符合条件的任务总数"},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
            "pages": {"type": "integer", "minimum": 1, "description": "总页数"},
        },
    },
    "FormDefinition": {
        "type": "object",
        "description": "任务表单：JSON Schema（Draft 2020-12），渠道可据此自行生成表单",
        "required": ["name", "title", "schema"],
        "properties": {
            "name": {"type": "string"},
            "title": {"type": "string", "description": "表单中文标题"},
            "schema": {"type": "object", "description": "JSON Schema；字段的 title 是中文标签，x-enumNames 是选项的中文名"},
        },
    },
    "TaskDetail": {
        "description": "任务及其表单定义",
        "allOf": [_ref("Task"), {
            "type": "object",
            "required": ["form_definition"],
            "properties": {"form_definition": {"oneOf": [_ref("FormDefinition"), {"type": "null"}]}},
        }],
    },
    "StepResult": {
        "type": "object",
        "description": "一次操作（受理或办理）之后申请的状态",
        "required": ["app_no", "status", "ready_tasks", "error_message"],
        "properties": {
            "app_no": {"type": "string"},
            "status": {"type": "string", "enum": STATUS_ENUM},
            "ready_tasks": {"type": "array", "items": _ref("Task"), "description": "现在等待办理的任务"},
            "error_message": _nullable("string", "流程异常时的说明"),
        },
    },
    "FinishedStep": {
        "type": "object",
        "description": "一个已办结的环节（来自审计记录中的 task.completed 事件）",
        "required": ["node_id", "node_name", "completed_at", "completed_by"],
        "properties": {
            "node_id": {"type": ["string", "null"]},
            "node_name": {"type": "string"},
            "completed_at": _datetime("办理完成时间"),
            "completed_by": {"type": "string", "description": "办理人"},
        },
    },
    "Document": {
        "type": "object",
        "required": ["id", "kind", "filename", "media_type", "size", "sha256", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "kind": {"type": "string", "description": "资料种类"},
            "filename": {"type": "string"},
            "media_type": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "sha256": {"type": "string"},
            "created_at": _datetime("保存时间"),
        },
    },
    "Application": {
        "type": "object",
        "description": "一件业扩申请的当前状态（面向工作人员：含申请数据）",
        "required": ["app_no", "process", "version", "status", "status_name", "status_reason", "status_changed_at",
                     "status_changed_by", "customer", "created_by", "created_at",
                     "updated_at", "completed_at", "error_message", "current_steps", "finished_steps",
                     "documents", "data"],
        "properties": {
            "app_no": {"type": "string"},
            "process": {"type": "string", "description": "流程键：hv、lv 或 pv"},
            "version": {"type": "integer", "description": "流程版本号"},
            "status": {"type": "string", "enum": STATUS_ENUM},
            "status_name": {"type": "string", "description": "状态的中文名"},
            "status_reason": _nullable("string", "暂停、撤销或终止的原因"),
            "status_changed_at": _datetime("暂停、恢复、撤销或终止的时间", nullable=True),
            "status_changed_by": _nullable("string", "办理暂停、恢复、撤销或终止的人"),
            "customer": {
                "type": "object",
                "required": ["name", "type"],
                "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
            },
            "created_by": {"type": "string", "description": "受理人"},
            "created_at": _datetime("受理时间"),
            "updated_at": _datetime("最后更新时间"),
            "completed_at": _datetime("办结时间", nullable=True),
            "error_message": _nullable("string", "流程异常时的说明"),
            "current_steps": {"type": "array", "items": _ref("Task"), "description": "当前待办环节"},
            "finished_steps": {"type": "array", "items": _ref("FinishedStep"), "description": "已办结环节，按时间顺序"},
            "documents": {"type": "array", "items": _ref("Document")},
            "data": {"type": "object", "description": "申请当前的全部数据（受理与各环节表单字段）"},
        },
    },
    "NewApplication": {
        "type": "object",
        "required": ["process", "data"],
        "additionalProperties": False,
        "properties": {
            "process": {"type": "string", "description": "流程键", "examples": ["hv", "lv", "pv"]},
            "data": {"type": "object", "description": "受理表单的字段（见该流程的受理表单定义）"},
        },
    },
    "CompleteTask": {
        "type": "object",
        "required": ["data"],
        "additionalProperties": False,
        "properties": {"data": {"type": "object", "description": "任务表单的字段（见 GET /tasks/{task_id} 的 form_definition）"}},
    },
}

_TEXT = {"type": "string", "maxLength": 2000}
_REASON = {"type": "string", "maxLength": 500, "description": "原因（记入审计记录，客户在办事进度页可见）"}
SCHEMAS.update({
    "Reason": {
        "type": "object",
        "required": ["reason"],
        "additionalProperties": False,
        "properties": {"reason": {**_REASON, "minLength": 1}},
    },
    "ResumeNote": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": {**_REASON, "description": "恢复说明（可不填）"}},
    },
    "Correction": {
        "type": "object",
        "required": ["field", "value", "reason"],
        "additionalProperties": False,
        "properties": {
            "field": {"type": "string", "description": "要更正的字段（见 GET /applications/{app_no}/fields）"},
            "value": {"description": "新值，类型同该字段的表单定义"},
            "reason": {**_REASON, "minLength": 1, "description": "更正原因（记入审计记录，连同原值与新值）"},
        },
    },
    "CaseAction": {
        "type": "object",
        "description": "暂停、恢复、撤销、终止或更正之后申请的状态",
        "required": ["app_no", "action", "status", "status_name", "reason", "at", "by", "field", "field_title",
                     "before", "after"],
        "properties": {
            "app_no": {"type": "string"},
            "action": {"type": "string", "enum": ["application.suspended", "application.resumed",
                                                  "application.withdrawn", "application.terminated",
                                                  "application.corrected"], "description": "记入审计的事件"},
            "status": {"type": "string", "enum": STATUS_ENUM},
            "status_name": {"type": "string"},
            "reason": {"type": "string"},
            "at": _datetime("办理时间"),
            "by": {"type": "string", "description": "办理人"},
            "field": _nullable("string", "更正的字段"),
            "field_title": _nullable("string", "更正字段的中文名"),
            "before": {"description": "更正前的值"},
            "after": {"description": "更正后的值"},
        },
    },
    "CorrectableField": {
        "type": "object",
        "required": ["name", "title", "step", "value", "form"],
        "properties": {
            "name": {"type": "string"}, "title": {"type": "string", "description": "字段中文名"},
            "step": {"type": "string", "description": "填写该字段的环节"},
            "value": {"description": "当前值"},
            "form": {"type": "string", "description": "定义该字段的表单"},
        },
    },
    "CorrectableFields": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("CorrectableField")}},
    },
    "FieldJob": {
        "type": "object",
        "description": "一项现场作业（与其任务同一编号）：预约、到达、结束",
        "required": ["id", "app_no", "customer_name", "node_id", "node_name", "role", "kind", "kind_name", "status",
                     "status_name", "created_at", "station_code", "day", "half", "mode", "starts_at", "ends_at",
                     "due_by", "appointment_text", "contact_name", "contact_phone", "worker", "overbooked",
                     "checked_in_at", "check_in_note", "checked_out_at", "check_out_note", "late"],
        "properties": {
            "id": {"type": "string", "description": "任务编号（UUID）"},
            "app_no": {"type": "string"}, "customer_name": {"type": "string"},
            "node_id": {"type": "string"}, "node_name": {"type": "string"},
            "role": {"type": "string", "description": "作业人员的角色键"},
            "kind": {"type": "string", "enum": ["survey", "mid_inspection", "completion_inspection", "connect",
                                                "pv_commissioning"]},
            "kind_name": {"type": "string"},
            "status": {"type": "string", "enum": ["waiting", "scheduled", "on_site", "finished", "cancelled"]},
            "status_name": {"type": "string"},
            "created_at": _datetime("生成时间"),
            "station_code": _nullable("string", "班所编码"),
            "day": _nullable("string", "作业日期", pattern=r"^\d{4}-\d{2}-\d{2}$"),
            "half": _nullable("string", "派工单：am 上午 / pm 下午"),
            "mode": _nullable("string", "预约方式：fixed 约时 / window 限时 / deadline 限期"),
            "starts_at": _datetime("约定到达时间或时段开始", nullable=True),
            "ends_at": _datetime("时段结束", nullable=True),
            "due_by": _datetime("最迟到达（逾期未到达即迟到）", nullable=True),
            "appointment_text": {"type": "string", "description": "预约的中文说明"},
            "contact_name": _nullable("string", "客户联系人"),
            "contact_phone": _nullable("string", "联系电话"),
            "worker": _nullable("string", "作业人员"),
            "overbooked": {"type": "boolean", "description": "超出班所承载力派工（原因见作业记录）"},
            "scheduled_by": _nullable("string", "预约人"),
            "checked_in_at": _datetime("到达现场时间", nullable=True),
            "check_in_note": _nullable("string", "到达时的现场情况"),
            "checked_out_at": _datetime("作业结束时间", nullable=True),
            "check_out_note": _nullable("string", "作业结果"),
            "late": {"type": "boolean", "description": "已过预约时间仍未到达"},
        },
    },
    "FieldJobList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("FieldJob")}},
    },
    "Appointment": {
        "type": "object",
        "description": "预约（工单调度员）：已预约的作业带 reason 即为改约",
        "required": ["station", "day", "mode", "contact_name", "contact_phone"],
        "additionalProperties": False,
        "properties": {
            "station": {"type": "string", "description": "班所编码"},
            "day": {"type": "string", "description": "作业日期 2026-11-24"},
            "mode": {"type": "string", "enum": ["fixed", "window", "deadline"]},
            "start": {"type": "string", "description": "到达时间或时段开始 09:30"},
            "end": {"type": "string", "description": "时段结束（限时）"},
            "deadline": {"type": "string", "description": "期限（限期）"},
            "half": {"type": "string", "enum": ["am", "pm"], "description": "派工单（限期）"},
            "contact_name": {"type": "string"}, "contact_phone": {"type": "string"},
            "worker": {"type": "string", "description": "作业人员（默认：任务的承办人）"},
            "override_reason": {**_TEXT, "description": "超出承载力仍派工的原因（记入作业记录）"},
            "reason": {**_TEXT, "description": "改约原因"},
        },
    },
    "SiteReport": {
        "type": "object",
        "required": ["note"],
        "additionalProperties": False,
        "properties": {"note": {**_TEXT, "description": "现场情况（到达）或作业结果（结束）"}},
    },
    "Urge": {
        "type": "object",
        "description": "催办（营销部或本申请的客户经理）：通知任务的办理人（休假时含其代理人），无人认领时通知该岗位全体",
        "additionalProperties": False,
        "properties": {"note": {"type": "string", "maxLength": 500, "description": "催办附言（可不填）"}},
    },
    "Transfer": {
        "type": "object",
        "description": "转办：把自己手上的任务交给同岗位的同事",
        "required": ["to", "reason"],
        "additionalProperties": False,
        "properties": {
            "to": {"type": "string", "description": "接手的同事（用户名）"},
            "reason": {"type": "string", "maxLength": 500, "description": "转办原因"},
        },
    },
    "NewComment": {
        "type": "object",
        "required": ["body"],
        "additionalProperties": False,
        "properties": {
            "body": {"type": "string", "maxLength": 2000, "description": "留言内容"},
            "public": {"type": "boolean", "description": "对客户公开（显示在办事进度页），默认否"},
        },
    },
    "Comment": {
        "type": "object",
        "description": "申请上的留言",
        "required": ["id", "app_no", "author", "author_name", "body", "public", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "app_no": {"type": "string"},
            "author": {"type": "string", "description": "留言人（用户名）"},
            "author_name": {"type": "string", "description": "留言人姓名"},
            "body": {"type": "string"},
            "public": {"type": "boolean", "description": "客户可见"},
            "created_at": _datetime("留言时间"),
        },
    },
    "CommentList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("Comment")}},
    },
})

RESPONSES: dict[str, Any] = {
    "BadRequest": _json(_ref("Error"), "请求有误：JSON 无效、不是对象，或表单校验失败（fields 逐字段说明）"),
    "Unauthorized": {
        **_json(_ref("Error"), "缺少或无效的 API 令牌"),
        "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    },
    "Forbidden": _json(_ref("Error"), "令牌所代表的用户没有所需角色，或任务已指派/认领给他人"),
    "NotFound": _json(_ref("Error"), "申请或任务不存在"),
    "Conflict": _json(_ref("Error"), "操作冲突：任务已由他人办理或认领，或申请处于异常、暂停、已撤销或已终止状态"),
}

PATHS: dict[str, Any] = {
    "/applications": {
        "post": {
            "operationId": "createApplication",
            "summary": "受理新申请",
            "description": "校验受理表单、生成申请编号，并运行到第一个待办环节。需要受理员角色。",
            "tags": ["申请"],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("NewApplication")}}},
            "responses": {
                "201": {**_json(_ref("StepResult"), "已受理"),
                        "headers": {"Location": {"description": "新申请的地址", "schema": {"type": "string"}}}},
                **_errors(400, 401, 403),
            },
        },
    },
    "/applications/{app_no}": {
        "get": {
            "operationId": "getApplication",
            "summary": "查询申请状态",
            "description": "状态、当前环节、已办结环节及时间、异常说明与申请数据。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "responses": {"200": _json(_ref("Application"), "申请"), **_errors(400, 401, 404)},
        },
    },
    "/applications/{app_no}/suspend": {
        "post": {
            "operationId": "suspendApplication",
            "summary": "暂停办理",
            "description": "暂停后任何环节都不能办理，时限停止计算；需要客户经理或营销部角色。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Reason")}}},
            "responses": {"200": _json(_ref("CaseAction"), "已办理"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/applications/{app_no}/resume": {
        "post": {
            "operationId": "resumeApplication",
            "summary": "恢复办理",
            "description": "回到暂停前的状态（进行中或异常）；需要客户经理或营销部角色。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("ResumeNote")}}},
            "responses": {"200": _json(_ref("CaseAction"), "已办理"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/applications/{app_no}/withdraw": {
        "post": {
            "operationId": "withdrawApplication",
            "summary": "撤销申请",
            "description": "客户撤回申请：流程取消，待办环节与现场作业关闭；需要受理员、客户经理或营销部角色。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Reason")}}},
            "responses": {"200": _json(_ref("CaseAction"), "已办理"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/applications/{app_no}/terminate": {
        "post": {
            "operationId": "terminateApplication",
            "summary": "终止申请",
            "description": "营销部终止申请并写明原因：流程取消，待办环节与现场作业关闭。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Reason")}}},
            "responses": {"200": _json(_ref("CaseAction"), "已办理"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/applications/{app_no}/corrections": {
        "post": {
            "operationId": "correctApplication",
            "summary": "更正申请数据",
            "description": "营销部更正一个已记录的值并写明原因；按该字段所在表单的规则校验，审计记录原值与新值。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Correction")}}},
            "responses": {"200": _json(_ref("CaseAction"), "已办理"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/applications/{app_no}/fields": {
        "get": {
            "operationId": "listCorrectableFields",
            "summary": "可更正的字段",
            "description": "申请已记录、可由营销部更正的字段及其当前值、填写环节。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "responses": {"200": _json(_ref("CorrectableFields"), "字段"), **_errors(400, 401, 404)},
        },
    },
    "/applications/{app_no}/retry": {
        "post": {
            "operationId": "retryApplication",
            "summary": "重试出错的环节",
            "description": "异常申请在更正导致异常的数据之后重新运行出错的环节；需要客户经理或营销部角色。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "responses": {"200": _json(_ref("StepResult"), "已重试"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/tasks": {
        "get": {
            "operationId": "listTasks",
            "summary": "任务列表",
            "description": "mine：认领或指派给我的；pool：我的角色下未认领的；all：全部（仅营销部）。",
            "tags": ["任务"],
            "parameters": [
                {"name": "scope", "in": "query", "description": "范围",
                 "schema": {"type": "string", "enum": ["mine", "pool", "all"], "default": "pool"}},
                {"name": "process", "in": "query", "description": "按流程键筛选", "schema": {"type": "string"}},
                {"name": "node", "in": "query", "description": "按节点编号筛选", "schema": {"type": "string"}},
                {"name": "q", "in": "query", "description": "申请编号（前缀）或客户名称", "schema": {"type": "string"}},
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
                {"name": "per_page", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20}},
            ],
            "responses": {"200": _json(_ref("TaskPage"), "一页任务"), **_errors(400, 401, 403)},
        },
    },
    "/tasks/{task_id}": {
        "get": {
            "operationId": "getTask",
            "summary": "任务详情及表单定义",
            "tags": ["任务"],
            "parameters": [TASK_ID],
            "responses": {"200": _json(_ref("TaskDetail"), "任务"), **_errors(400, 401, 404)},
        },
    },
    "/tasks/{task_id}/claim": {
        "post": {
            "operationId": "claimTask",
            "summary": "认领任务",
            "tags": ["任务"],
            "parameters": [TASK_ID],
            "responses": {"200": _json(_ref("Task"), "已认领"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/tasks/{task_id}/release": {
        "post": {
            "operationId": "releaseTask",
            "summary": "释放已认领的任务",
            "tags": ["任务"],
            "parameters": [TASK_ID],
            "responses": {"200": _json(_ref("Task"), "已释放"), **_errors(400, 401, 403, 404)},
        },
    },
    "/tasks/{task_id}/complete": {
        "post": {
            "operationId": "completeTask",
            "summary": "办理任务（提交表单）",
            "description": "提交任务表单；流程继续运行到下一个等待点。",
            "tags": ["任务"],
            "parameters": [TASK_ID],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("CompleteTask")}}},
            "responses": {"200": _json(_ref("StepResult"), "已办理"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/tasks/{task_id}/urge": {
        "post": {
            "operationId": "urgeTask",
            "summary": "催办任务",
            "description": "营销部或本申请的客户经理催办待办任务；同一人一小时内对同一任务只能催办一次（409）。",
            "tags": ["任务"],
            "parameters": [TASK_ID],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Urge")}}},
            "responses": {"200": _json(_ref("Task"), "已催办"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/tasks/{task_id}/transfer": {
        "post": {
            "operationId": "transferTask",
            "summary": "转办任务",
            "description": "任务的办理人（或其代理人）把任务交给有该岗位角色的同事，须说明原因。",
            "tags": ["任务"],
            "parameters": [TASK_ID],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Transfer")}}},
            "responses": {"200": _json(_ref("Task"), "已转办"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/applications/{app_no}/comments": {
        "get": {
            "operationId": "listComments",
            "summary": "申请的留言",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "responses": {"200": _json(_ref("CommentList"), "留言（时间顺序）"), **_errors(401, 404)},
        },
        "post": {
            "operationId": "addComment",
            "summary": "在申请上留言",
            "description": "办理业务的员工可留言；public 为真时客户在办事进度页可见。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("NewComment")}}},
            "responses": {"201": _json(_ref("Comment"), "已留言"), **_errors(400, 401, 403, 404)},
        },
    },
    "/fieldjobs": {
        "get": {
            "operationId": "listFieldJobs",
            "summary": "我的现场作业",
            "description": "派给我的未完工作业；工单调度员得到全部未完工作业。",
            "tags": ["现场作业"],
            "responses": {"200": _json(_ref("FieldJobList"), "现场作业"), **_errors(401)},
        },
    },
    "/fieldjobs/{task_id}": {
        "get": {
            "operationId": "getFieldJob",
            "summary": "一项现场作业",
            "tags": ["现场作业"],
            "parameters": [TASK_ID],
            "responses": {"200": _json(_ref("FieldJob"), "现场作业"), **_errors(400, 401, 404)},
        },
    },
    "/fieldjobs/{task_id}/appointment": {
        "post": {
            "operationId": "bookFieldJob",
            "summary": "预约派工或改约",
            "description": "工单调度员预约（约时、限时、限期）；超出承载力须给出 override_reason；改约须给出 reason。",
            "tags": ["现场作业"],
            "parameters": [TASK_ID],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Appointment")}}},
            "responses": {"200": _json(_ref("FieldJob"), "已预约"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/fieldjobs/{task_id}/check-in": {
        "post": {
            "operationId": "checkInFieldJob",
            "summary": "到达现场（第一次电话汇报）",
            "tags": ["现场作业"],
            "parameters": [TASK_ID],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("SiteReport")}}},
            "responses": {"200": _json(_ref("FieldJob"), "已到达"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/fieldjobs/{task_id}/check-out": {
        "post": {
            "operationId": "checkOutFieldJob",
            "summary": "作业结束（第二次电话汇报）",
            "description": "之后方可办理该任务；同时生成客户回访。",
            "tags": ["现场作业"],
            "parameters": [TASK_ID],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("SiteReport")}}},
            "responses": {"200": _json(_ref("FieldJob"), "已结束"), **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "本文档（OpenAPI 3.1）",
            "tags": ["说明"],
            "security": [],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 文档")},
        },
    },
    "/docs": {
        "get": {
            "operationId": "getDocs",
            "summary": "接口说明页面",
            "tags": ["说明"],
            "security": [],
            "responses": {"200": {"description": "HTML 页面",
                                  "content": {"text/html": {"schema": {"type": "string"}}}}},
        },
    },
}


# ----------------------------------------------------------------------------- policy clocks (时限), first contact

SCHEMAS.update({
    "Clock": {
        "type": "object",
        "description": "申请的一项时限（按规定口径计时）的一轮：起算、暂停、止算、已用工作日、截止时间、状态",
        "required": ["key", "name", "kind", "round", "status", "status_name", "started_at", "stopped_at", "pauses",
                     "used_days", "limit", "unit", "limit_source", "deadline", "overdue", "provisional",
                     "forecast_days", "risk"],
        "properties": {
            "key": {"type": "string", "description": "时限标识（流程图 policyClock.<标识>）"},
            "name": {"type": "string", "description": "时限名称"},
            "kind": {"type": "string", "enum": ["limit", "validity"], "description": "办理时限或有效期"},
            "round": {"type": "integer", "minimum": 1, "description": "第几轮（重新报送、报验后重新起算）"},
            "status": {"type": "string", "enum": ["running", "paused", "met", "missed", "ended"]},
            "status_name": {"type": "string", "description": "状态的中文说明"},
            "started_at": _datetime("起算时间"),
            "stopped_at": _datetime("止算时间", nullable=True),
            "pauses": {"type": "array", "description": "暂停计时（客户办理中、申请暂停）", "items": {
                "type": "object", "required": ["start", "end", "reason"],
                "properties": {"start": _datetime("开始"), "end": _datetime("结束", nullable=True),
                               "reason": {"type": "string", "enum": ["customer", "suspended"]}}}},
            "used_days": _nullable("integer", "已用工作日（有效期为 null）"),
            "limit": _nullable("integer", "时限（工作日；有效期为月数）"),
            "unit": {"type": "string", "description": "时限单位"},
            "limit_source": {"type": "string", "enum": ["diagram", "override"], "description": "流程图或本单位规定"},
            "deadline": _datetime("截止时间（暂停中为 null）", nullable=True),
            "overdue": {"type": "boolean", "description": "在计且已过截止时间"},
            "provisional": {"type": "boolean", "description": "按暂定日历（调休未公布）计算"},
            "forecast_days": {"type": ["number", "null"], "description": "预计还需的工作日"},
            "risk": {"type": ["number", "null"], "minimum": 0, "maximum": 1, "description": "超期风险"},
        },
    },
    "Clocks": {
        "type": "object",
        "required": ["app_no", "clocks", "first_contact"],
        "properties": {
            "app_no": {"type": "string"},
            "clocks": {"type": "array", "items": _ref("Clock")},
            "first_contact": {
                "type": "object", "required": ["at", "source", "source_name", "lag_days"],
                "description": "客户首次申请时间及其依据（防体外循环）",
                "properties": {"at": _datetime("客户首次申请时间", nullable=True),
                               "source": {"type": ["string", "null"],
                                          "enum": ["api", "customer_page", "customer_reply", "clerk", None]},
                               "source_name": {"type": "string"},
                               "lag_days": _nullable("integer", "受理滞后的工作日")},
            },
        },
    },
    "FirstContactReply": {
        "type": "object",
        "description": "客户回复受理通知（短信渠道）时告知的首次申请日期",
        "required": ["date"],
        "additionalProperties": False,
        "properties": {"date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$",
                                "description": "客户首次提出申请的日期（年-月-日），不能晚于受理日期"}},
    },
    "FirstContactRecorded": {
        "type": "object",
        "required": ["app_no", "first_contact_at", "source"],
        "properties": {"app_no": {"type": "string"}, "first_contact_at": _datetime("记录的首次申请时间"),
                       "source": {"type": "string", "enum": ["customer_reply"]}},
    },
})

PATHS.update({
    "/applications/{app_no}/clocks": {
        "get": {
            "operationId": "getApplicationClocks",
            "summary": "查询申请的时限",
            "description": "各项时限（自受理、客户报送或报验起算，客户办理与暂停期间不计）及预测，和客户首次申请时间的依据。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "responses": {"200": _json(_ref("Clocks"), "时限"), **_errors(400, 401, 404)},
        },
    },
    "/applications/{app_no}/first-contact": {
        "post": {
            "operationId": "recordFirstContact",
            "summary": "记录客户回复的申请日期",
            "description": "短信渠道收到客户对受理通知的回复后调用：记录客户本人告知的首次申请日期（只能记录一次；"
                           "晚于受理日期或将来的日期会被拒绝）。",
            "tags": ["申请"],
            "parameters": [APP_NO],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("FirstContactReply")}}},
            "responses": {"200": _json(_ref("FirstContactRecorded"), "已记录"), **_errors(400, 401, 404, 409)},
        },
    },
})


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of /api/v1."""
    return copy.deepcopy({
        "openapi": "3.1.0",
        "info": {
            "title": "业扩报装 API",
            "version": "1.0.0",
            "description": "供网上国网、95598 等渠道受理申请、查询进度、办理任务。令牌以其所属用户的身份操作，"
                           "角色检查与网页端相同。签发令牌：baozhuang token 用户名 --name 渠道名。",
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "申请"}, {"name": "任务"}, {"name": "现场作业"}, {"name": "说明"}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "Authorization: Bearer <令牌>"}},
            "schemas": SCHEMAS,
            "responses": RESPONSES,
        },
    })


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """Every (METHOD, full path, operation) of the document, in order: for the docs page."""
    return [(method.upper(), API_PREFIX + path, op)
            for path, item in PATHS.items() for method, op in item.items() if method in METHODS]
