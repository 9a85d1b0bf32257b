"""The chaos harness: one mixed stream through real processes, a fault landed mid-stream,
and one exactly-once check for rows, alerts and notifications.

The stream is what a province's data centre carries at once: QoS 1 telemetry from several
stations (mosquitto_pub), Frigate event lifecycles over MQTT, and sshd logs over Kafka in
which some sources cross the brute-force threshold (so alerts are raised inside the ingest
transaction and notified by `ioc alerts run` to a real webhook receiver). Every part is
published in chunks from its own thread behind one gate, so a test can pause the senders
(a broker restart) and knows how far the stream had got when its fault landed.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from kafka import KafkaProducer

from config.secrets import MQTT_FRIGATE_USER, load_secrets
from config.settings import Settings
from ingest.provisioning import DeviceCredentials, register_device
from store.devices import DeviceSpec
from tests.integration.alerting import WebhookSink
from tests.integration.harness import TestRoutes, WorkerProcess, mosquitto_pub, wait_for

# Brute force: 10 failures from one address within 5 minutes (detections.yaml and the
# Sigma correlation). Attackers send exactly the threshold, so one lost event means a
# missing alert; background sources send 6, so one event counted twice by a re-delivery
# would still stay quiet, but counting a whole re-delivered batch again would not.
THRESHOLD = 10
BACKGROUND_FAILURES = 6
# RFC 5737 TEST-NET-1: not in the sample indicator lists (203.0.113.0/24 is).
ATTACKERS = tuple(f"192.0.2.{i}" for i in range(1, 31))
BACKGROUND = tuple(f"10.77.{i // 200}.{i % 200 + 1}" for i in range(240))
NOTIFIED_SEVERITY = "high"

Message = tuple[str, bytes, bytes]


def connect(settings: Settings) -> psycopg.Connection:
    """A fresh connection per question: the tests restart PostgreSQL under it."""
    return psycopg.connect(settings.dsn(), autocommit=True, connect_timeout=3)


def query(settings: Settings, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    with connect(settings) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(settings: Settings, sql: str, params: tuple[object, ...] = ()) -> int:
    try:
        return query(settings, sql, params)[0][0]
    except psycopg.OperationalError:
        return -1  # down for a moment (a restart under test): not there yet


# --- the stream -----------------------------------------------------------------------


def register_stations(settings: Settings, n: int, prefix: str = "chaos") -> list[DeviceCredentials]:
    """Stations reporting once a day: the offline job stays quiet about them, so the
    only alerts of a run are the security ones the stream is built to raise."""
    tag = uuid.uuid4().hex[:6]
    return [
        register_device(
            settings,
            DeviceSpec(
                id=f"{prefix}-{tag}-{i:02d}",
                type="air_quality",
                province="Kiên Giang",
                lat=10.0125,
                lon=105.0809,
                expected_interval_s=86_400,
            ),
        )
        for i in range(n)
    ]


def _telemetry(n: int) -> list[bytes]:
    """n readings, two rows each, a millisecond apart: distinct identities, and values
    too clean to raise an environment alert."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    return [
        json.dumps(
            {"ts": (base + timedelta(milliseconds=i)).isoformat(), "pm25": 8 + i % 7, "pm10": 20}
        ).encode()
        for i in range(n)
    ]


def _frigate(n: int, tag: str) -> list[bytes]:
    """n event lifecycles (new, update, end), in order: one row each, ended."""
    start = datetime.now(UTC).timestamp() - 3600
    out = []
    for i in range(n):
        after = {
            "id": f"{start + i:.6f}-{tag}{i:05x}", "camera": "hatien_border_1", "label": "car",
            "score": 0.8, "top_score": 0.9, "start_time": start + i, "end_time": None,
            "box": [10, 20, 200, 220], "current_zones": ["lane_in"],
            "entered_zones": ["lane_in"], "has_snapshot": True, "stationary": False,
            "false_positive": False,
        }  # fmt: skip
        for kind in ("new", "update", "end"):
            body = dict(after, end_time=start + i + 9) if kind == "end" else after
            out.append(json.dumps({"type": kind, "before": {}, "after": body}).encode())
    return out


def _sshd(topic: str, at: datetime, ip: str, pid: int, failed: bool) -> Message:
    what = (
        f"Failed password for root from {ip} port {40000 + pid % 20000} ssh2"
        if failed
        else f"Received disconnect from {ip} port {40000 + pid % 20000}:11: Bye Bye [preauth]"
    )
    return topic, ip.encode(), f"<86>1 {at.isoformat()} web1 sshd {pid} - - {what}".encode()


