"""Send one group as one e-mail over SMTP (smtplib), STARTTLS and login if configured.

A session per group: alerts are rare next to an SMTP server's idle timeout, and a fresh
connection cannot be a stale one. SMTP's own codes say whether to retry: 4xx is
"try later", 5xx is "never".
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from config.secret_ref import SecretMissing, SecretRef
from processors.alerts.notify.base import DeliveryError, Notification, NotifierConfig
from processors.alerts.notify.email.render import render

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger(__name__)


def _address(value: str) -> str:
    _, address = parseaddr(value)
    if "@" not in address or any(c in value for c in "\r\n"):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


class EmailConfig(NotifierConfig):
    host: str
    port: int = Field(default=25, gt=0, lt=65536)
    sender: str
    to: tuple[str, ...] = Field(min_length=1)
    starttls: bool = False
    username: str | None = None
    password: SecretRef | None = None  # needed when username is set
    subject_prefix: str = "[IOC]"
    timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(v) for v in value)


def resolve_password(config: EmailConfig, app: Settings) -> str | None:
    if config.username is None:
        return None
    if config.password is None:
        raise SecretMissing(f"SMTP password for {config.username!r} missing: set password")
    return config.password.resolve(app)


def _smtp_retryable(error: smtplib.SMTPException) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(400 <= code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    # Disconnected mid-session is weather; a server without STARTTLS is configuration.
    return not isinstance(error, smtplib.SMTPNotSupportedError)


def send_mail(config: EmailConfig, password: str | None, message: EmailMessage) -> dict[str, Any]:
    """One message in one SMTP session; the recipients refused. Raises DeliveryError.
    Also used by the leadership reports (processors/reports/delivery.py)."""
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds) as smtp:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.username is not None and password is not None:
                smtp.login(config.username, password)
            return dict(smtp.send_message(message))
    except smtplib.SMTPException as error:
        where = f"SMTP {config.host}:{config.port}"
        raise DeliveryError(f"{where}: {error}", retryable=_smtp_retryable(error)) from error
    except OSError as error:
        raise DeliveryError(f"SMTP {config.host}:{config.port}: {error}", retryable=True) from error


class EmailNotifier:
    kind: ClassVar[str] = "email"
    Config: ClassVar[type[NotifierConfig]] = EmailConfig

    def __init__(self, name: str, config: EmailConfig, app: Settings) -> None:
        self.name = name
        self._config = config
        self._password = resolve_password(config, app)

    def send(self, notification: Notification) -> None:
        config = self._config
        message = render(
            notification, config.sender, config.to, config.subject_prefix, datetime.now(UTC)
        )
        refused = send_mail(config, self._password, message)
        if refused:
            # Some recipients have it already; sending again would repeat it to them.
            log.warning("channel %s: recipients refused %s", self.name, sorted(refused))

    def close(self) -> None:
        """Nothing held between sends."""
