"""`ioc rules reload` reaching rules loaded just before it (store/rule_generation.py): the
detector runner (processors/catalog.build_runner) and the alert service's jobs
(processors/service.py) record the generation read before they load, so a reload
announced while or just after they load is newer at their first check and loaded then;
rules of unknown age (the database could not say at start) are reloaded too, and rules
whose generation is known and unchanged are not loaded a second time."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from config.settings import Settings
from events.models import Measurement
from processors.alerts.channels import channels_path, load_channels
from processors.alerts.manager import AlertManager
from processors.catalog import build_runner
from processors.environment.detector import EnvironmentDetector
from processors.environment.engine import RuleBook
from processors.jobs.offline import OfflineJob
from processors.runner import DetectorRunner, DetectorSet
from processors.service import Scheduled, _reloaded, start_jobs
from store import rule_generation
from store.writer import Batch, BatchWriter
from tests.integration.stub_routing import StubRouting

pytestmark = pytest.mark.integration

STATION = "test-reload-sal01"  # no row in alarm_levels.yaml: the pack's defaults apply
AT = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
SHIPPED_WATCH = "defaults: {watch: 1.0,"
RAISED_WATCH = "defaults: {watch: 2.0,"  # 1.5 ‰ is below it: no alert


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _clean(conn)
        yield conn
        _clean(conn)


def _clean(conn: psycopg.Connection) -> None:
    conn.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (STATION,))
    conn.execute("DELETE FROM detector_state WHERE key LIKE %s", (f"%|{STATION}|%",))
    conn.execute("DELETE FROM measurements WHERE device_id = %s", (STATION,))
    conn.execute("DELETE FROM device_last_seen WHERE device_id = %s", (STATION,))


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the environment packs, with the tables beside them they refer to."""
    folder = tmp_path / "rules"
    shutil.copytree(Path("processors/environment/rules"), folder)
    for table in Path("processors/environment").glob("*.yaml"):
        shutil.copy(table, tmp_path / table.name)
    return folder


def _edit(pack: Path, old: str, new: str) -> None:
    text = pack.read_text()
    assert old in text
    pack.write_text(text.replace(old, new, 1))


def _salinity(conn: psycopg.Connection, runner: DetectorRunner, value: float) -> list[int]:
    reading = Measurement(time=AT, device_id=STATION, metric="salinity", value=value)
    BatchWriter(conn, runner).write(Batch(measurements=[reading]))
    rows = conn.execute(
        "SELECT severity FROM alerts WHERE labels->>'device_id' = %s", (STATION,)
    ).fetchall()
    return [row[0] for row in rows]


def test_a_reload_announced_before_the_first_batch_is_run_by_it(
    conn: psycopg.Connection, settings: Settings, rules: Path
) -> None:
    _edit(rules / "salinity.yaml", SHIPPED_WATCH, RAISED_WATCH)
    runner = build_runner(settings.model_copy(update={"env_rules": str(rules)}))

    # The operator lowers the watch line back and reloads before any batch arrives.
    _edit(rules / "salinity.yaml", RAISED_WATCH, SHIPPED_WATCH)
    rule_generation.announce(conn, "test")

    assert _salinity(conn, runner, 1.5) == [2]  # watch, by the reloaded pack


class CountingLoad:
    def __init__(self, rules: Path) -> None:
        self.rules = rules
        self.calls = 0

    def __call__(self) -> DetectorSet:
        self.calls += 1
        return DetectorSet(measurements=[EnvironmentDetector(RuleBook.load([self.rules]))])


def test_a_known_unchanged_generation_loads_once_an_unknown_one_reloads(
    conn: psycopg.Connection, rules: Path
) -> None:
    now = 100.0  # the runner's clock, fixed: the first batch checks the generation
    known, unknown = CountingLoad(rules), CountingLoad(rules)
    DetectorRunner(
        AlertManager(StubRouting()),
        known,
        generation=lambda: rule_generation.current(conn),
        clock=lambda: now,
    ).process(conn, Batch())
    DetectorRunner(
        AlertManager(StubRouting()),
        unknown,
        generation=lambda: rule_generation.read("postgresql://127.0.0.1:1/unreachable"),
        clock=lambda: now,
    ).process(conn, Batch())
    assert (known.calls, unknown.calls) == (1, 2)


def test_the_alert_service_rebuilds_jobs_for_a_reload_announced_while_they_were_built(
    conn: psycopg.Connection, settings: Settings, rules: Path
) -> None:
    settings = settings.model_copy(update={"env_rules": str(rules)})
    config = load_channels(channels_path(settings))
    _edit(rules / "health.yaml", "\n    after: 3\n", "\n    after: 5\n")
    generation, jobs = start_jobs(settings, config)
    assert _offline_after(jobs) == [5.0]

    _edit(rules / "health.yaml", "\n    after: 5\n", "\n    after: 3\n")
    rule_generation.announce(conn, "test")

    _, jobs = _reloaded(conn, settings, config, generation, jobs)
    assert _offline_after(jobs) == [3.0]


def _offline_after(jobs: list[Scheduled]) -> list[float]:
    (offline,) = [s.job for s in jobs if isinstance(s.job, OfflineJob)]
    return [rule.after for rule in offline.rules]
