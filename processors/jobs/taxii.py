"""The alert service's TAXII jobs: publish the shared cases, pull remote collections.

Every CHECK_SECONDS each: `publish.sync` (TaxiiPublishJob), and each pull source of
taxii.yaml whose interval has passed (TaxiiPullJob, processors/taxii/pull.py). A failed
pull is recorded with its reason in `taxii_pulls` and retried at the next interval; the
file of the last good pull stays, so a centre that is down never empties the indicator
lists.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from config.secret_ref import SecretMissing
from processors.alerts.exports.stix import soc_identity
from processors.taxii import publish
from processors.taxii.config import PullSource, TaxiiConfig
from processors.taxii.pull import PullError, PullResult, due, pull
from store import rule_generation
from store import taxii as store

if TYPE_CHECKING:
    from config.settings import Settings

log = logging.getLogger(__name__)

CHECK_SECONDS = 60.0


def pull_source(
    conn: psycopg.Connection, settings: Settings, source: PullSource, now: datetime
) -> PullResult | None:
    """One pull, recorded; None when it failed (the reason is in taxii_pulls.error)."""
    try:
        password = source.password.resolve(settings) if source.password else None
        result = pull(source, password, Path(settings.indicators), now=now)
    except (PullError, SecretMissing, OSError) as error:
        log.warning("TAXII pull %s failed: %s", source.name, error)
        store.record_pull(conn, source.name, now, error=str(error)[:500])
        return None
    store.record_pull(
        conn,
        source.name,
        now,
        indicators=result.indicators,
        problems=result.problems,
        digest=result.digest,
    )
    if result.changed:
        generation = rule_generation.announce(conn, f"taxii-pull:{source.name}")
        log.info(
            "TAXII pull %s: %d indicator value(s), %d not usable; rule generation %d",
            source.name, result.indicators, result.problems, generation,
        )  # fmt: skip
    return result


class TaxiiPublishJob:
    """Shared cases into `taxii_objects`, so their `date_added` is close to when they
    changed even when no consumer is reading. A job of its own: its transaction (and
    the publishing lock) must not last as long as a pull's network requests."""

    def __init__(self, settings: Settings) -> None:
        self.identity = soc_identity(settings.soc_name, settings.soc_province)

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int:
        report = publish.sync(conn, self.identity)
        return report.published + report.withdrawn


class TaxiiPullJob:
    """The pull sources of taxii.yaml whose interval has passed."""

    def __init__(self, settings: Settings, config: TaxiiConfig) -> None:
        self.settings = settings
        self.config = config

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int:
        def last(name: str) -> datetime | None:
            state = store.pull_state(conn, name)
            return state["pulled_at"] if state else None

        pulled = 0
        for source in list(due(self.config.pull, last, now)):
            pulled += pull_source(conn, self.settings, source, now) is not None
        return pulled
