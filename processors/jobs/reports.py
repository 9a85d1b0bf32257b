"""Leadership reports, built when their period has closed, archived and mailed.

Checked every CHECK_SECONDS. For each period kind of reports.yaml the newest closed
period (and up to `catch_up` before it, after an outage) is built once it closed
`build_after_minutes` ago and has no archived report yet — one report per run, so a
long catch-up never holds the job's lock for long. Then every recent archived report
that no mail server took is (re)sent. Building and recording the delivery happen in the
job's transaction; a crash after the mail left and before the commit sends it again
(at least once, as for alerts: the mail carries X-IOC-Report to dedupe on).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import psycopg

from processors.alerts.channels import ChannelsConfig
from processors.alerts.notify.base import DeliveryError
from processors.reports import delivery
from processors.reports.build import archive, build
from processors.reports.config import ReportsConfig
from processors.reports.period import Period, last_closed, period_of
from processors.reports.security import load_security
from store import reports as report_store

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger(__name__)

CHECK_SECONDS = 600.0
RESEND_WITHIN = timedelta(days=3)


def due_periods(config: ReportsConfig, now: datetime) -> list[Period]:
    """Closed periods, newest first, whose build time has come (pure)."""
    wait = timedelta(minutes=config.build_after_minutes)
    due = []
    for kind in config.periods:
        period = last_closed(kind, now - wait)
        for _ in range(config.catch_up):
            due.append(period)
            period = period_of(kind, period.first - timedelta(days=1))
    return due


class ReportsJob:
    def __init__(self, settings: Settings, channels: ChannelsConfig, config: ReportsConfig):
        self.settings = settings
        self.config = config
        try:
            self.smtp = delivery.mail_config(channels, config)
        except delivery.NotConfigured as why:
            log.warning("reports are archived but not mailed: %s", why)
            self.smtp = None

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int | None:
        built = None
        for period in due_periods(self.config, now):
            if not report_store.exists(conn, period.kind, period.first):
                # Read at each build, as the detections read it at each rules reload.
                security = load_security(self.settings.security_site, self.settings.agencies_file)
                report = build(conn, period, self.config, now, security)
                built = archive(conn, report)
                log.info("report %s built (id %d)", period.slug, built)
                break
        self._deliver(conn, now)
        return built

    def _deliver(self, conn: psycopg.Connection, now: datetime) -> None:
        if self.smtp is None:
            return
        for row in report_store.undelivered(conn, now - RESEND_WITHIN):
            period = period_of(row["period"], row["period_start"])
            try:
                delivery.send(
                    self.smtp, self.settings, self.config, period, row["id"], row["pdf"], now
                )
            except DeliveryError as error:
                log.warning("report %d not delivered: %s", row["id"], error)
                report_store.mark_delivered(conn, row["id"], str(error)[:500])
                continue
            report_store.mark_delivered(conn, row["id"], None)
