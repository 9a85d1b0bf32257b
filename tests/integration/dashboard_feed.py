"""Two databases fed by `ioc simulate` through the real pipeline, for the dashboard tests.

One TimescaleDB and one plain PostgreSQL database, both scratch databases of the test
cluster (the stack's own database, which other tests truncate, is left alone). Two
`ioc ingest` workers, one per database, each in its own MQTT share group and Kafka
consumer group, so both receive every message of one simulator run:

1. `ioc simulate --backfill 50h --bad-share 0.01` replays the last 50 hours (each
   station every 5 minutes, Frigate's stats snapshot every minute, camera events and
   security logs in their share, 1 % of it malformed on purpose so dead letters exist),
   then streams live briefly. Fifty hours because the AQI job looks back 48 and a daily
   AQI needs one whole local day.
2. The workers store it (detectors and alerts in the batch transactions); the rollups
   are refreshed as their policies / the worker would.
3. `ioc alerts run` against each database computes the hourly and daily AQI, raises the
   offline alerts (the simulator has stopped) and delivers notifications to a webhook.

Time of day changes sensor values (traffic peaks, tides) and so which environmental
alerts fire, but no panel's rows depend on that: readings exist at every hour of the 50,
counts answer one row whatever they count, and the camera and security streams are seeded
sequences whose timing does not follow the clock. The values themselves come from the seed.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import yaml
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from config.secrets import MQTT_INGEST_USER, load_secrets
from config.settings import Settings
from simulators.camera_stats import STATS_INTERVAL_S
from simulators.fleet import load_fleet
from simulators.pacing import parse_duration
from store import rollups
from store.migrate import migrate
from tests.integration.alerting import AlertServiceProcess, WebhookSink, channels_file
from tests.integration.engines import PLAIN, TIMESCALE, scratch_database
from tests.integration.harness import IOC_BIN, TestRoutes, WorkerProcess, forget_mqtt_session

BACKFILL = "50h"
LIVE_SECONDS = 20
RATE = 40  # live messages per second, all streams
# Malformed on purpose, so the dead-letter panel has rows with their reasons: about 1 %.
BAD_SHARE = 0.01
SEED = 2026
INGEST_TIMEOUT_S = 150
JOBS_TIMEOUT_S = 90
DEVICE_COLUMNS = ("id", "type", "province", "district", "name", "lat", "lon",
                  "expected_interval_s", "metadata")  # fmt: skip


@dataclass(frozen=True)
class Fed:
    dsn: dict[str, str]  # engine -> DSN of its database
    data_end: datetime  # when the simulator stopped
    counts: dict[str, dict[str, int]]  # engine -> table -> rows
    malformed: int  # messages the simulator spoiled on purpose


@contextmanager
def fed_databases(settings: Settings, work: Path) -> Iterator[Fed]:
    with ExitStack() as stack:
        sink = WebhookSink()
        stack.callback(sink.close)
        # Workers route new alerts' notifications, the alert services deliver them: both
        # get the same channels, a webhook the test answers.
        channels = channels_file(work, sink.url, smtp_port=1, kafka_topic="unused")
        _webhook_only(channels)
        dsn = {
            TIMESCALE: stack.enter_context(_database(settings, "ioc_dash_ts", TIMESCALE)),
            PLAIN: stack.enter_context(_database(settings, "ioc_dash_plain", PLAIN)),
        }
        workers = {
            engine: stack.enter_context(_worker(settings, work, engine, dsn[engine], channels))
            for engine in dsn
        }
        stack.enter_context(_main_registry_restored(settings))
        data_end, acknowledged, malformed = _simulate(work)
        for worker in workers.values():
            _wait_received(worker, acknowledged)
        counts = {engine: _wait_stored(dsn, engine) for engine in dsn}
        for engine, stored in counts.items():
            # Acknowledged like every message, stored as a dead letter each (no two
            # spoiled messages are equal), and nothing the simulator meant well refused.
            assert stored["dead_letters"] == malformed, (engine, stored, malformed)
            _check_heartbeats(dsn[engine], engine)
        _settled(dsn)
        for worker in workers.values():
            worker.stop()
        _copy_devices(settings, dsn.values())
        for engine, url in dsn.items():
            _refresh_rollups(url, engine)
        _run_alert_services(work, dsn, channels)
        yield Fed(dsn, data_end, counts, malformed)


@contextmanager
def _database(settings: Settings, name: str, engine: str) -> Iterator[str]:
    with scratch_database(settings, name) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn, engine)  # type: ignore[arg-type]
        yield dsn


def _routes(work: Path, engine: str) -> TestRoutes:
    """The simulator's own topics, in a share group and consumer group of this worker's."""
    tag = f"dash-{engine}-{uuid.uuid4().hex[:6]}"
    config = {
        "mqtt": {"share_group": tag, "routes": [
            {"filter": "ioc/v1/+/telemetry", "format": "ioc_telemetry"},
            {"filter": "frigate/events", "format": "frigate"},
            {"filter": "frigate/stats", "format": "frigate_stats"},
            {"filter": "frigate/reviews", "format": "frigate_reviews"}]},
        "kafka": {"group_id": tag, "routes": [
            {"topic": "seclog.syslog", "format": "syslog"},
            {"topic": "seclog.suricata", "format": "suricata"},
            {"topic": "camera.onvif", "format": "onvif"}]},
        "limits": {"max_message_bytes": 262144},
        "batching": {"max_messages": 2000, "max_wait_seconds": 0.2},
    }  # fmt: skip
    path = work / f"routes-{engine}.yaml"
    path.write_text(yaml.safe_dump(config))
    return TestRoutes(path, tag, tag, "seclog.syslog", "seclog.suricata")


@contextmanager
def _worker(
    settings: Settings, work: Path, engine: str, dsn: str, channels: Path
) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(_routes(work, engine), f"dash-{engine}", ("mqtt", "kafka"),
                           work / f"worker-{engine}.log")  # fmt: skip
    # WorkerProcess passes the test's environment on; the database is this one's.
    with _environ(IOC_PG_DATABASE=_dbname(dsn), IOC_CHANNELS_FILE=str(channels)):
        worker.start()
    try:
        yield worker
    finally:
        if worker.alive():
            worker.stop()
        password = load_secrets(settings).mqtt_ingest_password
        forget_mqtt_session(settings, MQTT_INGEST_USER, password, f"ioc-ingest-{worker.worker_id}")


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _simulate(work: Path) -> tuple[datetime, int, int]:
    """`ioc simulate` as an operator runs it; every message must be acknowledged by the
    brokers. Without ISAPI pushes: an HTTP push reaches one API and its one database,
    while this feed fills two databases from the brokers (the ISAPI path is tested in
    test_isapi_ingest.py and test_camera_push_links.py; the ANPR panel stays empty).
    Returns when it stopped, how many messages the brokers took and how many of
    them were malformed on purpose."""
    args = [IOC_BIN, "simulate", "--backfill", BACKFILL, "--backfill-step", "5m",
            "--rate", str(RATE), "--duration", str(LIVE_SECONDS), "--seed", str(SEED),
            "--bad-share", str(BAD_SHARE), "--no-isapi"]  # fmt: skip
    log = work / "simulate.log"
    with log.open("wb") as out:
        done = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, timeout=300,
                              env=dict(os.environ, COLUMNS="160"))  # fmt: skip
    text = log.read_text(errors="replace")
    assert done.returncode == 0, text[-3000:]
    summary = re.search(r"acknowledged ([\d,]+), failed 0, malformed on purpose ([\d,]+)", text)
    assert summary, text[-3000:]
    acknowledged, malformed = (int(n.replace(",", "")) for n in summary.groups())
    assert malformed > 0, text[-3000:]
    return datetime.now(UTC), acknowledged, malformed


def _wait_received(worker: WorkerProcess, acknowledged: int) -> None:
    """Until the worker has committed as many messages as the brokers acknowledged (it
    counts a message when its batch commits)."""
    deadline, seen = time.monotonic() + INGEST_TIMEOUT_S, 0.0
    while time.monotonic() < deadline:
        body = httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=5).text
        seen = sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith("ioc_ingest_messages_received_total{")
        )
        if seen >= acknowledged:
            return
        time.sleep(1)
    raise AssertionError(f"{worker.worker_id} committed {seen:.0f} of {acknowledged} messages")


TABLES = ("measurements", "camera_events", "security_events", "dead_letters")


def _counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def _wait_stored(dsn: dict[str, str], engine: str) -> dict[str, int]:
    """Until this database's counts stop moving and equal the other one's: both workers
    took the same messages, so they end with the same rows."""
    other = next(e for e in dsn if e != engine)
    deadline, last = time.monotonic() + INGEST_TIMEOUT_S, None
    while time.monotonic() < deadline:
        mine, theirs = _counts(dsn[engine]), _counts(dsn[other])
        if mine == theirs and mine == last and mine["measurements"] > 0:
            return mine
        last = mine
        time.sleep(2)
    raise AssertionError(f"ingest did not settle: {engine} {last}, {other} {_counts(dsn[other])}")


def _check_heartbeats(dsn: str, engine: str) -> None:
    """Every Frigate camera was heard from once a simulated minute over the replayed past
    (its stats snapshot; a spoiled one now and then is a dead letter instead). Hikvision
    and ONVIF cameras have no stats: they are heard from by their events."""
    minutes = parse_duration(BACKFILL) / STATS_INTERVAL_S
    cameras = [c.name for c in load_fleet().cameras if c.source == "frigate"]
    with psycopg.connect(dsn) as conn:
        rows = dict(
            conn.execute(
                "SELECT device_id, count(*) FROM measurements"
                " WHERE metric = 'camera_fps' AND device_id = ANY(%s) GROUP BY device_id",
                (cameras,),
            ).fetchall()
        )
    assert set(rows) == set(cameras), (engine, rows)
    assert all(minutes * 0.97 <= n <= minutes * 1.05 for n in rows.values()), (engine, rows)


def _settled(dsn: dict[str, str]) -> None:
    """Both workers idle: their receive queues drained into the tables."""
    first = {e: _counts(u) for e, u in dsn.items()}
    time.sleep(3)
    assert first == {e: _counts(u) for e, u in dsn.items()}, "rows still arriving"


@contextmanager
def _main_registry_restored(settings: Settings) -> Iterator[None]:
    """The simulator registers its fleet in the stack's database with the interval of a
    fast demo run (a second); alert services of later tests there would then call those
    devices offline at once. Put back what was there before (and drop what was not)."""
    ids = _fleet_ids()
    with psycopg.connect(settings.dsn()) as conn:
        before = dict(
            conn.execute(
                "SELECT id, expected_interval_s FROM devices WHERE id = ANY(%s)", (ids,)
            ).fetchall()
        )
    try:
        yield
    finally:
        with psycopg.connect(settings.dsn()) as conn:
            for device_id, interval in before.items():
                conn.execute(
                    "UPDATE devices SET expected_interval_s = %s WHERE id = %s",
                    (interval, device_id),
                )
            added = [i for i in ids if i not in before]
            conn.execute("DELETE FROM devices WHERE id = ANY(%s)", (added,))


def _fleet_ids() -> list[str]:
    """Every device the simulator registers: its stations and its cameras."""
    fleet = load_fleet()
    return [d.id for d in fleet.devices] + [c.name for c in fleet.cameras]


def _copy_devices(settings: Settings, targets: Iterable[str]) -> None:
    """The simulator registers its fleet in the stack's database (that is where the
    broker's accounts come from); the fed databases need the same registry rows."""
    ids = _fleet_ids()
    cols = ", ".join(DEVICE_COLUMNS)
    with psycopg.connect(settings.dsn()) as main:
        rows = main.execute(f"SELECT {cols} FROM devices WHERE id = ANY(%s)", (ids,)).fetchall()
    assert len(rows) == len(ids), "the simulator did not register its whole fleet"
    marks = ", ".join(["%s"] * len(DEVICE_COLUMNS))
    for dsn in targets:
        with psycopg.connect(dsn) as conn:
            for row in rows:
                conn.execute(
                    f"INSERT INTO devices ({cols}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING",
                    (*row[:-1], Jsonb(row[-1])),
                )


