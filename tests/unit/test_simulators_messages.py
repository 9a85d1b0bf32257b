"""Wire formats the simulator writes: native JSON, SenML, Frigate, syslog, Suricata EVE."""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pytest

from config.timezone import LOCAL_TZ
from simulators.cameras import CameraStream
from simulators.fleet import load_fleet
from simulators.messages import (
    Reading,
    frigate_message,
    native_json,
    pri,
    rfc3164,
    rfc5424,
    sd_element,
    senml,
)
from simulators.seclogs import LogStream, load_catalog
from simulators.sensors import SensorStream, nightly
from simulators.signals import night_dawn

FLEET = load_fleet()
T0 = datetime.fromisoformat("2026-11-24T08:00:00+07:00").timestamp()
WHEN = datetime.fromtimestamp(T0, LOCAL_TZ)
READINGS = [Reading("pm25", "ug/m3", 41.2), Reading("temperature", "Cel", 29.1)]

# --- sensors ----------------------------------------------------------------------------


def test_native_json_has_a_local_timestamp_and_one_key_per_metric() -> None:
    later = datetime.fromtimestamp(T0 + 0.6, LOCAL_TZ)
    assert json.loads(native_json(READINGS, later))["ts"] == "2026-11-24T08:00:00.600+07:00"
    body = json.loads(native_json(READINGS, WHEN))
    assert body == {"ts": "2026-11-24T08:00:00.000+07:00", "pm25": 41.2, "temperature": 29.1}
    assert datetime.fromisoformat(body["ts"]).utcoffset() == LOCAL_TZ.utcoffset(None)


# RFC 8428 §4.5.1: a resolved name starts with a letter or digit and holds only these.
SENML_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:./_-]*$")
SENML_LABELS = {"bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t"}
# RFC 8428 §12.1 units, and km/h from RFC 8798.
SENML_UNITS = {"ug/m3", "Cel", "%RH", "m", "/1000", "ppm", "mm/h", "count", "%", "km/h"}


def check_senml(pack: Any) -> list[tuple[str, str, float, float]]:
    """Validate a pack per RFC 8428 and resolve it to (name, unit, value, time) records."""
    assert isinstance(pack, list) and pack
    base_name, base_time, resolved = "", 0.0, []
    for record in pack:
        assert isinstance(record, dict) and set(record) <= SENML_LABELS, record
        base_name = record.get("bn", base_name)
        base_time = record.get("bt", base_time)
        name = base_name + record.get("n", "")
        assert SENML_NAME.fullmatch(name), name
        assert sum(k in record for k in ("v", "vs", "vb", "vd", "s")) == 1, record
        assert isinstance(record["v"], int | float) and not isinstance(record["v"], bool)
        assert record["u"] in SENML_UNITS
        when = base_time + record.get("t", 0)
        assert when >= 2**28  # §4.5.3: at or above 2**28 a time is absolute, not relative
        resolved.append((name, record["u"], record["v"], when))
    return resolved


def test_senml_pack_is_valid_and_resolves_to_device_urn_names() -> None:
    resolved = check_senml(json.loads(senml("kg-rachgia-aq01", READINGS, WHEN)))
    assert resolved == [
        ("urn:dev:ioc:kg-rachgia-aq01:pm25", "ug/m3", 41.2, T0),
        ("urn:dev:ioc:kg-rachgia-aq01:temperature", "Cel", 29.1, T0),
    ]


def test_senml_refuses_an_empty_pack() -> None:
    with pytest.raises(ValueError):
        senml("kg-rachgia-aq01", [], WHEN)