def _security_logs(topic: str, filler: int) -> list[Message]:
    """Background below the threshold and disconnect noise, with the attackers in waves
    along the stream (attacker n inside the n-th stretch), so alerts are raised, and
    notified, all through it rather than at its end. Shuffled within each stretch
    (arrival order is not event order), keyed by source as log shippers key them."""
    rng = random.Random(10)
    base = datetime.now(UTC) - timedelta(minutes=2)
    noise = [
        _sshd(topic, base + timedelta(seconds=k), ip, 5000 + n * 10 + k, failed=True)
        for n, ip in enumerate(BACKGROUND)
        for k in range(BACKGROUND_FAILURES)
    ]
    noise += [
        _sshd(topic, base + timedelta(milliseconds=k), BACKGROUND[k % len(BACKGROUND)], k, False)
        for k in range(filler)
    ]
    rng.shuffle(noise)
    stretch = -(-len(noise) // len(ATTACKERS))
    out: list[Message] = []
    for n, ip in enumerate(ATTACKERS):
        wave = noise[n * stretch : (n + 1) * stretch]
        wave += [
            _sshd(topic, base + timedelta(seconds=k), ip, n * 100 + k, failed=True)
            for k in range(THRESHOLD)
        ]
        rng.shuffle(wave)
        out += wave
    return out


def _chunks(items: list, n: int) -> list[list]:
    size = -(-len(items) // n)
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class Sender:
    name: str
    chunks: list[list]
    send: Callable[[list], None]
    sent: int = 0
    total: int = 0


class MixedStream:
    """The mixed stream, sent in `chunks` rounds per sender with `pace` seconds between
    rounds. Each sender stops at every fraction in `holds` (before that share of its
    chunks) until the test calls release(): however slow the machine, every part of the
    stream is still unfinished when the fault lands, and goes on after it."""

    def __init__(
        self,
        settings: Settings,
        routes: TestRoutes,
        stations: list[DeviceCredentials],
        *,
        per_station: int = 800,
        frigate_events: int = 200,
        filler: int = 3000,
        chunks: int = 10,
        pace: float = 0.3,
        holds: tuple[float, ...] = (0.6, 0.9),
    ) -> None:
        self.settings, self.pace = settings, pace
        self.holds = sorted(holds)
        self._released = 0
        self._holding: dict[str, int] = {}
        self._cond = threading.Condition()
        self.stations = stations
        self.measurement_rows = len(stations) * per_station * 2
        self.camera_events = frigate_events
        logs = _security_logs(routes.syslog_topic, filler)
        self.security_events = len(logs)
        frigate_password = load_secrets(settings).mqtt_frigate_password
        self.senders = [
            Sender(s.device_id, _chunks(_telemetry(per_station), chunks),
                   lambda lines, s=s: mosquitto_pub(settings, s.username, s.password, s.topic,
                                                    lines))
            for s in stations
        ]  # fmt: skip
        frigate = _frigate(frigate_events, uuid.uuid4().hex[:4])
        self.senders.append(
            Sender("frigate", _chunks(frigate, chunks),
                   lambda lines: mosquitto_pub(settings, MQTT_FRIGATE_USER, frigate_password,
                                               "frigate/events", lines))
        )  # fmt: skip
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5
        )
        self.senders.append(Sender("kafka", _chunks(logs, chunks), self._produce))
        for sender in self.senders:
            sender.total = sum(len(c) for c in sender.chunks)
        self._gate = threading.Event()
        self._gate.set()
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def _produce(self, messages: list[Message]) -> None:
        for topic, key, value in messages:
            self._producer.send(topic, key=key, value=value)
        self._producer.flush(60)

    def start(self) -> MixedStream:
        for sender in self.senders:
            thread = threading.Thread(target=self._run, args=(sender,), name=sender.name)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, sender: Sender) -> None:
        stops = [int(len(sender.chunks) * h) for h in self.holds]
        try:
            for index, chunk in enumerate(sender.chunks):
                for level, at in enumerate(stops):
                    if index == at:
                        self._wait_release(sender.name, level)
                self._gate.wait()
                with self._lock:
                    self._busy.add(sender.name)
                try:
                    sender.send(chunk)
                finally:
                    with self._lock:
                        self._busy.discard(sender.name)
                sender.sent += len(chunk)
                time.sleep(self.pace)
        except BaseException as error:  # surfaced by join(), not lost in the thread
            self.errors.append(error)

    def _wait_release(self, name: str, level: int) -> None:
        with self._cond:
            self._holding[name] = level
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._released > level)
            del self._holding[name]

    def holding(self) -> bool:
        """Every sender waits at the next hold."""
        with self._cond:
            return len(self._holding) == len(self.senders)

    def release(self) -> None:
        """Let the senders past the next hold."""
        with self._cond:
            self._released += 1
            self._cond.notify_all()

    def progress(self) -> float:
        """The share of the stream sent by its slowest part."""
        return min(s.sent / s.total for s in self.senders)

    def unfinished(self) -> bool:
        """Every part of the stream has more to send."""
        return all(s.sent < s.total for s in self.senders)

    def finished(self) -> bool:
        return all(s.sent == s.total for s in self.senders)

    def pause(self) -> None:
        """Stop the senders between chunks: every chunk sent so far was acknowledged by
        its broker (mosquitto_pub -q 1 waits for each PUBACK, Kafka acks=all)."""
        self._gate.clear()
        assert wait_for(lambda: not self._busy, timeout=120), self._busy

    def resume(self) -> None:
        self._gate.set()

    def join(self, timeout: float = 300) -> None:
        self.resume()
        with self._cond:
            self._released = len(self.holds)
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._producer.close()
        assert not self.errors, self.errors
        assert self.finished(), [(s.name, s.sent, s.total) for s in self.senders]


