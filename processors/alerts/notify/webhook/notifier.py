"""POST one signed JSON document per group to an HTTP endpoint.

Retrying is the dispatcher's job (through the outbox, so it survives restarts); this
module only says whether another try can help: 5xx, 408, 429 and network errors can,
any other answer cannot (the receiver rejected the request itself).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

import httpx
import orjson
from pydantic import AnyHttpUrl, Field

from config.secret_ref import SecretRef
from processors.alerts.notify.base import DeliveryError, Notification, NotifierConfig
from processors.alerts.notify.webhook.signature import (
    IDS_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)

if TYPE_CHECKING:
    from config.settings import Settings

_RETRYABLE_STATUS = frozenset({408, 429})
# The receiver's answer goes into the outbox's last_error: enough to diagnose, no more.
_ERROR_BODY_CHARS = 200


class WebhookConfig(NotifierConfig):
    url: AnyHttpUrl
    # The HMAC key; by default the service secret webhook_secret (IOC_WEBHOOK_SECRET or
    # the generated secrets file).
    secret: SecretRef = SecretRef(setting="webhook_secret")
    timeout_seconds: float = Field(default=10.0, gt=0)


def render_body(notification: Notification, sent_at: datetime) -> bytes:
    return orjson.dumps(
        {
            "channel": notification.channel,
            "group_key": notification.group_key,
            "sent_at": sent_at.isoformat(),
            "notifications": list(notification.payloads),
        }
    )


def classify(status: int) -> bool | None:
    """None when delivered, else whether a retry can help."""
    if 200 <= status < 300:
        return None
    return status >= 500 or status in _RETRYABLE_STATUS


class WebhookNotifier:
    kind: ClassVar[str] = "webhook"
    Config: ClassVar[type[NotifierConfig]] = WebhookConfig

    def __init__(self, name: str, config: WebhookConfig, app: Settings) -> None:
        self.name = name
        self._url = str(config.url)
        # Errors name the origin only: many webhook URLs carry a token in their path,
        # and errors end up in logs and in the outbox's last_error.
        self._origin = f"{config.url.scheme}://{config.url.host}:{config.url.port}"
        self._secret = config.secret.resolve(app)
        # Redirects are not followed: a signed POST should reach the configured URL only.
        self._client = httpx.Client(timeout=config.timeout_seconds, follow_redirects=False)

    def send(self, notification: Notification) -> None:
        sent_at = datetime.now(UTC)
        body = render_body(notification, sent_at)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body),
            TIMESTAMP_HEADER: str(int(sent_at.timestamp())),
            IDS_HEADER: ",".join(notification.notification_ids),
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook {self._origin}: {error!r}", retryable=True) from error
        retryable = classify(response.status_code)
        if retryable is not None:
            text = response.text[:_ERROR_BODY_CHARS]
            raise DeliveryError(
                f"webhook {self._origin}: HTTP {response.status_code} {text}", retryable=retryable
            )

    def close(self) -> None:
        self._client.close()