def test_sensor_stream_visits_every_device_in_both_formats() -> None:
    stream = SensorStream(FLEET.devices, seed=1)
    messages = [stream.next(T0) for _ in FLEET.devices]
    assert [m.sender for m in messages if m] == [d.id for d in FLEET.devices]
    for message, device in zip(messages, FLEET.devices, strict=True):
        assert message is not None
        assert message.topic == f"ioc/v1/{device.id}/telemetry"
        body = json.loads(message.payload)
        # A light trap's reading is its night's, dated at dawn.
        when = night_dawn(T0) if nightly(device) else T0
        if device.format == "senml":
            names = {name.rsplit(":", 1)[1] for name, *_ in check_senml(body)}
        else:
            assert datetime.fromisoformat(body.pop("ts")).timestamp() == pytest.approx(when)
            names = set(body)
        assert names == {m.name for m in device.metrics}
    assert {d.format for d in FLEET.devices} == {"native", "senml"}


def test_light_traps_send_their_night_once_at_dawn() -> None:
    traps = tuple(d for d in FLEET.devices if nightly(d))
    assert len(traps) == 6
    stream = SensorStream(traps, seed=1)
    sent = [stream.next(T0 + i * 100.0) for i in range(864)]  # 24 h; each trap every 10 min
    by_trap: dict[str, list[float]] = {}
    for message in filter(None, sent):
        body = json.loads(message.payload)
        when = body.get("ts") if isinstance(body, dict) else None  # SenML: a list
        by_trap.setdefault(message.sender, []).append(when)
    # 24 hours hold one dawn: each trap sends the night before it and the night after.
    assert {len(times) for times in by_trap.values()} == {2}
    native = [t for t in by_trap["ag-thoaison-lt01"] if t]
    assert [datetime.fromisoformat(t).hour for t in native] == [6, 6]


def test_sensor_stream_uses_the_topic_provisioning_gave() -> None:
    device = FLEET.devices[0]
    stream = SensorStream(FLEET.devices, 1, topics={device.id: "ioc/v1/elsewhere/telemetry"})
    assert stream.next(T0).topic == "ioc/v1/elsewhere/telemetry"


# --- Frigate ----------------------------------------------------------------------------

FRIGATE_ID = re.compile(r"^\d{10}\.\d{6}-[a-z0-9]{6}$")


def _camera_messages(count: int, seed: int = 3) -> list[dict[str, Any]]:
    stream = CameraStream(FLEET.cameras, seed)
    out = []
    for i in range(count):
        message = stream.next(T0 + i * 0.7)
        assert message.topic == "frigate/events" and message.sender == "frigate"
        out.append(json.loads(message.payload))
    return out


def test_each_frigate_event_goes_new_then_updates_then_end_under_one_id() -> None:
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in _camera_messages(3000):
        assert message["before"]["id"] == message["after"]["id"]
        by_id[message["after"]["id"]].append(message)
    finished = [msgs for msgs in by_id.values() if msgs[-1]["type"] == "end"]
    assert len(finished) > 100
    for msgs in finished:
        kinds = [m["type"] for m in msgs]
        assert kinds[0] == "new" and kinds[-1] == "end"
        assert set(kinds[1:-1]) == {"update"} and len(kinds) - 2 >= 3
        assert all(m["after"]["end_time"] is None for m in msgs[:-1])
        end = msgs[-1]["after"]
        assert end["end_time"] >= end["start_time"]
        assert len({m["after"]["start_time"] for m in msgs}) == 1
        assert len({(m["after"]["camera"], m["after"]["label"]) for m in msgs}) == 1
        # Each message's "before" is the previous message's "after".
        for previous, current in itertools.pairwise(msgs):
            assert current["before"] == previous["after"]


def test_frigate_events_interleave_like_a_busy_nvr() -> None:
    ids = [m["after"]["id"] for m in _camera_messages(200)]
    switches = sum(a != b for a, b in itertools.pairwise(ids))
    assert switches > 100


def test_frigate_event_fields_look_like_frigate() -> None:
    cameras = {c.name: c for c in FLEET.cameras}
    for message in _camera_messages(500):
        after = message["after"]
        camera = cameras[after["camera"]]
        width, height = camera.frame
        assert FRIGATE_ID.fullmatch(after["id"])
        assert after["id"].startswith(f"{after['start_time']:.6f}-")
        assert after["label"] in camera.labels
        assert 0.5 <= after["score"] <= after["top_score"] <= 1
        x1, y1, x2, y2 = after["box"]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert after["area"] == (x2 - x1) * (y2 - y1)
        zone_names = {z.name for z in camera.zones}
        assert set(after["current_zones"]) <= set(after["entered_zones"]) <= zone_names
        assert isinstance(after["stationary"], bool) and after["false_positive"] is False


