"""Mixed test traffic: valid messages of every format, and malformed ones of many kinds,
each malformed one tagged with a word its dead-letter reason must contain."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from config.timezone import LOCAL_TZ


@dataclass
class MqttTraffic:
    by_topic: dict[str, list[bytes]] = field(default_factory=dict)
    measurement_rows: int = 0
    camera_events: int = 0
    bad: list[tuple[str, bytes, str]] = field(default_factory=list)  # topic, payload, reason word

    def add(self, topic: str, payload: bytes) -> None:
        self.by_topic.setdefault(topic, []).append(payload)

    def add_bad(self, topic: str, payload: bytes, word: str) -> None:
        self.add(topic, payload)
        self.bad.append((topic, payload, word))

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.by_topic.values())


def _native(t: datetime, metrics: dict[str, float]) -> bytes:
    return json.dumps({"ts": t.isoformat(), **metrics}).encode()


def _senml(device: str, t: datetime, records: list[tuple[str, str, float]]) -> bytes:
    first = {"bn": f"urn:dev:ioc:{device}:", "bt": t.timestamp()}
    body = [{"n": n, "u": u, "v": v} for n, u, v in records]
    body[0] = {**first, **body[0]}
    return json.dumps(body).encode()


BAD_TELEMETRY = [
    # (builder(seq, t) -> payload, reason word)
    (lambda s, t: b'{"ts": "2026-11-24T08:00:00+07:00", "pm25": ' + str(s).encode(), "json"),
    (lambda s, t: json.dumps({"pm25": 10 + s}).encode(), "ts"),
    (lambda s, t: json.dumps({"ts": t.isoformat(), "pm25": f"x{s}"}).encode(), "pm25"),
    (lambda s, t: json.dumps({"ts": t.replace(tzinfo=None).isoformat(), "pm25": s}).encode(),
     "offset"),
    (lambda s, t: json.dumps({"ts": (t + timedelta(days=30)).isoformat(), "pm25": s}).encode(),
     "future"),
    (lambda s, t: json.dumps({"ts": t.isoformat(), "pm25": True, "n": s}).encode(), "pm25"),
    (lambda s, t: json.dumps([{"n": "status", "vs": f"ok{s}", "bt": t.timestamp()}]).encode(),
     "string"),
    (lambda s, t: b"\xff\xfe\x01garbage" + str(s).encode(), "json"),
    (lambda s, t: json.dumps({"ts": t.isoformat(), "note": "x" * 300_000, "s": s}).encode(),
     "too large"),
]  # fmt: skip


def mqtt_traffic(devices: list[str], total: int, bad_share: float, seed: int = 7) -> MqttTraffic:
    """`total` messages: telemetry from the devices plus Frigate event lifecycles."""
    rng = random.Random(seed)
    traffic = MqttTraffic()
    n_bad = round(total * bad_share)
    n_frigate = total // 10
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
    # Frigate: each event is new, update, update, end (4 messages, one row).
    for i in range(n_frigate // 4):
        start = base.timestamp() + i
        event_id = f"{start:.6f}-{i:06x}"
        for kind in ("new", "update", "update", "end"):
            after = {
                "id": event_id, "camera": "hatien_border_1", "label": "car",
                "score": round(rng.uniform(0.6, 0.95), 3), "top_score": 0.96,
                "start_time": start, "end_time": start + 9 if kind == "end" else None,
                "box": [10, 20, 200, 220], "current_zones": ["lane_in"],
                "entered_zones": ["lane_in"], "has_snapshot": True, "stationary": False,
                "false_positive": False,
            }  # fmt: skip
            traffic.add(
                "frigate/events", json.dumps({"type": kind, "before": {}, "after": after}).encode()
            )
        traffic.camera_events += 1
    n_bad_frigate = n_bad // 10
    for s in range(n_bad_frigate):
        no_id = {"type": "new", "after": {"camera": "c", "start_time": 1.7e9, "s": s}}
        bad_type = {
            "type": "exploded",
            "after": {"id": f"x{s}", "camera": "c", "start_time": 1.7e9},
        }
        payload, word = [
            (json.dumps(no_id), "id"),
            (json.dumps(bad_type), "type"),
            ('{"type": "new", "after": {' + str(s), "json"),
        ][s % 3]
        traffic.add_bad("frigate/events", payload.encode(), word)
    # Telemetry: fill the rest, with the remaining bad share spread over devices.
    n_telemetry = total - traffic.total - (n_bad - n_bad_frigate)
    for i in range(n_telemetry):
        device = devices[i % len(devices)]
        t = base + timedelta(seconds=i)  # distinct per device and message
        topic = f"ioc/v1/{device}/telemetry"
        if i % 3 == 0:
            records = [("pm25", "ug/m3", round(rng.uniform(5, 80), 1)),
                       ("temperature", "Cel", round(rng.uniform(24, 34), 1))]  # fmt: skip
            traffic.add(topic, _senml(device, t, records))
            traffic.measurement_rows += len(records)
        else:
            metrics = {"pm25": round(rng.uniform(5, 80), 1), "pm10": round(rng.uniform(10, 120), 1)}
            if i % 3 == 1:
                metrics["temp"] = round(rng.uniform(24, 34), 1)
            traffic.add(topic, _native(t, metrics))
            traffic.measurement_rows += len(metrics)
    for s in range(n_bad - n_bad_frigate):
        device = devices[s % len(devices)]
        build, word = BAD_TELEMETRY[s % len(BAD_TELEMETRY)]
        traffic.add_bad(f"ioc/v1/{device}/telemetry", build(s, base + timedelta(seconds=s)), word)
    for payloads in traffic.by_topic.values():
        rng.shuffle(payloads)
    return traffic


@dataclass
class KafkaTraffic:
    messages: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    valid: int = 0
    bad_words: list[str] = field(default_factory=list)


def _syslog_line(i: int, rng: random.Random, now: datetime) -> tuple[bytes, bytes]:
    ip = f"203.0.113.{i % 250 + 1}"
    user = rng.choice(["root", "admin", "oracle", "deploy"])
    port = 30000 + i % 30000
    ts = now - timedelta(seconds=i)
    if i % 2:
        local = ts.astimezone(LOCAL_TZ)  # RFC 3164 carries the sender's local time, no zone
        stamp = f"{local:%b} {local.day:2d} {local:%H:%M:%S}"
        line = f"<38>{stamp} web-{i % 7} sshd[{1000 + i}]: Failed password for {user} from {ip} port {port} ssh2"  # noqa: E501
    else:
        stamp = ts.isoformat(timespec="milliseconds")
        line = f"<86>1 {stamp} db-{i % 5} sshd {2000 + i} - - Accepted publickey for {user} from {ip} port {port} ssh2"  # noqa: E501
    return ip.encode(), line.encode()


def _eve(i: int, rng: random.Random, now: datetime) -> tuple[bytes, bytes]:
    ip = f"198.51.100.{i % 250 + 1}"
    ts = (now - timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    record: dict[str, object] = {
        "timestamp": ts, "flow_id": 1_000_000 + i, "src_ip": ip, "src_port": 40000 + i % 20000,
        "dest_ip": "10.20.0.5", "dest_port": rng.choice([22, 80, 443, 3389]), "proto": "TCP",
    }  # fmt: skip
    if i % 2:
        record["event_type"] = "alert"
        record["alert"] = {
            "action": "allowed", "gid": 1, "signature_id": 2018358 + i % 5, "rev": 10,
            "signature": "ET SCAN Potential SSH Scan", "category": "Attempted Information Leak",
            "severity": 1 + i % 3,
        }  # fmt: skip
    else:
        record["event_type"] = "flow"
        record["flow"] = {"pkts_toserver": 3, "pkts_toclient": 2, "bytes_toserver": 180}
    return ip.encode(), json.dumps(record).encode()


def kafka_traffic(syslog_topic: str, eve_topic: str, total: int, bad_share: float) -> KafkaTraffic:
    rng = random.Random(11)
    now = datetime.now(UTC) - timedelta(minutes=5)
    traffic = KafkaTraffic()
    n_bad = round(total * bad_share)
    bad_syslog = [
        (lambda s: f"hello world {s}".encode(), "syslog"),
        (lambda s: b"\xff\xfe\xfd" + str(s).encode(), "syslog"),
        (lambda s: b"", "empty"),
        (lambda s: b"<38>Nov 24 08:00:00 h sshd[1]: " + b"A" * 300_000 + str(s).encode(),
         "too large"),
    ]  # fmt: skip
    bad_eve = [
        (lambda s: b'{"timestamp": "2026-11-24T08:00:00+0700", "event_type": ' + str(s).encode(),
         "json"),
        (lambda s: json.dumps({"event_type": "alert", "src_ip": "1.2.3.4", "n": s}).encode(),
         "timestamp"),
        (lambda s: json.dumps([s, 2, 3]).encode(), "object"),
    ]  # fmt: skip
    for i in range(total - n_bad):
        if i % 5 < 3:
            key, value = _syslog_line(i, rng, now)
            traffic.messages.append((syslog_topic, key, value))
        else:
            key, value = _eve(i, rng, now)
            traffic.messages.append((eve_topic, key, value))
        traffic.valid += 1
    for s in range(n_bad):
        if s % 2:
            build, word = bad_syslog[s % len(bad_syslog)]
            traffic.messages.append((syslog_topic, None, build(s)))
        else:
            build, word = bad_eve[s % len(bad_eve)]
            traffic.messages.append((eve_topic, None, build(s)))
        traffic.bad_words.append(word)
    rng.shuffle(traffic.messages)
    return traffic
