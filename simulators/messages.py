"""Wire formats, as pure builders: values in, bytes (or text) out.

Each builder writes what the real equipment writes (see the reference notes on stream
formats), so the ingest decoders see the same shapes from the simulator as from the
field. Nothing here reads a clock or a random generator: callers pass both in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from config.timezone import LOCAL_TZ

FRIGATE_TOPIC = "frigate/events"
FRIGATE_STATS_TOPIC = "frigate/stats"
FRIGATE_REVIEWS_TOPIC = "frigate/reviews"
KAFKA_ONVIF_TOPIC = "camera.onvif"
ISAPI_PATH = "/api/v1/ingest/isapi"
KAFKA_SYSLOG_TOPIC = "seclog.syslog"
KAFKA_SURICATA_TOPIC = "seclog.suricata"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message ready to send. `sender` is the MQTT account to publish as, or for
    HTTP the device whose credentials sign the request; `topic` is then the URL path."""

    stream: str  # the progress row it counts on: sensors, cameras, syslog, suricata
    transport: Literal["mqtt", "kafka", "http"]
    topic: str
    payload: bytes
    sender: str = ""
    key: bytes | None = None
    content_type: str | None = None  # HTTP only


@dataclass(frozen=True, slots=True)
class Reading:
    name: str
    unit: str  # SenML unit
    value: float


# --- IoT measurements -------------------------------------------------------------------


def native_json(readings: Sequence[Reading], when: datetime) -> bytes:
    """`{"ts": "<ISO 8601 +07:00>", "<metric>": value, ...}` — the project's own format.

    Milliseconds in `ts`: at a high simulated rate one device reports more than once a
    second, and readings with equal timestamps are (rightly) stored once.
    """
    body: dict[str, Any] = {"ts": when.astimezone(LOCAL_TZ).isoformat(timespec="milliseconds")}
    body.update((r.name, r.value) for r in readings)
    return orjson.dumps(body)


def senml_base_name(device_id: str) -> str:
    return f"urn:dev:ioc:{device_id}:"


def senml(device_id: str, readings: Sequence[Reading], when: datetime) -> bytes:
    """An RFC 8428 pack: base name and base time on the first record, one record per
    metric, every record time-less so all share the base time."""
    records: list[dict[str, Any]] = [{"n": r.name, "u": r.unit, "v": r.value} for r in readings]
    if not records:
        raise ValueError("a SenML pack needs at least one record")
    records[0] = {
        "bn": senml_base_name(device_id),
        "bt": round(when.timestamp(), 3),
        **records[0],
    }
    return orjson.dumps(records)


# --- Frigate ----------------------------------------------------------------------------


def frigate_event_id(start_time: float, suffix: str) -> str:
    """Frigate names an event `<frame time>-<6 random [a-z0-9]>`."""
    return f"{start_time:.6f}-{suffix}"


def frigate_message(
    kind: Literal["new", "update", "end"], before: Mapping[str, Any], after: Mapping[str, Any]
) -> bytes:
    if before["id"] != after["id"]:
        raise ValueError("before and after describe different events")
    return orjson.dumps({"type": kind, "before": before, "after": after})


@dataclass(frozen=True, slots=True)
class CameraFps:
    """One camera's figures in Frigate's stats; camera_fps = process_fps + skipped_fps."""

    camera_fps: float
    process_fps: float
    skipped_fps: float
    detection_fps: float
    pid: int
    capture_pid: int
    ffmpeg_pid: int


def frigate_stats(
    cameras: Mapping[str, CameraFps], when: float, uptime_s: int, version: str
) -> bytes:
    """The snapshot Frigate (0.14+) publishes on `frigate/stats`: per camera, detectors,
    the summed detection rate and `service` with the snapshot time (`last_updated`)."""
    detection = round(sum(c.detection_fps for c in cameras.values()), 2)
    body = {
        "cameras": {
            name: {
                "audio_dBFS": 0.0,
                "audio_rms": 0.0,
                "camera_fps": c.camera_fps,
                "capture_pid": c.capture_pid,
                "detection_enabled": 1,
                "detection_fps": c.detection_fps,
                "ffmpeg_pid": c.ffmpeg_pid,
                "pid": c.pid,
                "process_fps": c.process_fps,
                "skipped_fps": c.skipped_fps,
            }
            for name, c in cameras.items()
        },
        "detectors": {"coral": {"detection_start": 0.0, "inference_speed": 8.2, "pid": 412}},
        "detection_fps": detection,
        "processes": {"go2rtc": {"pid": 118}, "recording": {"pid": 407}},
        "service": {
            "last_updated": int(when),
            "latest_version": version,
            "storage": {},
            "temperatures": {},
            "uptime": uptime_s,
            "version": version,
        },
    }
    return orjson.dumps(body)


# --- Syslog -----------------------------------------------------------------------------