def test_frigate_zones_and_labels_are_all_used() -> None:
    messages = _camera_messages(3000)
    labels = Counter(m["after"]["label"] for m in messages)
    assert set(labels) == {"person", "car", "motorcycle", "truck"}
    entered = {z for m in messages for z in m["after"]["entered_zones"]}
    assert len(entered) >= 6


def test_same_seed_same_camera_events() -> None:
    assert _camera_messages(100, seed=9) == _camera_messages(100, seed=9)
    assert _camera_messages(100, seed=9) != _camera_messages(100, seed=10)


def test_frigate_message_refuses_mismatched_ids() -> None:
    with pytest.raises(ValueError):
        frigate_message("update", {"id": "a"}, {"id": "b"})


# --- syslog -----------------------------------------------------------------------------

RFC3164 = re.compile(
    r"^<(?P<pri>\d{1,3})>(?P<ts>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d "
    r"\d\d:\d\d:\d\d) (?P<host>[^ ]+) (?P<tag>[A-Za-z0-9_.-]+)(?:\[(?P<pid>\d+)\])?: (?P<msg>.*)$"
)
RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
    r"(?P<msgid>\S+) (?P<sd>-|(?:\[[^ \]]+(?: [^ =\]]+=\"(?:[^\"\\\]]|\\.)*\")*\])+) (?P<msg>.*)$"
)
SOURCE_IP = re.compile(r" from (\d+\.\d+\.\d+\.\d+) port \d+")
SSHD = [
    re.compile(r"^Failed password for invalid user \S+ from \S+ port \d+ ssh2$"),
    re.compile(r"^Failed password for \S+ from \S+ port \d+ ssh2$"),
    re.compile(r"^Invalid user \S+ from \S+ port \d+$"),
    re.compile(r"^Accepted publickey for \S+ from \S+ port \d+ ssh2: ED25519 SHA256:[\w+/]{43}$"),
]
ATTACKERS = [ipaddress.ip_network(n) for n in ("203.0.113.0/24", "198.51.100.0/24")]
OUTSIDE = [*ATTACKERS, ipaddress.ip_network("192.0.2.0/24")]


def _allowed_address(text: str) -> bool:
    address = ipaddress.ip_address(text)
    return address in ipaddress.ip_network("10.0.0.0/8") or any(address in n for n in OUTSIDE)


def test_rfc3164_and_rfc5424_builders_write_the_standard_shapes() -> None:
    line = rfc3164(pri("authpriv", "info"), WHEN, "kg-ioc-app01", "sshd", 812, "hello")
    assert line == "<86>Nov 24 08:00:00 kg-ioc-app01 sshd[812]: hello"
    early = datetime.fromisoformat("2026-11-04T08:00:00+07:00")
    assert rfc3164(78, early, "h", "CRON", None, "x") == "<78>Nov  4 08:00:00 h CRON: x"
    line = rfc5424(85, WHEN, "kg-dvc-web01", "sudo", None, "hi", sd_element("origin", {"ip": "1"}))
    assert line == '<85>1 2026-11-24T08:00:00.000000+07:00 kg-dvc-web01 sudo - - [origin ip="1"] hi'


def test_sd_param_values_escape_quote_backslash_and_bracket() -> None:
    assert sd_element("x@1", {"v": 'a"b\\c]d'}) == r'[x@1 v="a\"b\\c\]d"]'


def _log_messages(count: int, seed: int = 5):
    stream = LogStream(load_catalog(), seed)
    return [stream.next(T0 + i) for i in range(count)]


