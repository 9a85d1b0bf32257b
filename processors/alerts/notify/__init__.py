"""Notifier registry: one subpackage per channel type (after Alertmanager's notify/).

Every subpackage exports NOTIFIER, a class with a `kind` string and a `Config` model of
its settings. Discovery walks this package, so a new channel type is a new folder and
nothing else changes: not this file, not the channels loader, not the dispatcher.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

from processors.alerts.notify.base import (
    DeliveryError,
    Notification,
    Notifier,
    NotifierConfig,
    NotifierType,
)

if TYPE_CHECKING:
    from config.settings import Settings
    from processors.alerts.channels import Channel

__all__ = [
    "DeliveryError",
    "Notification",
    "Notifier",
    "NotifierConfig",
    "NotifierType",
    "build_notifier",
    "discover",
    "known_kinds",
    "notifier_type",
]


def discover(package: str, paths: Iterable[str]) -> dict[str, NotifierType]:
    """kind → NOTIFIER for every subpackage of `package` found on `paths`."""
    found: dict[str, NotifierType] = {}
    for module_info in pkgutil.iter_modules(list(paths)):
        if not module_info.ispkg:
            continue
        module = importlib.import_module(f"{package}.{module_info.name}")
        notifier = getattr(module, "NOTIFIER", None)
        if notifier is None:
            raise ImportError(f"{module.__name__} has no NOTIFIER; every notifier folder needs one")
        if notifier.kind in found:
            raise ImportError(f"notifier kind {notifier.kind!r} is defined twice")
        found[notifier.kind] = notifier
    return found


@cache
def _registry() -> dict[str, NotifierType]:
    return discover(__name__, __path__)


def known_kinds() -> list[str]:
    return sorted(_registry())


def notifier_type(kind: str) -> NotifierType:
    try:
        return _registry()[kind]
    except KeyError:
        known = ", ".join(known_kinds())
        raise ValueError(f"unknown channel type {kind!r}; known types: {known}") from None


def build_notifier(channel: Channel, app: Settings | None = None) -> Notifier:
    """A live notifier for one configured channel; `app` defaults to the process settings."""
    if app is None:
        from config.settings import get_settings

        app = get_settings()
    return notifier_type(channel.type)(channel.name, channel.settings, app)