FACILITY = {"kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "cron": 9, "authpriv": 10}
SEVERITY = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def pri(facility: str, severity: str) -> int:
    return FACILITY[facility] * 8 + SEVERITY[severity]


def rfc3164(
    priority: int, when: datetime, host: str, tag: str, pid: int | None, message: str
) -> str:
    """`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG` in the source's local time, no year.

    Month names are spelled out here because strftime's %b follows the locale.
    """
    local = when.astimezone(LOCAL_TZ)
    stamp = f"{_MONTHS[local.month - 1]} {local.day:>2} {local:%H:%M:%S}"
    proc = f"{tag}[{pid}]" if pid is not None else tag
    return f"<{priority}>{stamp} {host} {proc}: {message}"


def sd_element(sd_id: str, params: Mapping[str, str]) -> str:
    def escape(value: str) -> str:
        # RFC 5424 §6.3.3: inside PARAM-VALUE, '"', '\' and ']' must be escaped.
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")

    body = "".join(f' {name}="{escape(value)}"' for name, value in params.items())
    return f"[{sd_id}{body}]"


def rfc5424(
    priority: int,
    when: datetime,
    host: str,
    app: str,
    procid: int | None,
    message: str,
    structured_data: str = "-",
    msgid: str = "-",
) -> str:
    """`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG` with a numeric +07:00 offset."""
    stamp = when.astimezone(LOCAL_TZ).isoformat(timespec="microseconds")
    proc = "-" if procid is None else str(procid)
    return f"<{priority}>1 {stamp} {host} {app} {proc} {msgid} {structured_data} {message}"


# --- Suricata EVE -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signature:
    sid: int
    rev: int
    msg: str
    category: str
    severity: int  # 1 is the most severe in Suricata
    direction: Literal["to_server", "to_client"] = "to_server"


@dataclass(frozen=True, slots=True)
class Flow:
    src_ip: str
    dest_ip: str
    proto: str  # TCP, UDP, ICMP
    src_port: int | None = None
    dest_port: int | None = None
    app_proto: str | None = None


@dataclass(frozen=True, slots=True)
class FlowCounters:
    pkts_toserver: int
    pkts_toclient: int
    bytes_toserver: int
    bytes_toclient: int
    age_s: int


def eve_timestamp(when: datetime) -> str:
    """Suricata writes local time with microseconds and a colon-less offset."""
    return when.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M:%S.%f%z")


def _eve_common(
    when: datetime, sensor: str, iface: str, flow_id: int, flow: Flow, event_type: str
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timestamp": eve_timestamp(when),
        "flow_id": flow_id,
        "in_iface": iface,
        "event_type": event_type,
        "src_ip": flow.src_ip,
    }
    if flow.src_port is not None:
        record["src_port"] = flow.src_port
    record["dest_ip"] = flow.dest_ip
    if flow.dest_port is not None:
        record["dest_port"] = flow.dest_port
    record["proto"] = flow.proto
    if flow.proto == "ICMP":
        record.update(icmp_type=8, icmp_code=0)  # echo request: the only ICMP we simulate
    if flow.app_proto:
        record["app_proto"] = flow.app_proto
    record["host"] = sensor
    return record


def _flow_block(when: datetime, counters: FlowCounters) -> dict[str, Any]:
    start = when - timedelta(seconds=counters.age_s)
    return {
        "pkts_toserver": counters.pkts_toserver,
        "pkts_toclient": counters.pkts_toclient,
        "bytes_toserver": counters.bytes_toserver,
        "bytes_toclient": counters.bytes_toclient,
        "start": eve_timestamp(start),
    }


def eve_alert(
    when: datetime,
    sensor: str,
    iface: str,
    flow_id: int,
    flow: Flow,
    signature: Signature,
    counters: FlowCounters,
) -> bytes:
    record = _eve_common(when, sensor, iface, flow_id, flow, "alert")
    record["direction"] = signature.direction
    record["alert"] = {
        "action": "allowed",
        "gid": 1,
        "signature_id": signature.sid,
        "rev": signature.rev,
        "signature": signature.msg,
        "category": signature.category,
        "severity": signature.severity,
    }
    record["flow"] = _flow_block(when, counters)
    return orjson.dumps(record)


def eve_flow(
    when: datetime, sensor: str, iface: str, flow_id: int, flow: Flow, counters: FlowCounters
) -> bytes:
    record = _eve_common(when, sensor, iface, flow_id, flow, "flow")
    record["flow"] = {
        **_flow_block(when, counters),
        "end": eve_timestamp(when),
        "age": counters.age_s,
        "state": "closed" if flow.proto == "TCP" else "new",
        "reason": "timeout",
        "alerted": False,
    }
    return orjson.dumps(record)


def eve_dns_query(
    when: datetime,
    sensor: str,
    iface: str,
    flow_id: int,
    flow: Flow,
    rrname: str,
    rrtype: str,
    query_id: int,
) -> bytes:
    """A DNS query in Suricata 7's default (version 2) layout."""
    record = _eve_common(when, sensor, iface, flow_id, flow, "dns")
    record["dns"] = {
        "type": "query",
        "id": query_id,
        "rrname": rrname,
        "rrtype": rrtype,
        "tx_id": 0,
        "opcode": 0,
    }
    return orjson.dumps(record)