def _parse_syslog(text: str) -> tuple[dict[str, str], str]:
    match = RFC5424.fullmatch(text)
    if match:
        stamp = datetime.fromisoformat(match["ts"])
        assert stamp.utcoffset() == LOCAL_TZ.utcoffset(None)
        return match.groupdict(), "rfc5424"
    match = RFC3164.fullmatch(text)
    assert match, text
    return match.groupdict(), "rfc3164"


def test_syslog_lines_parse_as_rfc3164_or_rfc5424_and_are_keyed_by_source() -> None:
    formats: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    for message in _log_messages(3000):
        if message.topic != "seclog.syslog":
            continue
        fields, kind = _parse_syslog(message.payload.decode())
        formats[kind] += 1
        assert 0 <= int(fields["pri"]) <= 191
        tags[fields.get("tag") or fields["app"]] += 1
        source = SOURCE_IP.search(fields["msg"])
        assert message.key == (source[1] if source else fields["host"]).encode()
        if source:
            assert _allowed_address(source[1])
        if (fields.get("tag") or fields["app"]) == "sshd":
            assert any(p.fullmatch(fields["msg"]) for p in SSHD), fields["msg"]
    assert formats["rfc3164"] > 100 and formats["rfc5424"] > 100
    assert {"sshd", "sudo", "CRON", "systemd"} <= set(tags)


def test_brute_force_campaigns_repeat_one_attacker_against_one_host() -> None:
    attempts: Counter[tuple[str, str]] = Counter()
    for message in _log_messages(3000):
        text = message.payload.decode()
        if message.topic == "seclog.syslog" and "Failed password" in text:
            fields, _ = _parse_syslog(text)
            source = SOURCE_IP.search(fields["msg"])
            assert source and any(ipaddress.ip_address(source[1]) in n for n in ATTACKERS)
            attempts[(source[1], fields["host"])] += 1
    assert attempts.most_common(1)[0][1] >= 10


# --- Suricata EVE -----------------------------------------------------------------------

EVE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0700$")


def test_eve_records_have_suricata_fields_and_are_keyed_by_source_ip() -> None:
    seen: Counter[str] = Counter()
    severities: set[int] = set()
    for message in _log_messages(3000):
        if message.topic != "seclog.suricata":
            continue
        record = json.loads(message.payload)
        kind = record["event_type"]
        seen[kind] += 1
        assert EVE_TIME.fullmatch(record["timestamp"])
        assert isinstance(record["flow_id"], int) and 0 < record["flow_id"] < 2**53
        assert record["proto"] in {"TCP", "UDP", "ICMP"}
        assert _allowed_address(record["src_ip"]) and _allowed_address(record["dest_ip"])
        assert message.key == record["src_ip"].encode()
        if record["proto"] != "ICMP":
            assert 0 < record["src_port"] < 65536 and 0 < record["dest_port"] < 65536
        if kind == "alert":
            alert = record["alert"]
            assert alert["gid"] == 1 and alert["action"] == "allowed"
            assert isinstance(alert["signature_id"], int) and alert["rev"] >= 1
            assert alert["signature"].startswith(("ET ", "GPL "))
            assert alert["severity"] in (1, 2, 3)
            severities.add(alert["severity"])
            assert record["direction"] in ("to_server", "to_client")
        elif kind == "dns":
            assert record["dns"]["type"] == "query" and record["dest_port"] == 53
        else:
            assert record["flow"]["end"] >= record["flow"]["start"]
    assert set(seen) == {"alert", "flow", "dns"}
    assert severities == {1, 2, 3}


def test_ids_sees_the_ssh_brute_forcer_too() -> None:
    messages = _log_messages(3000)
    brute = {
        m.key for m in messages if m.topic == "seclog.syslog" and b"Failed password" in m.payload
    }
    alerted = {
        m.key
        for m in messages
        if m.topic == "seclog.suricata" and b'"event_type":"alert"' in m.payload
    }
    assert brute & alerted


def test_log_stream_is_deterministic_by_seed() -> None:
    assert _log_messages(300, seed=4) == _log_messages(300, seed=4)
    assert _log_messages(300, seed=4) != _log_messages(300, seed=8)