def _refresh_rollups(dsn: str, engine: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        if engine == TIMESCALE:
            # What the continuous aggregate policies do on their schedule.
            for view in ("measurements_1m", "measurements_1h"):
                _refresh_aggregate(conn, view)
        else:
            rollups.refresh(conn)
        # Every usable reading is in both rollups, or a panel would be tested on less.
        usable = conn.execute("SELECT count(*) FROM measurements WHERE quality < 2").fetchone()
        for view in ("measurements_1m", "measurements_1h"):
            rolled = conn.execute(f"SELECT coalesce(sum(count), 0) FROM {view}").fetchone()
            assert rolled == usable, f"{engine}: {view} holds {rolled} readings of {usable}"


def _refresh_aggregate(conn: psycopg.Connection, view: str) -> None:
    """The policy's own background job may be refreshing the same window: wait it out."""
    deadline = time.monotonic() + 60
    while True:
        try:
            conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
            return
        except psycopg.errors.LockNotAvailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _dbname(dsn: str) -> str:
    return str(conninfo_to_dict(dsn)["dbname"])


def _run_alert_services(work: Path, dsn: dict[str, str], channels: Path) -> None:
    """`ioc alerts run` on each database until the hourly and daily AQI exist, the
    silent fleet is offline and every notification due has been delivered."""
    services = []
    try:
        for engine, url in dsn.items():
            env = {
                "IOC_PG_DATABASE": _dbname(url),
                "IOC_CHANNELS_FILE": str(channels),
                "IOC_AIR_CHECK_SECONDS": "2",
                "IOC_OFFLINE_CHECK_SECONDS": "2",
            }
            services.append(AlertServiceProcess(env, work / f"alerts-{engine}.log").start())
        deadline = time.monotonic() + JOBS_TIMEOUT_S
        while not all(_jobs_done(url) for url in dsn.values()):
            assert time.monotonic() < deadline, {e: _jobs_state(u) for e, u in dsn.items()}
            time.sleep(1)
    finally:
        for service in services:
            service.stop()


def _webhook_only(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    config["channels"] = [c for c in config["channels"] if c["type"] == "webhook"]
    path.write_text(yaml.safe_dump(config, allow_unicode=True))


def _jobs_state(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM aqi_hourly WHERE aqi IS NOT NULL),"
            " (SELECT count(*) FROM aqi_daily WHERE aqi IS NOT NULL),"
            " (SELECT count(*) FROM alerts WHERE rule = 'health.offline'),"
            " (SELECT count(*) FROM outbox WHERE status = 'pending'),"
            " (SELECT count(*) FROM outbox WHERE status = 'sent')"
        ).fetchone()
    return dict(zip(("aqi_hourly", "aqi_daily", "offline", "pending", "sent"), row, strict=True))


def _jobs_done(dsn: str) -> bool:
    state = _jobs_state(dsn)
    return (
        state["aqi_hourly"] > 0
        and state["aqi_daily"] > 0
        and state["offline"] > 0
        and state["pending"] == 0
        and state["sent"] > 0
    )