# --- holding a worker mid-transaction -----------------------------------------------------

_DEPTH = re.compile(r'^ioc_ingest_queue_depth\{transport="(\w+)"\} (\S+)$', re.M)


def queue_depth(worker: WorkerProcess) -> dict[str, float]:
    """Messages the worker received and has not committed, per transport."""
    try:
        body = httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return {}
    return {transport: float(value) for transport, value in _DEPTH.findall(body)}


@contextmanager
def commits_held(settings: Settings, worker: WorkerProcess, stream: MixedStream) -> Iterator[None]:
    """Block the worker's next commits on table locks until the block ends, and enter it
    only once the worker holds received, uncommitted messages of both transports: a
    worker commits as fast as the stream arrives, and a fault landing between two
    batches would prove nothing. Takes the stream past its first hold, so it flows into
    the locked worker (and stops at the next hold at worst)."""
    with connect(settings) as holder:
        holder.autocommit = False
        holder.execute("LOCK TABLE measurements, security_events IN SHARE MODE")
        stream.release()
        try:
            held = wait_for(
                lambda: all(queue_depth(worker).get(t, 0) > 0 for t in ("mqtt", "kafka")),
                timeout=30,
                interval=0.05,
            )
            assert held, f"the worker holds nothing uncommitted: {queue_depth(worker)}"
            yield
        finally:
            with suppress(psycopg.OperationalError):  # the fault was the database itself
                holder.rollback()


_WRITTEN = re.compile(
    r'^ioc_ingest_messages_written_total\{[^}]*transport="(\w+)"[^}]*\} (\S+)$', re.M
)


def written(worker: WorkerProcess, transport: str) -> float:
    """Messages the worker has committed from one transport."""
    try:
        body = httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    return sum(float(v) for t, v in _WRITTEN.findall(body) if t == transport)


def kafka_assigned(worker: WorkerProcess, topic: str) -> bool:
    """The worker owns partitions of the topic (it reports their lag once it does)."""
    try:
        body = httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return False
    return any(
        line.startswith("ioc_ingest_consumer_lag{") and f'"{topic}"' in line
        for line in body.splitlines()
    )


def probe_arrives(settings: Settings, probe: DeviceCredentials) -> bool:
    """Publish one reading from the probe station and say whether it is stored within a
    second: the worker is subscribed again, seen from outside the worker."""
    stamp = datetime.now(UTC) - timedelta(seconds=uuid.uuid4().int % 10_000)
    payload = json.dumps({"ts": stamp.isoformat(), "probe": 1}).encode()
    mosquitto_pub(settings, probe.username, probe.password, probe.topic, [payload])
    sql = "SELECT count(*) FROM measurements WHERE device_id = %s AND time = %s"
    return wait_for(lambda: scalar(settings, sql, (probe.device_id, stamp)) == 1, timeout=1)


# --- notifications ------------------------------------------------------------------------


def channels_file(directory, webhook_url: str, secret: str) -> tuple[str, object]:
    """One webhook channel, security alerts of high severity and up, sent at once."""
    import yaml

    name = f"chaos-{uuid.uuid4().hex[:6]}"
    config = {
        "renotify_interval_seconds": 0,
        "max_attempts": 50,
        "backoff_seconds": 0.5,
        "backoff_max_seconds": 2,
        "channels": [
            {"name": name, "type": "webhook", "domains": ["security"],
             "min_severity": NOTIFIED_SEVERITY, "group_wait_seconds": 0,
             "settings": {"url": webhook_url, "secret": secret}},
        ],
    }  # fmt: skip
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return name, path


