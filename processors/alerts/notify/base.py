"""What every notifier keeps to, so the dispatcher can drive any channel the same way.

A notifier gets one Notification (the due outbox rows of one group on one channel) and
either delivers all of it or raises DeliveryError. It never touches the database: the
dispatcher marks rows sent or schedules a retry from the outcome. Delivery is at least
once (a crash between send and commit sends again), so every message carries its
notification ids and receivers dedupe on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from config.settings import Settings

Payload = Mapping[str, Any]


class DeliveryError(Exception):
    """The channel did not take the notification. retryable=False means trying again
    cannot help (a 4xx answer, a refused recipient) and the rows fail at once."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Notification:
    channel: str
    group_key: str
    payloads: Sequence[Payload]
    notification_ids: Sequence[str]

    @property
    def alerts(self) -> list[Payload]:
        return [p["alert"] for p in self.payloads]


class NotifierConfig(BaseModel):
    """Base of every notifier's `settings` block: unknown keys are typos, so refuse them."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Notifier(Protocol):
    def send(self, notification: Notification) -> None:
        """Deliver all of it or raise DeliveryError."""
        ...

    def close(self) -> None: ...


class NotifierType(Protocol):
    """What a notifier folder exports as NOTIFIER: a class with a kind, the model of its
    settings and a constructor. `app` gives defaults such as broker addresses."""

    kind: ClassVar[str]
    Config: ClassVar[type[NotifierConfig]]

    def __call__(self, name: str, config: Any, app: Settings) -> Notifier: ...
