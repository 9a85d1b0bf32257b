"""Mail a built report to the configured leaders, PDF attached, through the SMTP
settings of an e-mail channel of deploy/alerts/channels.yaml (host, port, sender,
STARTTLS, login): one mail server configuration for alerts and reports."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from processors.alerts.channels import ChannelsConfig
from processors.alerts.notify.email.notifier import EmailConfig, resolve_password, send_mail
from processors.reports.config import ReportsConfig
from processors.reports.period import Period

if TYPE_CHECKING:
    from config.settings import Settings


class NotConfigured(ValueError):
    """No channel or no recipient: the report is archived, not sent."""


def mail_config(channels: ChannelsConfig, config: ReportsConfig) -> EmailConfig:
    if not config.email_channel or not config.recipients:
        raise NotConfigured("reports.yaml names no email_channel or no recipients")
    channel = channels.channel(config.email_channel)
    if channel is None or not isinstance(channel.settings, EmailConfig):
        raise NotConfigured(f"{config.email_channel!r} is not an e-mail channel of channels.yaml")
    return channel.settings.model_copy(update={"to": config.recipients})


def message(
    smtp: EmailConfig,
    config: ReportsConfig,
    period: Period,
    report_id: int,
    pdf: bytes,
    now: datetime,
) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = (
        f"{config.subject_prefix} Báo cáo tình hình giám sát, điều hành {period.title_vi}"
    )
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(smtp.to)
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = make_msgid(domain="ioc.local")
    # Receivers dedupe on it: delivery is at least once, as for alerts.
    mail["X-IOC-Report"] = f"{report_id} {period.slug}"
    mail.set_content(
        f"Kính gửi {config.recipient_vi},\n\n"
        f"{config.organisation_vi.capitalize()} trân trọng gửi kèm báo cáo tình hình"
        f" giám sát, điều hành {period.title_vi} do hệ thống IOC lập tự động"
        " (tệp PDF đính kèm).\n\n"
        "Báo cáo gồm: môi trường (chất lượng không khí, lũ, xâm nhập mặn), các cảnh báo đã"
        " phát, an toàn thông tin, camera giám sát và tình hình vận hành nền tảng.\n"
        f"Báo cáo được lưu trữ trên hệ thống, số hiệu {report_id}"
        f" (GET /api/v1/reports/{report_id}.pdf).\n\n"
        "Trân trọng.\n\n"
        "--\n"
        f"Leadership report for {period.kind} {period.first.isoformat()} attached (Vietnamese).\n"
    )
    mail.add_attachment(
        pdf, maintype="application", subtype="pdf", filename=f"bao-cao-{period.slug}.pdf"
    )
    return mail


def send(
    smtp: EmailConfig,
    app: Settings,
    config: ReportsConfig,
    period: Period,
    report_id: int,
    pdf: bytes,
    now: datetime,
) -> None:
    """Raises DeliveryError when the mail server does not take it."""
    send_mail(smtp, resolve_password(smtp, app), message(smtp, config, period, report_id, pdf, now))
