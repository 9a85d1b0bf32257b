"""The outbox dispatcher: send due notifications, mark them sent, retry the rest.

A round reads the due rows and groups them by (channel, group_key); then each group
gets its own transaction: lock the group's rows again with FOR UPDATE SKIP LOCKED (rows
another dispatcher holds, or has sent meanwhile, drop out), send one Notification, mark
the rows sent or schedule their retry, commit. A crash can only catch the one group in
flight: its rows stay pending and go out again (at least once, never lost; receivers
dedupe on the notification id), while every group sent before it is already committed
as sent. Holding the rows' locks while sending is what makes two dispatchers safe.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg

from events.text import clean_text
from processors.alerts import metrics
from processors.alerts.channels import ChannelsConfig, channels_path, load_channels
from processors.alerts.notify import build_notifier
from processors.alerts.notify.base import DeliveryError, Notification, Notifier
from store import outbox as store
from store.outbox import OutboxRow, RetryStatus

if TYPE_CHECKING:
    from config.settings import Settings
    from processors.alerts.channels import Channel

log = logging.getLogger(__name__)

ERROR_CHARS = 500
RECONNECT_SECONDS = 5.0


@dataclass(frozen=True)
class Failure:
    error: str
    retryable: bool


@dataclass
class DispatchReport:
    claimed: int = 0
    groups: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


# --- pure decisions -------------------------------------------------------------------


def group_rows(rows: Sequence[OutboxRow]) -> dict[tuple[str, str], list[OutboxRow]]:
    """(channel, group_key) → rows, in claim order (oldest due first)."""
    groups: dict[tuple[str, str], list[OutboxRow]] = defaultdict(list)
    for row in rows:
        groups[(row.channel, row.group_key)].append(row)
    return dict(groups)


def after_failure(
    attempts: int, failure: Failure, config: ChannelsConfig, now: datetime
) -> tuple[RetryStatus, datetime]:
    """New status and due time of a row whose try number `attempts` just failed."""
    if not failure.retryable or attempts >= config.max_attempts:
        return "failed", now
    return "pending", now + config.backoff(attempts)


# --- one round ------------------------------------------------------------------------


def claim(
    conn: psycopg.Connection,
    now: datetime,
    limit: int,
    channels: Collection[str] | None = None,
) -> list[OutboxRow]:
    return store.claim_due(conn, now, limit, channels)


def deliver(
    channel_name: str,
    rows: Sequence[OutboxRow],
    config: ChannelsConfig,
    notifiers: Mapping[str, Notifier],
) -> Failure | None:
    """Send one group; None when the channel took it. Never raises for the channel's sake."""
    if config.channel(channel_name) is None:
        return Failure(f"unknown channel {channel_name!r} (kênh không có trong cấu hình)", False)
    notification = Notification(
        channel=channel_name,
        group_key=rows[0].group_key,
        payloads=[row.payload for row in rows],
        notification_ids=[row.notification_id for row in rows],
    )
    try:
        notifiers[channel_name].send(notification)
    except DeliveryError as error:
        return Failure(str(error), error.retryable)
    except KeyError:
        return Failure(f"no notifier for channel {channel_name!r}", False)
    except Exception as error:  # a notifier bug must not roll back the groups already sent
        log.exception("channel %s: notifier raised", channel_name)
        return Failure(f"notifier error: {error!r}", True)
    return None


def dispatch_once(
    conn: psycopg.Connection,
    config: ChannelsConfig,
    notifiers: Mapping[str, Notifier],
    *,
    now: datetime | None = None,
    limit: int = 200,
    channels: Collection[str] | None = None,
) -> DispatchReport:
    """One round over due rows (at most `limit`); `channels` restricts it to those names,
    e.g. a dispatcher per slow channel so it cannot hold up the others."""
    now = now or datetime.now(UTC)
    report = DispatchReport()
    with conn.transaction():
        rows = claim(conn, now, limit, channels)
    for (channel_name, _), candidates in group_rows(rows).items():
        outcomes: Counter[tuple[str, str]] = Counter()
        with conn.transaction():
            group = _relock(conn, candidates, now)
            if not group:
                continue
            report.claimed += len(group)
            report.groups += 1
            failure = deliver(channel_name, group, config, notifiers)
            _record(conn, group, failure, config, now, report, outcomes)
        # Counted only once committed: a rolled-back group delivered nothing durable.
        _count(outcomes)
    return report


def _relock(
    conn: psycopg.Connection, candidates: Sequence[OutboxRow], now: datetime
) -> list[OutboxRow]:
    """The candidates still pending and due that no other dispatcher holds, locked."""
    locked = store.lock_still_due(conn, [row.id for row in candidates], now)
    return [row for row in candidates if row.id in locked]


