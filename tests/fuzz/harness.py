"""Fuzz payloads through the real worker (`ioc ingest`) and account for every one.

The outcome of a payload is read back from the database: a dead letter (found by its
Kafka position, or by topic and SHA-256 for MQTT, which has no position), or its rows
(telemetry: the rows of its own device, each payload publishing on a topic of its own;
Frigate: the event ids the in-process decoder predicts; Kafka: the event id its position
gives, and the ids derived from it for a message of several events). Every payload must
have exactly one of the two. The in-process `decode()` is used only to predict row keys
and counts; the outcome itself is the worker's. Frigate stats are counted by the devices
(cameras) the decoder predicts, not by their times: a snapshot without `last_updated`
is taken as of its arrival, which only the worker knows.

Transports: MQTT and Kafka. HTTP ingest does not exist yet; when it does, give it a
`Feed` (send payloads, return their positions) and its formats a transport in
`payloads.TRANSPORT`, and the accounting below applies unchanged (its dead letters are
found by topic and SHA-256, like MQTT's).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import yaml
from kafka import KafkaProducer

from config.secrets import MQTT_ADMIN_USER, load_secrets
from config.settings import Settings
from events.ids import stable_id
from events.models import CameraEvent, Measurement, SecurityEvent
from ingest.decode import decode
from ingest.message import RawMessage
from ingest.routes import kafka_router, load_routes, mqtt_router
from simulators.publishers import MqttSender
from tests.fuzz.payloads import (
    CAMERA_FORMATS,
    KAFKA_FORMATS,
    SHARED_TOPICS,
    Payload,
    kafka_topic,
)

MAX_MESSAGE_BYTES = 262144
MQTT_WINDOW = 500  # QoS 1 messages in flight from the fuzz publisher


@dataclass(frozen=True)
class FuzzRoutes:
    path: Path
    tag: str
    share_group: str
    mqtt_topics: dict[str, str]  # format -> topic, for the formats of a shared topic
    kafka_topics: dict[str, str]  # format -> topic

    def topic(self, item: Payload) -> str:
        if item.format == "ioc_telemetry":
            return f"ioc/v1/{self.device(item)}/telemetry"
        return self.mqtt_topics.get(item.format) or self.kafka_topics[item.format]

    def device(self, item: Payload) -> str:
        return f"fz{self.tag}-{item.seq}"


def make_routes(directory: Path) -> FuzzRoutes:
    """Routes as deploy/ingest/routes.yaml has them, on topics of this run only."""
    tag = uuid.uuid4().hex[:8]
    routes = FuzzRoutes(
        path=directory / f"routes-fuzz-{tag}.yaml",
        tag=tag,
        share_group=f"fuzz-{tag}",
        # frigate/fuzz-<tag>/events …: the ingest account reads frigate/#.
        mqtt_topics={
            fmt: topic.replace("frigate/", f"frigate/fuzz-{tag}/", 1)
            for fmt, topic in SHARED_TOPICS.items()
        },
        kafka_topics={fmt: f"{kafka_topic(fmt)}.fuzz-{tag}" for fmt in KAFKA_FORMATS},
    )
    mqtt_routes = [{"filter": t, "format": f} for f, t in routes.mqtt_topics.items()]
    config = {
        "mqtt": {
            "share_group": routes.share_group,
            "routes": [{"filter": "ioc/v1/+/telemetry", "format": "ioc_telemetry"}, *mqtt_routes],
        },
        "kafka": {
            "group_id": f"fuzz-{tag}",
            "routes": [{"topic": t, "format": f} for f, t in routes.kafka_topics.items()],
        },
        "limits": {"max_message_bytes": MAX_MESSAGE_BYTES},
        "batching": {"max_messages": 2000, "max_wait_seconds": 0.1},
    }
    routes.path.write_text(yaml.safe_dump(config))
    return routes


# ---- sending ------------------------------------------------------------------------


@dataclass
class Sent:
    item: Payload
    topic: str
    partition: int | None = None
    offset: int | None = None


def send_mqtt(settings: Settings, routes: FuzzRoutes, items: list[Payload]) -> list[Sent]:
    """QoS 1 as the operators' account (it may write any topic), so arbitrary bytes (NUL,
    newlines) go through, which mosquitto_pub -l cannot send."""
    failures: list[str] = []
    sender = MqttSender(
        settings.mqtt_host, settings.mqtt_port, MQTT_ADMIN_USER,
        load_secrets(settings).mqtt_admin_password, failures.append, max_inflight=MQTT_WINDOW,
    )  # fmt: skip
    sender.start()
    # On a loaded machine (CI) the CONNACK came after the first window was queued, and
    # every later publish was refused as "not connected".
    if not sender.wait_connected(60):
        sender.close(timeout=0)
        raise RuntimeError(f"MQTT: no connection to {settings.mqtt_host}:{settings.mqtt_port}")
    sent = []

    def done(reason: str | None) -> None:
        if reason:
            failures.append(reason)

    for item in items:
        topic = routes.topic(item)
        refused = sender.publish(topic, item.payload, done)
        if refused:
            failures.append(refused)
        sent.append(Sent(item, topic))
    sender.close(timeout=120)
    if failures:
        raise RuntimeError(f"MQTT publish failed {len(failures)} times: {failures[:3]}")
    return sent


def send_kafka(settings: Settings, routes: FuzzRoutes, items: list[Payload]) -> list[Sent]:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5,
        max_request_size=4 * 1024 * 1024,
    )  # fmt: skip
    futures = []
    for item in items:
        topic = routes.topic(item)
        futures.append((item, topic, producer.send(topic, value=item.payload)))
    producer.flush(300)
    sent = []
    for item, topic, future in futures:
        meta = future.get(timeout=60)
        sent.append(Sent(item, topic, meta.partition, meta.offset))
    producer.close()
    return sent


Feed = Callable[[Settings, FuzzRoutes, list[Payload]], list[Sent]]
FEEDS: dict[str, Feed] = {"mqtt": send_mqtt, "kafka": send_kafka}


# ---- predicting and reading back ----------------------------------------------------


@dataclass
class Expected:
    """What the in-process decoder makes of a sent payload: the keys of its rows (None if
    it would dead-letter it)."""

    sent: Sent
    keys: frozenset[tuple[str, str]] | None
    reason: str | None = None  # the in-process dead letter's

    @property
    def item(self) -> Payload:
        return self.sent.item


def predict(routes: FuzzRoutes, sent: Iterable[Sent]) -> list[Expected]:
    config = load_routes(routes.path)
    routers = {"mqtt": mqtt_router(config), "kafka": kafka_router(config)}
    out = []
    for s in sent:
        message = RawMessage(s.item.transport, s.topic, s.item.payload, s.partition, s.offset)
        result = decode(message, routers[s.item.transport], MAX_MESSAGE_BYTES)
        if result.dead_letter:
            out.append(Expected(s, None, result.dead_letter.reason))
        else:
            out.append(Expected(s, frozenset(_key(e) for e in result.events)))
    return out


def _key(event: object) -> tuple[str, str]:
    if isinstance(event, Measurement):
        return (event.device_id, f"{event.metric}|{_instant(event.time)}")
    if isinstance(event, CameraEvent | SecurityEvent):
        return (event.event_id, _instant(event.time))
    raise TypeError(f"unexpected event {type(event).__name__}")


def _instant(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def _camera_row(event_id: str, instant: str) -> str:
    # Frigate's identity is (event id, start time): two events may share an id.
    return f"{event_id}|{instant}"


@dataclass
class Observed:
    dead: dict[tuple[str, object], tuple[str, str | None]]  # position -> reason, format
    rows: dict[str, int]  # device id or event id -> rows


def observe(conn: psycopg.Connection, routes: FuzzRoutes, expected: list[Expected]) -> Observed:
    topics = [*routes.mqtt_topics.values(), *routes.kafka_topics.values()]
    dead: dict[tuple[str, object], tuple[str, str | None]] = {}
    for topic, partition, offset, sha, reason, fmt in conn.execute(
        "SELECT topic, kafka_partition, kafka_offset, payload_sha256, reason, format"
        " FROM dead_letters WHERE topic = ANY(%s) OR topic LIKE %s",
        (topics, f"ioc/v1/fz{routes.tag}-%"),
    ):
        position = (partition, offset) if offset is not None else sha
        dead[(topic, position)] = (reason, fmt)
    rows: dict[str, int] = {}
    rows.update(
        conn.execute(
            "SELECT device_id, count(*) FROM measurements WHERE device_id LIKE %s"
            " GROUP BY device_id",
            (f"fz{routes.tag}-%",),
        ).fetchall()
    )
    # A Kafka message may hold several events (web, proxy and auditd lines; two auditd
    # serials after a mutation): the first has its position's id, the others ids derived
    # from it, and every one counts for the message.
    owner_of: dict[str, str] = {}
    for e in expected:
        if e.sent.offset is not None:
            owner = _kafka_id(e.sent)
            owner_of[owner] = owner
            owner_of.update((event_id, owner) for event_id, _ in e.keys or ())
    for event_id, n in conn.execute(
        "SELECT event_id, count(*) FROM security_events WHERE event_id = ANY(%s) GROUP BY event_id",
        (list(owner_of),),
    ):
        owner = owner_of[event_id]
        rows[owner] = rows.get(owner, 0) + n
    cameras = [e for e in expected if e.item.format in CAMERA_FORMATS]
    camera_ids = sorted({k[0] for e in cameras for k in e.keys or ()})
    for event_id, start in conn.execute(
        "SELECT event_id, time FROM camera_events WHERE event_id = ANY(%s)", (camera_ids,)
    ):
        key = _camera_row(event_id, _instant(start))
        rows[key] = rows.get(key, 0) + 1
    rows.update(_stats_rows(conn, routes, expected))
    return Observed(dead, rows)


def _stats_rows(
    conn: psycopg.Connection, routes: FuzzRoutes, expected: list[Expected]
) -> dict[str, int]:
    """Frigate stats: each payload's rows are its predicted cameras' readings."""
    stats = [e for e in expected if e.item.format == "frigate_stats" and e.keys]
    devices = sorted({device for e in stats for device, _ in e.keys or ()})
    per_device: dict[str, int] = dict(
        conn.execute(
            "SELECT device_id, count(*) FROM measurements WHERE device_id = ANY(%s)"
            " GROUP BY device_id",
            (devices,),
        ).fetchall()
    )
    return {
        row_owner(routes, e)[0]: sum(per_device.get(d, 0) for d in {d for d, _ in e.keys or ()})
        for e in stats
    }


def _kafka_id(sent: Sent) -> str:
    return stable_id("kafka", sent.topic, sent.partition, sent.offset)


def dead_position(sent: Sent) -> tuple[str, object]:
    if sent.offset is not None:
        return (sent.topic, (sent.partition, sent.offset))
    return (sent.topic, hashlib.sha256(sent.item.payload).hexdigest())


def row_owner(routes: FuzzRoutes, e: Expected) -> tuple[str, int]:
    """The row key the payload's rows are counted under, and how many the decoder
    predicts (0 when it predicts a dead letter)."""
    n = len(e.keys or ())
    if e.item.format == "ioc_telemetry":
        return routes.device(e.item), n
    if e.item.format == "frigate_stats":
        return f"<stats {e.item.seq}>", n
    if e.item.format in CAMERA_FORMATS:
        return (_camera_row(*next(iter(e.keys))) if e.keys else f"<no id: {e.item.seq}>"), n
    return _kafka_id(e.sent), n


# ---- the verdict --------------------------------------------------------------------


@dataclass
class Report:
    payloads: int = 0
    by_format: Counter[str] = field(default_factory=Counter)
    stored: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, outcome)
    db_refused: int = 0  # decoded in process, dead-lettered by the worker (database said no)
    problems: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)
        else:
            self.problems[-1] = f"... and more (last: {text})"

    def summary(self) -> str:
        lines = [f"payloads {self.payloads}: stored {sum(self.stored.values())},"
                 f" dead-lettered {sum(self.dead.values())}, refused by the database after"
                 f" decoding {self.db_refused}, problems {len(self.problems)}"]  # fmt: skip
        for fmt, n in sorted(self.by_format.items()):
            lines.append(f"  {fmt:16} {n:7} payloads  {self.stored[fmt]:7} stored"
                         f"  {self.dead[fmt]:7} dead letters")  # fmt: skip
        kinds = sorted({k for k, _ in self.by_kind})
        lines.append("  by generator: " + ", ".join(
            f"{k} {self.by_kind[(k, 'row')]}/{self.by_kind[(k, 'dead')]}" for k in kinds
        ) + " (stored/dead)")  # fmt: skip
        lines.append("  commonest reasons: " + "; ".join(
            f"{r} ({n})" for r, n in self.reasons.most_common(6)))  # fmt: skip
        return "\n".join(lines)


def judge(routes: FuzzRoutes, expected: list[Expected], seen: Observed) -> Report:
    report = Report(payloads=len(expected))
    for e in expected:
        item = e.item
        report.by_format[item.format] += 1
        letter = seen.dead.get(dead_position(e.sent))
        owner, predicted = row_owner(routes, e)
        rows = seen.rows.get(owner, 0)
        where = f"#{item.seq} {item.format}/{item.kind} {item.payload[:120]!r}"
        if letter and rows:
            report.problem(f"{where}: stored ({rows} rows) AND dead-lettered ({letter[0]!r})")
        elif not letter and not rows:
            report.problem(f"{where}: neither stored nor dead-lettered (lost)")
        elif letter:
            report.dead[item.format] += 1
            report.by_kind[(item.kind, "dead")] += 1
            _check_letter(report, e, letter, where)
        else:
            report.stored[item.format] += 1
            report.by_kind[(item.kind, "row")] += 1
            if item.expect == "dead":
                report.problem(f"{where}: stored, but it cannot be valid")
            if rows != predicted:
                report.problem(f"{where}: {rows} rows stored, the decoder makes {predicted}")
    return report


def _check_letter(report: Report, e: Expected, letter: tuple[str, str | None], where: str) -> None:
    reason, fmt = letter
    report.reasons[reason.split(":")[0] + ": " + reason.split(":")[1][:40]
                   if reason.count(":") else reason[:50]] += 1  # fmt: skip
    if e.keys is not None:
        report.db_refused += 1
    if e.item.expect == "row":
        report.problem(f"{where}: a valid payload was dead-lettered: {reason!r}")
    detail = reason.removeprefix(f"{e.item.format}:").strip()
    if len(detail) < 8:
        report.problem(f"{where}: dead letter without a specific reason: {reason!r}")
    if e.item.reason_word and e.item.reason_word not in reason.lower():
        report.problem(f"{where}: reason {reason!r} does not mention {e.item.reason_word!r}")
    if fmt != e.item.format:
        report.problem(f"{where}: dead letter's format is {fmt!r}")


def wait_accounted(
    conn: psycopg.Connection,
    routes: FuzzRoutes,
    expected: list[Expected],
    alive: Callable[[], bool],
    timeout: float,
    settle: float = 30,
) -> Observed:
    """Poll until every payload has an outcome, or nothing changed for `settle` seconds;
    stop at once if the worker died."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while True:
        seen = observe(conn, routes, expected)
        done = sum(
            1 for e in expected
            if dead_position(e.sent) in seen.dead or seen.rows.get(row_owner(routes, e)[0])
        )  # fmt: skip
        if done == len(expected) or not alive():
            return seen
        if done != last:
            last, last_change = done, time.monotonic()
        if time.monotonic() - last_change > settle or time.monotonic() > deadline:
            return seen
        time.sleep(2)


def send_all(settings: Settings, routes: FuzzRoutes, items: list[Payload]) -> list[Sent]:
    """Both transports at once, as a worker sees them in production."""
    by_transport: dict[str, list[Payload]] = defaultdict(list)
    for item in items:
        by_transport[item.transport].append(item)
    results: dict[str, list[Sent]] = {}
    errors: list[BaseException] = []

    def run(name: str, batch: list[Payload]) -> None:
        try:
            results[name] = FEEDS[name](settings, routes, batch)
        except BaseException as error:  # re-raised below, on the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=kv) for kv in by_transport.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [s for batch in results.values() for s in batch]
