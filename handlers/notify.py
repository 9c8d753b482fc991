"""Customer notifications: a Chinese message per process event, handed to the engine to send.

A process sends one with the ``notify`` operator (a service task: the supply plan replied, power on…); the
engine sends others at the moments it watches (acceptance with the document checklist and the qualified
firms list, rectification, contract ready) with :func:`customer_notice`. Either way the message goes through
``ctx.services.send_notice`` — queued in the step's transaction, delivered through a :class:`Notifier` after
the commit — so a re-run or a preview never sends anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from handlers.context import HandlerContext
from handlers.errors import HandlerError
from handlers.labels import ResultField

_LOGGER = logging.getLogger("baozhuang.notify")

SAFETY_ADVICE = ("安全用电提示：请勿私拉乱接电线，不在电力线路保护区内施工、堆物或放风筝；电器不用时及时断电，"
                 "发现漏电、冒烟等异常请先断开电源，由持证电工检修；雷雨天气远离电力设施。")
"""What a customer is told after power on (seed 004: 告知用电注意事项，预留联系电话)."""

FREE_CHOICE = ("根据“三不指定”原则，供电企业不指定设计、施工和设备供应单位，您可自主选择具备相应资质的单位。")
"""The customer's right to choose (seeds 002, 003), stated wherever the firms list is shown."""

# {customer} and {application_no} are filled in, and {hotline}; every message names the order so that the
# customer can look it up (办事公开).
MESSAGES: dict[str, str] = {
    "application_accepted": "尊敬的{customer}，您的用电申请（工单号 {application_no}）已受理。",
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
    "design_rectification": "尊敬的{customer}，您的设计文件（工单号 {application_no}）审查未通过，"
    "请按一次性告知的审查意见修改后重新送审。",
    "inspection_rectification": "尊敬的{customer}，您的工程检验（工单号 {application_no}）发现问题需整改，"
    "整改意见已一次性告知。",
    "inspection_passed": "尊敬的{customer}，您的工程检验（工单号 {application_no}）已通过。",
    "contract_ready": "尊敬的{customer}，您的合同（工单号 {application_no}）已生成，请按约签订。",
    "power_on": "尊敬的{customer}，您的用电工程（工单号 {application_no}）已送电，感谢您的配合。"
    + SAFETY_ADVICE + "如有用电问题请拨打供电服务热线 {hotline}。",
    "grid_connected": "尊敬的{customer}，您的光伏项目（工单号 {application_no}）已并网运行。"
    + SAFETY_ADVICE + "如有问题请拨打供电服务热线 {hotline}。",
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


@dataclass(frozen=True)
class NoticeFacts:
    """What the engine knows at a moment it tells the customer about: the customer manager to call, the
    documents received and still missing (一次性告知), and the qualified firms shown (kind name → firms)."""

    customer: str
    application_no: str
    hotline: str
    manager_name: str = ""
    manager_phone: str = ""
    received: Sequence[str] = ()
    missing: Sequence[str] = ()
    firms: Mapping[str, Sequence[str]] = field(default_factory=dict)


def build_message(ctx: HandlerContext, event: str) -> str:
    """Return the Chinese message for ``event`` about this application."""
    template = MESSAGES.get(event) if isinstance(event, str) else None
    if template is None:
        raise HandlerError(f"未知的通知事件：{event!r}（可用：{'、'.join(MESSAGES)}）", "event")
    customer = ctx.data.get("customer_name") or "客户"
    return template.format(customer=customer, application_no=ctx.application_no, hotline=ctx.settings.service_hotline)


def firms_text(firms: Mapping[str, Sequence[str]]) -> str:
    """The right to choose and the firms shown, e.g. "…设计单位：甲、乙；施工单位：丙、丁。"."""
    listed = "；".join(f"{kind}：{'、'.join(names)}" for kind, names in firms.items() if names)
    return FREE_CHOICE + (f"合格单位名录（轮换公示，仅供参考）：{listed}。" if listed else "")


def customer_notice(event: str, facts: NoticeFacts) -> str:
    """The message of ``event`` with what the engine knows: the checklist at acceptance and when documents are
    missing, the firms list and the right to choose at acceptance, and whom to call."""
    template = MESSAGES.get(event)
    if template is None:
        raise HandlerError(f"未知的通知事件：{event!r}（可用：{'、'.join(MESSAGES)}）", "event")
    parts = [template.format(customer=facts.customer or "客户", application_no=facts.application_no,
                             hotline=facts.hotline)]
    if event in ("application_accepted", "documents_required"):
        if facts.received:
            parts.append(f"已收资料：{'、'.join(facts.received)}。")
        if facts.missing:
            parts.append(f"一次性告知，尚需提交：{'、'.join(facts.missing)}。")
        elif event == "application_accepted":
            parts.append("所需资料已齐全。")
    if event == "application_accepted":
        parts.append(firms_text(facts.firms))
        parts.append("您可凭工单号和联系电话后四位在网上查询办理进度。")
    if facts.manager_name:
        phone = f"（电话 {facts.manager_phone}）" if facts.manager_phone else ""
        parts.append(f"您的客户经理：{facts.manager_name}{phone}，全程为您服务。")
    if event not in ("power_on", "grid_connected"):
        parts.append(f"如有疑问请拨打供电服务热线 {facts.hotline}。")
    return "".join(parts)


def case_answer(kind: str, case_no: str, answer: str, hotline: str) -> str:
    """The answer to a complaint or report, sent to whoever filed it."""
    return (f"您反映的{kind}（编号 {case_no}）已办理完毕。答复：{answer}"
            f"如对答复不满意，可拨打供电服务热线 {hotline} 或 12398 能源监管热线。")


def make_notify() -> Callable[..., dict[str, Any]]:
    """Return the `notify` operator."""

    def notify(ctx: HandlerContext, event: str, recipient: str) -> dict[str, Any]:
        """Send the customer the message for ``event`` ("customer": the registered contact phone); return the
        channel and the message."""
        if not isinstance(recipient, str) or not recipient.strip():
            raise HandlerError(f"通知接收人不能为空，收到：{recipient!r}", "recipient")
        message = build_message(ctx, event)
        to = recipient.strip()
        if to == "customer":
            phone = ctx.data.get("contact_phone")
            to = phone.strip() if isinstance(phone, str) and phone.strip() else to
        channel = ctx.services.send_notice(event, to, message)
        return {"channel": channel, "message": message}

    return notify


RESULT_LABELS = {"channel": ResultField("发送渠道", {"log": "系统日志", "sms": "短信"}), "message": ResultField("内容")}