def _record(
    conn: psycopg.Connection,
    group: Sequence[OutboxRow],
    failure: Failure | None,
    config: ChannelsConfig,
    now: datetime,
    report: DispatchReport,
    outcomes: Counter[tuple[str, str]],
) -> None:
    channel = group[0].channel
    if failure is None:
        store.mark_sent(conn, [row.id for row in group])
        report.sent += len(group)
        outcomes[(channel, "sent")] += len(group)
        return
    error = clean_text(failure.error, ERROR_CHARS)
    log.warning("channel %s, group %s: %s", channel, group[0].group_key, error)
    report.errors.append(f"{channel}: {error}")
    updates: list[store.Retry] = []
    for row in group:
        status, due_at = after_failure(row.attempts + 1, failure, config, now)
        updates.append(store.Retry(row.id, status, due_at, error))
        report.failed += status == "failed"
        report.retried += status == "pending"
        outcomes[(channel, "failed" if status == "failed" else "retried")] += 1
    store.record_failures(conn, updates)


def _count(outcomes: Counter[tuple[str, str]]) -> None:
    counters = {
        "sent": metrics.NOTIFICATIONS_SENT,
        "retried": metrics.NOTIFICATIONS_RETRIED,
        "failed": metrics.NOTIFICATIONS_FAILED,
    }
    for (channel, outcome), n in outcomes.items():
        counters[outcome].labels(channel=channel).inc(n)


# --- the long-running service ---------------------------------------------------------


class LazyNotifiers(Mapping[str, "Notifier"]):
    """Notifiers built on first use, one per configured channel.

    Building can fail (a broker down, a secret missing): that becomes a retryable
    DeliveryError for the group at hand, and the next round tries to build again.
    """

    def __init__(
        self,
        config: ChannelsConfig,
        build: Callable[[Channel], Notifier],
    ) -> None:
        self._config = config
        self._build = build
        self._built: dict[str, Notifier] = {}

    def __getitem__(self, name: str) -> Notifier:
        if name in self._built:
            return self._built[name]
        channel = self._config.channel(name)
        if channel is None:
            raise KeyError(name)
        try:
            notifier = self._build(channel)
        except Exception as error:
            raise DeliveryError(f"channel {name} cannot start: {error}", retryable=True) from error
        self._built[name] = notifier
        return notifier

    def __iter__(self) -> Iterator[str]:
        return iter([c.name for c in self._config.channels])

    def __len__(self) -> int:
        return len(self._config.channels)

    @property
    def built(self) -> list[str]:
        """Names of the channels with a live notifier."""
        return sorted(self._built)

    def close(self) -> None:
        for name, notifier in self._built.items():
            try:
                notifier.close()
            except Exception:
                log.exception("channel %s: close failed", name)
        self._built.clear()


class Dispatcher:
    """Runs dispatch rounds on its own connection until told to stop.

    One per thread; several (threads or processes) may run at once.
    """

    def __init__(
        self,
        dsn: str,
        config: ChannelsConfig,
        *,
        app: Settings | None = None,
        limit: int = 200,
        channels: Collection[str] | None = None,
    ) -> None:
        self.dsn = dsn
        self.config = config
        self.limit = limit
        self.channels = channels
        self.notifiers = LazyNotifiers(config, lambda channel: build_notifier(channel, app))

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Dispatcher:
        config = load_channels(channels_path(settings))
        return cls(settings.dsn(), config, app=settings, **kwargs)

    def dispatch_once(
        self, conn: psycopg.Connection, now: datetime | None = None
    ) -> DispatchReport:
        return dispatch_once(
            conn, self.config, self.notifiers, now=now, limit=self.limit, channels=self.channels
        )

    def run(self, stop_event: threading.Event, interval: float = 1.0) -> None:
        """Dispatch every `interval` seconds (at once again while a backlog fills whole
        rounds); survives the database going away; closes the notifiers on the way out."""
        try:
            while not stop_event.is_set():
                try:
                    with psycopg.connect(self.dsn, autocommit=True) as conn:
                        self._rounds(conn, stop_event, interval)
                except psycopg.OperationalError as error:
                    log.warning("dispatcher: database unavailable: %s", error)
                    stop_event.wait(RECONNECT_SECONDS)
        finally:
            self.close()

    def _rounds(
        self, conn: psycopg.Connection, stop_event: threading.Event, interval: float
    ) -> None:
        while not stop_event.is_set():
            report = self.dispatch_once(conn)
            if report.claimed < self.limit:
                stop_event.wait(interval)

    def close(self) -> None:
        self.notifiers.close()
