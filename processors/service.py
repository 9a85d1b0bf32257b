"""`ioc alerts run`: the alert service — outbox delivery plus the timed jobs.

Event-driven detection happens in the ingest workers, inside each batch's transaction
(processors/runner.py). What no event triggers happens here: a device that went silent,
an hour that closed (AQI, QCVN means), a minute that closed (counting-line counts and
ANPR speeds as readings), an alert nobody acknowledged, state nobody touched for long,
rows past their retention (plain PostgreSQL; plate reads on both engines). Every job takes its own
advisory lock, so running several alert services (for availability) never runs a job
twice at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from prometheus_client import Gauge, start_http_server

from config.settings import Settings
from control.service import CommandService
from processors import state as state_store
from processors.alerts.channels import ChannelsConfig, channels_path, load_channels
from processors.alerts.dispatch import Dispatcher
from processors.alerts.manager import AlertManager
from processors.cases.job import CHECK_SECONDS as CASE_GROUPING_SECONDS
from processors.cases.job import CaseGroupingJob
from processors.catalog import build_runner, load_detectors
from processors.environment.engine import RuleBook
from processors.jobs.air import AirQualityJob
from processors.jobs.base import run_exclusive
from processors.jobs.credentials import CHECK_SECONDS, CredentialExpiryJob
from processors.jobs.detector_ticks import TICK_SECONDS, DetectorTicksJob
from processors.jobs.line_counts import LineCountsJob
from processors.jobs.log_sources import CHECK_SECONDS as LOG_SOURCE_SECONDS
from processors.jobs.log_sources import LogSourcesJob
from processors.jobs.offline import OfflineJob
from processors.jobs.plate_retention import CHECK_SECONDS as PLATE_RETENTION_SECONDS
from processors.jobs.plate_retention import PlateRetentionJob
from processors.jobs.public_warnings import CHECK_SECONDS as PUBLIC_WARNING_SECONDS
from processors.jobs.public_warnings import PublicWarningsJob
from processors.jobs.renotify import renotify_due
from processors.jobs.reports import CHECK_SECONDS as REPORT_SECONDS
from processors.jobs.reports import ReportsJob
from processors.jobs.taxii import CHECK_SECONDS as TAXII_SECONDS
from processors.jobs.taxii import TaxiiPublishJob, TaxiiPullJob
from processors.reports.config import load_reports_config
from processors.taxii.config import config_path as taxii_config_path
from processors.taxii.config import load_config as load_taxii_config
from store import alert_pruning, plate_audit, retention, rule_generation

log = logging.getLogger(__name__)

READY = Gauge("ioc_alerts_ready", "1 while the alert service runs its jobs and dispatcher")
# State untouched this long belongs to windows that closed long ago.
IDLE_STATE_SECONDS = 7 * 24 * 3600
# Plain PostgreSQL deletes expired rows in bounded runs (store/retention.py): up to
# 2 million rows per table a run, so 12 million an hour at this interval.
RETENTION_CHECK_SECONDS = 600
# A minute's line counts are written within this long of its grace ending.
LINE_COUNT_SECONDS = 15.0

Job = Callable[[psycopg.Connection, datetime], object]


@dataclass
class Scheduled:
    name: str
    every: float
    job: Job
    next_run: float = 0.0
    failures: int = field(default=0)


def build_jobs(settings: Settings, config: ChannelsConfig) -> list[Scheduled]:
    book = RuleBook.load(settings.rules_paths())
    manager = AlertManager(config)
    jobs = [
        Scheduled("offline", settings.offline_check_seconds, OfflineJob(manager, book)),
        Scheduled("air-quality", settings.air_check_seconds, AirQualityJob(manager, book)),
        Scheduled(
            "cleanup", 600, lambda conn, now: state_store.forget_idle(conn, IDLE_STATE_SECONDS)
        ),
        Scheduled("retention", RETENTION_CHECK_SECONDS, retention.prune),
        Scheduled("alert-pruning", RETENTION_CHECK_SECONDS, alert_pruning.prune),
        Scheduled("plate-access-pruning", RETENTION_CHECK_SECONDS, plate_audit.prune),
        Scheduled("credential-expiry", CHECK_SECONDS, CredentialExpiryJob(settings)),
        Scheduled(
            "line-counts",
            LINE_COUNT_SECONDS,
            LineCountsJob.load(settings.camera_registry, lambda: build_runner(settings)),
        ),
        Scheduled(
            "detector-ticks",
            TICK_SECONDS,
            DetectorTicksJob(manager, lambda: load_detectors(settings)),
        ),
        Scheduled(
            "plate-retention",
            PLATE_RETENTION_SECONDS,
            PlateRetentionJob(settings.plate_retention_days, settings.snapshots_path),
        ),
        Scheduled("public-warnings", PUBLIC_WARNING_SECONDS, PublicWarningsJob(settings)),
        Scheduled("case-grouping", CASE_GROUPING_SECONDS, CaseGroupingJob()),
        Scheduled(
            "log-sources",
            LOG_SOURCE_SECONDS,
            LogSourcesJob.load(manager, settings.agencies_file),
        ),
        Scheduled(
            "reports",
            REPORT_SECONDS,
            ReportsJob(settings, config, load_reports_config(settings.reports_file)),
        ),
        Scheduled("taxii-publish", TAXII_SECONDS, TaxiiPublishJob(settings)),
        Scheduled(
            "taxii-pull",
            TAXII_SECONDS,
            TaxiiPullJob(settings, load_taxii_config(taxii_config_path(settings))),
        ),
    ]
    if config.renotify_interval_seconds > 0:
        interval = timedelta(seconds=config.renotify_interval_seconds)
        jobs.append(
            Scheduled(
                "renotify",
                settings.renotify_check_seconds,
                lambda conn, now: renotify_due(conn, now, config, interval),
            )
        )
    return jobs


def run_jobs_once(conn: psycopg.Connection, jobs: list[Scheduled], now: float) -> None:
    for scheduled in jobs:
        if now < scheduled.next_run:
            continue
        scheduled.next_run = now + scheduled.every
        try:
            run_exclusive(conn, scheduled.name, scheduled.job, datetime.now(UTC))
            scheduled.failures = 0
        except psycopg.OperationalError:
            raise
        except Exception:  # one failing job must not stop the others or delivery
            scheduled.failures += 1
            log.exception("job %s failed (%d in a row)", scheduled.name, scheduled.failures)


def start_jobs(settings: Settings, config: ChannelsConfig) -> tuple[int | None, list[Scheduled]]:
    """The jobs and the rule generation they were built at, read before building: a
    reload announced meanwhile is newer, and the first `_reloaded` builds it."""
    generation = rule_generation.read(settings.dsn())
    return generation, build_jobs(settings, config)


def _reloaded(
    conn: psycopg.Connection,
    settings: Settings,
    config: ChannelsConfig,
    seen: int | None,
    jobs: list[Scheduled],
) -> tuple[int, list[Scheduled]]:
    """Rebuild the jobs after `ioc rules reload`; on a bad pack keep the running ones.
    `seen` None (the generation was unknown at the build) rebuilds: rules of unknown
    age are never taken for the current ones."""
    generation = rule_generation.current(conn)
    if generation == seen:
        return generation, jobs
    try:
        fresh = build_jobs(settings, config)
    except Exception as error:
        log.error("rule reload %d failed, running rules stay in force: %s", generation, error)
        return generation, jobs
    log.info("rules reloaded (generation %d)", generation)
    return generation, fresh


def run(settings: Settings, metrics_port: int) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if metrics_port:
        start_http_server(metrics_port, addr=settings.bind_host)
    config = load_channels(channels_path(settings))
    dispatcher = Dispatcher(settings.dsn(), config, app=settings)
    # A due-row check is one index probe: polling often keeps delivery latency low.
    sender = threading.Thread(target=dispatcher.run, args=(stop, 0.2), name="dispatcher")
    sender.start()
    # Device commands (control/): queued → the broker, acknowledgements → the database.
    commands = threading.Thread(target=CommandService(settings).run, args=(stop,), name="commands")
    commands.start()
    generation, jobs = start_jobs(settings, config)
    log.info("alert service running: dispatcher and jobs %s", [j.name for j in jobs])
    while not stop.is_set():
        try:
            with psycopg.connect(settings.dsn(), autocommit=True) as conn:
                while not stop.is_set():
                    READY.set(1 if sender.is_alive() else 0)
                    generation, jobs = _reloaded(conn, settings, config, generation, jobs)
                    run_jobs_once(conn, jobs, time.monotonic())
                    stop.wait(1.0)
        except psycopg.OperationalError as error:
            READY.set(0)
            log.warning("alert service: database unavailable: %s", error)
            stop.wait(5)
    READY.set(0)
    sender.join(30)
    commands.join(30)
    return 0
