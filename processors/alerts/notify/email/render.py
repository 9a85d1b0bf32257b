"""One group's notifications as one e-mail: Vietnamese first, English after. Pure.

Everything shown comes through clean_text: security alerts quote attacker-chosen text
(user names, URLs), and a control character must neither break a header nor rewrite
the reader's terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from config.timezone import LOCAL_TZ
from events.alerts import Severity
from events.text import clean_text
from processors.alerts.notify.base import Notification, Payload

SUBJECT_TITLE_CHARS = 120
FIELD_CHARS = 500

SEVERITY_VI = {
    "info": "thông tin",
    "low": "thấp",
    "medium": "trung bình",
    "high": "cao",
    "critical": "nghiêm trọng",
}
KIND_VI = {
    "fired": "Cảnh báo mới",
    "escalated": "Tăng mức độ",
    "deescalated": "Giảm mức độ",
    "resolved": "Đã kết thúc",
    "acknowledged": "Đã tiếp nhận",
    "renotify": "Nhắc lại",
}
KIND_EN = {
    "fired": "New alert",
    "escalated": "Escalated",
    "deescalated": "De-escalated",
    "resolved": "Resolved",
    "acknowledged": "Acknowledged",
    "renotify": "Reminder",
}
DOMAIN_VI = {
    "environment": "môi trường",
    "security": "an toàn thông tin",
    "camera": "camera",
    "health": "tình trạng hệ thống",
    "plates": "biển số theo dõi",
    "pests": "sâu bệnh hại lúa",
    "epidemics": "dịch bệnh",
}
STATUS_VI = {"firing": "đang diễn ra", "acknowledged": "đã tiếp nhận", "resolved": "đã kết thúc"}


def _text(value: object, limit: int = FIELD_CHARS) -> str:
    return clean_text(str(value), limit)


def _worst(payloads: Sequence[Payload]) -> str:
    return Severity(max(int(p["alert"]["severity"]) for p in payloads)).label


def subject(notification: Notification, prefix: str) -> str:
    payloads = notification.payloads
    worst = _worst(payloads)
    if len(payloads) == 1:
        alert, kind = payloads[0]["alert"], str(payloads[0]["kind"])
        vi = f"{KIND_VI.get(kind, kind)} [{SEVERITY_VI[worst]}]: {alert['title_vi']}"
        en = f"{KIND_EN.get(kind, kind)} [{worst}]: {alert['title_en']}"
    else:
        rule = payloads[0]["alert"]["rule"]
        vi = f"{len(payloads)} thông báo cảnh báo [{SEVERITY_VI[worst]}]: {rule}"
        en = f"{len(payloads)} alert notifications [{worst}]: {rule}"
    return _text(f"{prefix} {_text(vi, SUBJECT_TITLE_CHARS)} | {_text(en, SUBJECT_TITLE_CHARS)}")


def _pairs(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(mapping.items())) or "—"


def _vietnam_time(value: str | None) -> str:
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(value).astimezone(LOCAL_TZ)
    except ValueError:
        return _text(value)
    return moment.strftime("%H:%M:%S %d/%m/%Y") + " (giờ Việt Nam, UTC+7)"


def _block_vi(index: int, payload: Payload) -> list[str]:
    alert, kind = payload["alert"], str(payload["kind"])
    lines = [
        f"{index}. [{SEVERITY_VI.get(alert['severity_label'], alert['severity_label']).upper()}]"
        f" {KIND_VI.get(kind, kind)}: {_text(alert['title_vi'])}",
    ]
    if alert.get("summary_vi"):
        lines.append(f"   Tóm tắt: {_text(alert['summary_vi'])}")
    lines += [
        f"   Lĩnh vực: {DOMAIN_VI.get(alert['domain'], alert['domain'])}"
        f" · Quy tắc: {_text(alert['rule'])}"
        f" · Trạng thái: {STATUS_VI.get(alert['status'], alert['status'])}",
        f"   Đối tượng: {_text(_pairs(alert.get('labels') or {}))}",
        f"   Giá trị: {_text(_pairs(alert.get('values') or {}))}",
        f"   Bắt đầu: {_vietnam_time(alert.get('started_at'))}",
    ]
    if alert.get("resolved_at"):
        lines.append(f"   Kết thúc: {_vietnam_time(alert['resolved_at'])}")
    lines.append(f"   Mã thông báo: {payload['notification_id']}")
    return lines


def _block_en(index: int, payload: Payload) -> list[str]:
    alert, kind = payload["alert"], str(payload["kind"])
    lines = [
        f"{index}. [{str(alert['severity_label']).upper()}] {KIND_EN.get(kind, kind)}:"
        f" {_text(alert['title_en'])}",
    ]
    if alert.get("summary_en"):
        lines.append(f"   Summary: {_text(alert['summary_en'])}")
    lines += [
        f"   Domain: {alert['domain']} · Rule: {_text(alert['rule'])} · Status: {alert['status']}",
        f"   Labels: {_text(_pairs(alert.get('labels') or {}))}",
        f"   Values: {_text(_pairs(alert.get('values') or {}))}",
        f"   Started: {alert.get('started_at') or '—'}",
    ]
    if alert.get("resolved_at"):
        lines.append(f"   Resolved: {alert['resolved_at']}")
    lines.append(f"   Notification id: {payload['notification_id']}")
    return lines


def body(notification: Notification) -> str:
    payloads = notification.payloads
    lines = [f"Trung tâm IOC — {len(payloads)} thông báo cảnh báo", ""]
    for i, payload in enumerate(payloads, 1):
        lines += [*_block_vi(i, payload), ""]
    lines += ["— English —", "", f"IOC centre — {len(payloads)} alert notification(s)", ""]
    for i, payload in enumerate(payloads, 1):
        lines += [*_block_en(i, payload), ""]
    lines.append("Thư tự động, xin đừng trả lời. / Automatic message, please do not reply.")
    return "\n".join(lines) + "\n"


def render(
    notification: Notification,
    sender: str,
    recipients: Sequence[str],
    prefix: str,
    now: datetime,
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject(notification, prefix)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="ioc.alerts")
    # RFC 3834: tells vacation responders not to answer an automatic message.
    message["Auto-Submitted"] = "auto-generated"
    # ", " rather than ",": a long list must fold at whitespace to stay a legal header.
    message["X-IOC-Notification-Ids"] = ", ".join(notification.notification_ids)
    message.set_content(body(notification), charset="utf-8")
    return message
