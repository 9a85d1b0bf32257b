"""Issue 3's acceptance on the real stack: readings go in over MQTT through `ioc ingest`,
alerts are recorded in the batch's transaction, and `ioc alerts run` delivers them over
webhook, MQTT, Kafka and e-mail to real receivers."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from config.settings import Settings
from config.timezone import LOCAL_TZ
from ingest.provisioning import DeviceCredentials, register_device
from processors.runner import RELOAD_CHECK_SECONDS
from store.devices import DeviceSpec
from tests.integration.alerting import (
    AlertServiceProcess,
    KafkaSink,
    MqttSink,
    SmtpSink,
    WebhookSink,
    channels_file,
)
from tests.integration.harness import TestRoutes, mosquitto_pub, wait_for

pytestmark = pytest.mark.integration

# Xẻo Rô (Kiên Giang): BĐ I 0.7 m, II 0.9 m, III 1.1 m, 5 cm clear margin
# (processors/environment/alarm_levels.yaml).
STATION = "kg-xeoro-wl01"
# Rises through I, II and III with ±2 cm of noise at each line, then recedes.
FLOOD = [
    0.50, 0.60, 0.68, 0.71, 0.69, 0.72, 0.70, 0.68, 0.71, 0.80,
    0.91, 0.89, 0.92, 0.88, 0.91, 1.00, 1.11, 1.09, 1.12, 1.08,
    1.10, 1.04, 0.95, 0.91, 0.86, 0.84, 0.72, 0.69, 0.66, 0.64,
    0.60, 0.55,
]  # fmt: skip
STEPS = ["fired", "escalated", "escalated", "deescalated", "deescalated", "resolved"]


@dataclass
class Stack:
    webhook: WebhookSink
    smtp: SmtpSink
    mqtt: MqttSink
    kafka: KafkaSink
    env: dict[str, str]
    log: Path

    def alert_service(self) -> AlertServiceProcess:
        return AlertServiceProcess(self.env, self.log)

    def delivered(self, channel: str) -> list[str]:
        sink = {"webhook": self.webhook, "mqtt": self.mqtt, "kafka": self.kafka}.get(channel)
        return sink.delivered.ids() if sink else self.smtp.ids


@pytest.fixture
def stack(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    webhook, smtp = WebhookSink(), SmtpSink()
    topic = f"ioc.alerts.{uuid.uuid4().hex[:8]}"
    path = channels_file(tmp_path, webhook.url, smtp.port, topic)
    # Workers and the alert service started by the test inherit this environment.
    monkeypatch.setenv("IOC_CHANNELS_FILE", str(path))
    mqtt, kafka = MqttSink(settings, "ioc/v1/alerts/#"), KafkaSink(settings, topic)
    env = {"IOC_CHANNELS_FILE": str(path), "IOC_OFFLINE_CHECK_SECONDS": "1"}
    yield Stack(webhook, smtp, mqtt, kafka, env, tmp_path / "alerts.log")
    for sink in (mqtt, kafka, smtp, webhook):
        sink.close()
    log = tmp_path / "alerts.log"
    if log.exists():
        print(log.read_text(errors="replace")[-4000:])


@pytest.fixture
def station(settings: Settings, db: psycopg.Connection) -> DeviceCredentials:
    db.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (STATION,))
    db.execute("DELETE FROM detector_state WHERE key LIKE %s", (f"%|{STATION}|%",))
    return register_device(
        settings,
        DeviceSpec(id=STATION, type="water_level", province="Kiên Giang", lat=10.0458,
                   lon=104.8639, name="Xẻo Rô", expected_interval_s=60),
    )  # fmt: skip


def _readings(values: list[float], end: datetime, metric: str = "waterLevel") -> list[bytes]:
    start = end - timedelta(minutes=len(values) - 1)
    return [
        json.dumps({"ts": (start + timedelta(minutes=i)).isoformat(), metric: v}).encode()
        for i, v in enumerate(values)
    ]


def _alert_steps(db: psycopg.Connection, device: str, rule: str) -> list[tuple[str, list[str]]]:
    rows = db.execute(
        "SELECT a.id::text, array_agg(h.action ORDER BY h.id) FROM alerts a"
        " JOIN alert_history h ON h.alert_id = a.id"
        " WHERE a.labels->>'device_id' = %s AND a.rule = %s GROUP BY a.id, a.started_at"
        " ORDER BY a.started_at",
        (device, rule),
    ).fetchall()
    return [(alert_id, actions) for alert_id, actions in rows]


def _outbox_ids(db: psycopg.Connection, alert_id: str, channel: str) -> list[tuple[str, str]]:
    return db.execute(
        "SELECT notification_id::text, kind FROM outbox WHERE alert_id = %s AND channel = %s"
        " ORDER BY id",
        (alert_id, channel),
    ).fetchall()


def test_flood_rises_through_three_levels_and_recedes_one_alert_each_step_notified_once(
    settings: Settings,
    db: psycopg.Connection,
    routes: TestRoutes,
    workers,
    stack: Stack,
    station: DeviceCredentials,
) -> None:
    workers(routes, "flood", "mqtt")
    service = stack.alert_service().start()
    try:
        lines = _readings(FLOOD, datetime.now(UTC))
        mosquitto_pub(settings, station.username, station.password, station.topic, lines)
        assert wait_for(lambda: _resolved(db), timeout=60), _alert_steps(db, STATION, RULE)
        [(alert_id, actions)] = _alert_steps(db, STATION, RULE)
        assert actions == STEPS
        for channel in ("webhook", "mqtt", "kafka", "email"):
            expected = _outbox_ids(db, alert_id, channel)
            assert [kind for _, kind in expected] == STEPS, channel
            ids = {n for n, _ in expected}
            assert wait_for(
                lambda c=channel, want=ids: want <= set(stack.delivered(c)), timeout=60
            ), channel
            mine = [n for n in stack.delivered(channel) if n in ids]
            assert sorted(mine) == sorted(ids), f"{channel} delivered a step twice"
        assert stack.webhook.bad_signatures == 0
    finally:
        service.stop()


RULE = "env.water_level"


def _resolved(db: psycopg.Connection) -> bool:
    steps = _alert_steps(db, STATION, RULE)
    return bool(steps) and steps[-1][1][-1] == "resolved"


# --- acceptance 3: a device stops sending ------------------------------------------------


def test_a_silent_device_goes_offline_and_recovers(
    settings: Settings, db: psycopg.Connection, routes: TestRoutes, workers, stack: Stack
) -> None:
    device = f"test-off-{uuid.uuid4().hex[:6]}"
    creds = register_device(
        settings,
        DeviceSpec(id=device, type="weather", province="Khánh Hòa", lat=12.2388, lon=109.1967,
                   name="Nha Trang", expected_interval_s=1),
    )  # fmt: skip
    workers(routes, "offline", "mqtt")
    service = stack.alert_service().start()

    def send() -> None:
        line = json.dumps({"ts": datetime.now(UTC).isoformat(), "temperature": 28.5}).encode()
        mosquitto_pub(settings, creds.username, creds.password, creds.topic, [line])

    def actions() -> list[list[str]]:
        return [a for _, a in _alert_steps(db, device, "health.offline")]

    try:
        send()
        # Expected every 1 s, offline after 3 silent intervals: not before 3 s of silence.
        assert wait_for(lambda: actions() == [["fired"]], timeout=30), actions()
        silence = db.execute(
            "SELECT a.started_at - s.last_seen FROM alerts a JOIN device_last_seen s"
            " ON s.device_id = a.labels->>'device_id' WHERE a.rule = 'health.offline'"
            " AND s.device_id = %s",
            (device,),
        ).fetchone()[0]
        assert silence == timedelta(seconds=3)
        send()
        assert wait_for(lambda: actions() == [["fired", "resolved"]], timeout=30), actions()
        [(alert_id, _)] = _alert_steps(db, device, "health.offline")
        ids = {n for n, _ in _outbox_ids(db, alert_id, "webhook")}
        assert len(ids) == 2
        assert wait_for(lambda: ids <= set(stack.webhook.delivered.ids()), timeout=30)
    finally:
        service.stop()


# --- acceptance 4: killed between recording and notifying --------------------------------


def test_alert_service_killed_mid_delivery_sends_each_notification_once_after_restart(
    settings: Settings,
    db: psycopg.Connection,
    routes: TestRoutes,
    workers,
    stack: Stack,
    station: DeviceCredentials,
) -> None:
    workers(routes, "crash", "mqtt")
    lines = _readings([0.50, 0.75], datetime.now(UTC))
    mosquitto_pub(settings, station.username, station.password, station.topic, lines)
    assert wait_for(lambda: len(_alert_steps(db, STATION, RULE)) == 1, timeout=30)
    [(alert_id, actions)] = _alert_steps(db, STATION, RULE)
    assert actions == ["fired"]  # recorded with the readings; nothing sent yet

    stack.webhook.hang.set()  # the first delivery will be in flight when the sender dies
    service = stack.alert_service().start()
    assert stack.webhook.arrived.wait(30)
    service.kill()
    stack.webhook.release.set()
    pending = db.execute(
        "SELECT channel FROM outbox WHERE alert_id = %s AND status = 'pending' ORDER BY channel",
        (alert_id,),
    ).fetchall()
    assert ("webhook",) in pending  # the unanswered delivery was not marked sent

    service = stack.alert_service().start()
    try:
        for channel in ("webhook", "mqtt", "kafka", "email"):
            [(notification_id, kind)] = _outbox_ids(db, alert_id, channel)
            assert kind == "fired"
            assert wait_for(
                lambda c=channel, n=notification_id: n in stack.delivered(c), timeout=30
            ), channel
            assert stack.delivered(channel).count(notification_id) == 1, channel
        status = db.execute(
            "SELECT DISTINCT status FROM outbox WHERE alert_id = %s", (alert_id,)
        ).fetchall()
        assert status == [("sent",)]
    finally:
        service.stop()


# --- acceptance 5: bad rule files ---------------------------------------------------------

SALINITY_STATION = "kg-xeoro-sal01"


def test_a_bad_rule_file_is_rejected_precisely_and_running_rules_stay(
    settings: Settings,
    db: psycopg.Connection,
    routes: TestRoutes,
    workers,
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil
    import subprocess

    from tests.integration.harness import IOC_BIN

    rules = tmp_path / "rules"
    shutil.copytree(Path("processors/environment/rules"), rules)
    # The packs refer to tables beside their folder (../alarm_levels.yaml,
    # ../traffic_points.yaml, ../pest_traps.yaml, …): every one comes along.
    for table in Path("processors/environment").glob("*.yaml"):
        shutil.copy(table, tmp_path / table.name)
    monkeypatch.setenv("IOC_ENV_RULES", str(rules))
    db.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (SALINITY_STATION,))
    db.execute("DELETE FROM detector_state WHERE key LIKE %s", (f"%|{SALINITY_STATION}|%",))
    creds = register_device(
        settings,
        DeviceSpec(id=SALINITY_STATION, type="salinity", province="Kiên Giang", lat=9.92,
                   lon=104.86, name="Xẻo Rô", expected_interval_s=300),
    )  # fmt: skip
    workers(routes, "rules", "mqtt")

    def publish(value: float) -> None:
        line = json.dumps({"ts": datetime.now(UTC).isoformat(), "salinity": value}).encode()
        mosquitto_pub(settings, creds.username, creds.password, creds.topic, [line])

    def severities() -> list[int]:
        return [
            row[0]
            for row in db.execute(
                "SELECT severity FROM alerts WHERE labels->>'device_id' = %s", (SALINITY_STATION,)
            )
        ]

    def generation() -> int:
        row = db.execute("SELECT generation FROM rule_generation WHERE id = 1").fetchone()
        return row[0] if row else 0

    publish(1.5)  # ≥ 1 ‰: watch
    assert wait_for(lambda: severities() == [2], timeout=30), severities()

    pack = rules / "salinity.yaml"
    text = pack.read_text()
    broken = text.replace("rules:", "rules:\n  - id: env.broken\n    kind: threshold\n"
                          "    metric: salinity\n    for: soon\n", 1)  # fmt: skip
    pack.write_text(broken)
    before = generation()
    result = subprocess.run(
        [IOC_BIN, "rules", "reload"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 1
    line = broken.splitlines().index("    for: soon") + 1
    assert f"salinity.yaml:{line}:" in result.stderr, result.stderr
    assert "for" in result.stderr and "soon" in result.stderr
    assert "running rules stay in force" in result.stderr
    assert generation() == before

    # Even told to reload while the file is broken, the worker keeps its running rules.
    db.execute(
        "INSERT INTO rule_generation (id, generation, reloaded_by) VALUES (1, 1, 'test')"
        " ON CONFLICT (id) DO UPDATE SET generation = rule_generation.generation + 1"
    )
    time.sleep(RELOAD_CHECK_SECONDS + 1)
    publish(4.5)  # ≥ 4 ‰: warning, by the rules still running
    assert wait_for(lambda: severities() == [3], timeout=30), severities()

    pack.write_text(text)
    fixed = subprocess.run(
        [IOC_BIN, "rules", "reload"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert fixed.returncode == 0, fixed.stderr
    assert generation() > before


# --- acceptance 2: a PM2.5 episode --------------------------------------------------------

AIR_STATION = "kg-rachgia-aq01"  # in the air stations table, which names it Rạch Giá
# Hourly PM2.5 (µg/m³): clean air, an episode building up, then clearing.
EPISODE = [18, 20, 22, 19, 35, 60, 95, 130, 160, 140, 90, 40, 25, 20]


def _hand_aqi(hourly: list[float]) -> int:
    """VN_AQI for the newest hour, written out from Decision 1459/QĐ-TCMT: NowCast over
    the last 12 hourly means (newest first), then linear interpolation on PM2.5's
    breakpoints, rounded half up."""
    c = list(reversed(hourly[-12:]))
    w = max(min(c) / max(c), 0.5)
    nowcast = sum(w**i * v for i, v in enumerate(c)) / sum(w**i for i in range(len(c)))
    bp = [0, 25, 50, 80, 150, 250, 350, 500]
    index = [0, 50, 100, 150, 200, 300, 400, 500]
    i = max(k for k in range(len(bp) - 1) if bp[k] <= nowcast)
    aqi = (index[i + 1] - index[i]) / (bp[i + 1] - bp[i]) * (nowcast - bp[i]) + index[i]
    return int(aqi + 0.5)


def test_pm25_episode_aqi_series_matches_hand_computation_and_alert_fires_on_time(
    settings: Settings,
    db: psycopg.Connection,
    routes: TestRoutes,
    workers,
    stack: Stack,
) -> None:
    from processors.alerts.channels import load_channels
    from processors.alerts.manager import AlertManager
    from processors.environment.averaging import hour_start
    from processors.environment.engine import RuleBook
    from processors.jobs.air import GRACE, AirQualityJob

    db.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (AIR_STATION,))
    db.execute("DELETE FROM aqi_hourly WHERE device_id = %s", (AIR_STATION,))
    db.execute("DELETE FROM detector_state WHERE key LIKE %s", (f"{AIR_STATION}|%",))
    db.execute("DELETE FROM measurements WHERE device_id = %s", (AIR_STATION,))
    creds = register_device(
        settings,
        DeviceSpec(id=AIR_STATION, type="air_quality", province="Kiên Giang", lat=10.0125,
                   lon=105.0809, name="Rạch Giá", expected_interval_s=900),
    )  # fmt: skip
    now = datetime.now(UTC)
    # The episode's last hour must be closed for the job (it waits GRACE past the hour):
    # counted from the current hour, a run in an hour's first minutes missed it.
    first_hour = hour_start(now - GRACE) - timedelta(hours=len(EPISODE))
    # Four readings an hour whose mean is the hour's value.
    lines = [
        json.dumps(
            {"ts": (first_hour + timedelta(hours=h, minutes=m)).isoformat(), "pm25": v + d}
        ).encode()
        for h, v in enumerate(EPISODE)
        for m, d in ((5, -3), (20, 3), (35, -1), (50, 1))
    ]
    workers(routes, "air", "mqtt")
    mosquitto_pub(settings, creds.username, creds.password, creds.topic, lines)
    count = "SELECT count(*) FROM measurements WHERE device_id = %s"
    assert wait_for(lambda: db.execute(count, (AIR_STATION,)).fetchone()[0] == len(lines), 30)

    channels = load_channels(Path(stack.env["IOC_CHANNELS_FILE"]))
    job = AirQualityJob(AlertManager(channels), RuleBook.load())
    with db.transaction():
        job(db, now)
    series = db.execute(
        "SELECT hour, aqi, category FROM aqi_hourly WHERE device_id = %s ORDER BY hour",
        (AIR_STATION,),
    ).fetchall()
    hours = {hour: (aqi, category) for hour, aqi, category in series}
    expected = {}
    for h in range(1, len(EPISODE)):  # NowCast needs 2 of the last 3 hours
        expected[first_hour + timedelta(hours=h)] = _hand_aqi(EPISODE[: h + 1])
    assert {hour: aqi for hour, (aqi, _) in hours.items() if aqi is not None} == expected
    first_poor = min(hour for hour, aqi in expected.items() if aqi >= 101)
    started, title = db.execute(
        "SELECT started_at, title_vi FROM alerts WHERE rule = 'env.aqi'"
        " AND labels->>'device_id' = %s",
        (AIR_STATION,),
    ).fetchone()
    assert started == first_poor
    assert "Rạch Giá" in title

    # The series is queryable through the API, with category and colour.
    from fastapi.testclient import TestClient

    from api.app import create_app
    from store.users import Role, create_user, delete_user

    name = f"viewer-{uuid.uuid4().hex[:6]}"
    _, token = create_user(db, name, Role.VIEWER)
    try:
        with TestClient(create_app(settings)) as client:
            answer = client.get(
                f"/api/v1/devices/{AIR_STATION}/aqi",
                params={"start": first_hour.isoformat(), "end": now.isoformat()},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert answer.status_code == 200, answer.text
        peak = max(answer.json(), key=lambda row: row["aqi"] or 0)
        assert peak["aqi"] == max(expected.values())
        assert peak["category"] and peak["colour"].startswith("#")
    finally:
        delete_user(db, name)


def local_clock(hour: int, minute: int, before: datetime) -> datetime:
    """The last time the local (UTC+7) clock read hour:minute, at least ten minutes before
    `before`: a fixed time of day whatever the hour the test runs, on a recent date (the
    job only looks 48 hours back)."""
    latest = (before - timedelta(minutes=10)).astimezone(LOCAL_TZ)
    at = latest.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return (at if at <= latest else at - timedelta(days=1)).astimezone(UTC)


# 00:01 is inside the job's grace after local midnight (the test failed every night from
# 00:00 to 00:02 when it read the wall clock); 12:00 is well past it.
@pytest.mark.parametrize("clock", [(0, 1), (12, 0)], ids=["at-00:01", "at-12:00"])
def test_daily_aqi_is_stored_when_the_local_day_closes(
    settings: Settings, db: psycopg.Connection, clock: tuple[int, int]
) -> None:
    from processors.alerts.channels import channels_path, load_channels
    from processors.alerts.manager import AlertManager
    from processors.environment.averaging import day_hours
    from processors.environment.engine import RuleBook
    from processors.jobs.air import GRACE, AirQualityJob

    device = f"test-aq-{uuid.uuid4().hex[:6]}"
    now = local_clock(*clock, before=datetime.now(UTC))
    yesterday = (now.astimezone(LOCAL_TZ) - timedelta(days=1)).date()
    start, end = day_hours(yesterday)
    # PM2.5 at 60 µg/m³ every hour of yesterday (UTC+7), plus the hours since.
    hours = int((now - start).total_seconds() // 3600)
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO measurements (time, device_id, metric, value) VALUES (%s, %s, 'pm25', 60)",
            [(start + timedelta(hours=h, minutes=10), device) for h in range(hours)],
        )
    db.execute(
        "INSERT INTO device_last_seen (device_id, last_seen) VALUES (%s, %s)",
        (device, start + timedelta(hours=hours - 1, minutes=10)),
    )
    job = AirQualityJob(AlertManager(load_channels(channels_path(settings))), RuleBook.load())

    def daily() -> dict[date, tuple[int, str, str]]:
        rows = db.execute(
            "SELECT day, aqi, category, colour FROM aqi_daily WHERE device_id = %s", (device,)
        )
        return {day: (aqi, category, colour) for day, aqi, category, colour in rows}

    with db.transaction():
        job(db, now)
    # The day's last hour (23:00-24:00) counts once GRACE has passed after midnight.
    assert (now < end + GRACE) == (clock == (0, 1))
    if now < end + GRACE:
        assert daily() == {}  # not yet: the last hour may still get readings
        with db.transaction():
            job(db, end + GRACE)
    # Yesterday only (today has not closed). 24-hour mean 60 µg/m³:
    # (150 - 100) / (80 - 50) × (60 - 50) + 100 = 116.7 → 117.
    stored = daily()
    assert list(stored) == [yesterday]
    aqi, category, colour = stored[yesterday]
    assert aqi == 117 and category and colour.startswith("#")
    # The 24-hour mean it came from, which the environment dashboard draws for long ranges.
    inputs = db.execute(
        "SELECT inputs FROM aqi_daily WHERE device_id = %s AND day = %s", (device, yesterday)
    ).fetchone()[0]
    assert inputs == {"pm25": 60.0}