# --- the exactly-once check ---------------------------------------------------------------


@dataclass
class Outcome:
    """What the check saw, for a test's own fault-specific assertions."""

    notification_ids: set[str] = field(default_factory=set)
    answered: Counter[str] = field(default_factory=Counter)
    on_wire: Counter[str] = field(default_factory=Counter)


def _rows(settings: Settings) -> tuple[int, int, int]:
    return (
        scalar(settings, "SELECT count(*) FROM measurements WHERE device_id NOT LIKE 'probe-%%'"),
        scalar(settings, "SELECT count(*) FROM camera_events"),
        scalar(settings, "SELECT count(*) FROM security_events"),
    )


def assert_rows_exactly_once(settings: Settings, stream: MixedStream) -> None:
    expected = (stream.measurement_rows, stream.camera_events, stream.security_events)
    assert wait_for(lambda: _rows(settings) >= expected, timeout=240), (_rows(settings), expected)
    time.sleep(2)  # anything still to come would be a duplicate, or a count past expected
    assert _rows(settings) == expected
    per_station = dict(
        query(
            settings,
            "SELECT device_id, count(*) FROM measurements WHERE device_id NOT LIKE 'probe-%%'"
            " GROUP BY device_id",
        )
    )
    rows_each = stream.measurement_rows // len(stream.stations)
    assert per_station == dict.fromkeys((s.device_id for s in stream.stations), rows_each)
    # Every lifecycle reached its end: no `end` lost, none undone by a re-delivered update.
    assert scalar(settings, "SELECT count(*) FROM camera_events WHERE end_time IS NULL") == 0
    assert scalar(settings, "SELECT count(*) FROM dead_letters") == 0


def assert_alerts_exactly_once(settings: Settings) -> None:
    bruteforce = dict(
        query(
            settings,
            "SELECT labels->>'source_ip', count(*) FROM alerts WHERE rule = 'sec.bruteforce'"
            " GROUP BY 1",
        )
    )
    assert bruteforce == dict.fromkeys(ATTACKERS, 1)
    noisy = query(
        settings,
        "SELECT rule, labels->>'source_ip' FROM alerts WHERE severity >= 3"
        " AND labels->>'source_ip' LIKE '10.77.%%'",
    )
    assert noisy == [], "a background source crossed a threshold: an event counted twice"
    twice_open = query(
        settings,
        "SELECT fingerprint, count(*) FROM alerts WHERE status <> 'resolved'"
        " GROUP BY fingerprint HAVING count(*) > 1",
    )
    assert twice_open == []


def assert_notified(settings: Settings, channel: str, sink: WebhookSink) -> Outcome:
    """Every notification the outbox holds for the channel reached the receiver and was
    answered, and every high-severity security alert has exactly one `fired` row."""
    unnotified = query(
        settings,
        "SELECT a.id, count(o.id) FROM alerts a LEFT JOIN outbox o ON o.alert_id = a.id"
        " AND o.channel = %s AND o.kind = 'fired' WHERE a.domain = 'security'"
        " AND a.severity >= 3 GROUP BY a.id HAVING count(o.id) <> 1",
        (channel,),
    )
    assert unnotified == [], "an alert without exactly one notification"

    def outbox_ids() -> set[str]:
        rows = query(
            settings, "SELECT notification_id::text FROM outbox WHERE channel = %s", (channel,)
        )
        return {r[0] for r in rows}

    def all_sent() -> bool:
        pending = scalar(
            settings,
            "SELECT count(*) FROM outbox WHERE channel = %s AND status <> 'sent'",
            (channel,),
        )
        return pending == 0 and outbox_ids() <= set(sink.delivered.ids())

    assert wait_for(all_sent, timeout=120), (len(outbox_ids()), len(sink.delivered.ids()))
    time.sleep(1)  # a late repeat would show here
    ids = outbox_ids()
    assert len(ids) >= len(ATTACKERS)
    outcome = Outcome(ids, Counter(sink.delivered.ids()), Counter(sink.wire.ids()))
    assert set(outcome.answered) == ids, "the receiver answered a notification not in the outbox"
    assert sink.bad_signatures == 0
    return outcome


def assert_answered_once(outcome: Outcome) -> None:
    """Exactly once: each notification id answered once, and none repeated on the wire."""
    assert [n for n, c in outcome.answered.items() if c > 1] == []
    assert [n for n, c in outcome.on_wire.items() if c > 1] == []
