"""Customer notifications: a Chinese message per process event, sent through a pluggable Notifier."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from handlers.context import HandlerContext
from handlers.errors import HandlerError
from handlers.labels import ResultField

_LOGGER = logging.getLogger("baozhuang.notify")

# {customer} and {application_no} are filled in; every message names the order so that the
# customer can look it up (办事公开).
MESSAGES: dict[str, str] = {
    "application_accepted": "尊敬的{customer}，您的用电申请（工单号 {application_no}）已受理，"
    "客户经理将与您联系。",
    "documents_required": "尊敬的{customer}，您的申请（工单号 {application_no}）尚需补充资料，"
    "清单已一次性告知，请按清单提交。",
    "manager_assigned": "尊敬的{customer}，您的申请（工单号 {application_no}）已指派客户经理，"
    "将由其全程负责。",
    "survey_scheduled": "尊敬的{customer}，您的申请（工单号 {application_no}）已安排现场勘查，"
    "请保持电话畅通。",
    "supply_plan_reply": "尊敬的{customer}，您的供电方案（工单号 {application_no}）已答复，"
    "请登录查看并确认。",
    "access_scheme_reply": "尊敬的{customer}，您的光伏接入系统方案（工单号 {application_no}）已答复，"
    "请查看并确认。",
    "opinion_letter_issued": "尊敬的{customer}，您的光伏项目（工单号 {application_no}）接入电网意见函已出具。",
    "design_review_result": "尊敬的{customer}，您的设计文件审查（工单号 {application_no}）已有结果，"
    "请登录查看。",
    "inspection_rectification": "尊敬的{customer}，您的工程检验（工单号 {application_no}）发现问题需整改，"
    "整改意见已一次性告知。",
    "inspection_passed": "尊敬的{customer}，您的工程检验（工单号 {application_no}）已通过。",
    "contract_ready": "尊敬的{customer}，您的合同（工单号 {application_no}）已生成，请按约签订。",
    "power_on": "尊敬的{customer}，您的用电工程（工单号 {application_no}）已送电，感谢您的配合。",
    "grid_connected": "尊敬的{customer}，您的光伏项目（工单号 {application_no}）已并网运行。",
    "follow_up": "尊敬的{customer}，关于工单 {application_no} 的服务，我们将进行回访，感谢您的评价。",
}


class Notifier(Protocol):
    """Delivers a message to a recipient and says through which channel."""

    def send(self, recipient: str, message: str) -> str:
        """Deliver ``message`` and return the channel name used."""
        ...


class LogNotifier:
    """The default notifier: writes the message to the "baozhuang.notify" logger."""

    def send(self, recipient: str, message: str) -> str:
        """Log the message and return the channel "log"."""
        _LOGGER.info("通知 %s：%s", recipient, message)
        return "log"


def build_message(ctx: HandlerContext, event: str) -> str:
    """Return the Chinese message for ``event`` about this application."""
    template = MESSAGES.get(event) if isinstance(event, str) else None
    if template is None:
        raise HandlerError(f"未知的通知事件：{event!r}（可用：{'、'.join(MESSAGES)}）", "event")
    customer = ctx.data.get("customer_name") or "客户"
    return template.format(customer=customer, application_no=ctx.application_no)


def make_notify(notifier: Notifier) -> Callable[..., dict[str, Any]]:
    """Return the `notify` operator bound to ``notifier``."""

    def notify(ctx: HandlerContext, event: str, recipient: str) -> dict[str, Any]:
        """Send the customer the message for ``event``; return the channel and the message."""
        if not isinstance(recipient, str) or not recipient.strip():
            raise HandlerError(f"通知接收人不能为空，收到：{recipient!r}", "recipient")
        message = build_message(ctx, event)
        channel = notifier.send(recipient.strip(), message)
        return {"channel": channel, "message": message}

    return notify


RESULT_LABELS = {"channel": ResultField("发送渠道", {"log": "系统日志", "sms": "短信"}), "message": ResultField("内容")}
