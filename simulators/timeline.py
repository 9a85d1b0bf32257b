"""A scenario turned into its messages: pure, (scenario, fleet, logs, start, seed) in,
time-ordered messages out.

Each message carries its offset from the scenario's start; its payload carries the event
time start + offset (shifted where a clock_skew fault says so), never the wall clock, so
a replay at any speed-up stores the same readings, and the same seed and start give the
same bytes. Randomness comes from generators seeded by (seed, what, index), so adding an
event to a scenario never changes the others' bytes.
"""

from __future__ import annotations

import base64
import itertools
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import orjson

from config.secrets import MQTT_FRIGATE_USER
from config.timezone import LOCAL_TZ
from ingest.provisioning import telemetry_topic
from simulators.camera_stats import FRIGATE_VERSION, CameraHeartbeat
from simulators.cameras import ScriptedTrack, scripted_messages
from simulators.fleet import Camera, Device, Fleet
from simulators.isapi import VEHICLE_TYPES, Anpr, IsapiEvent, jpeg, push
from simulators.malformed import spoil
from simulators.messages import (
    FRIGATE_STATS_TOPIC,
    KAFKA_SURICATA_TOPIC,
    KAFKA_SYSLOG_TOPIC,
    Flow,
    FlowCounters,
    Outgoing,
    Reading,
    eve_flow,
    frigate_stats,
    native_json,
    pri,
    rfc3164,
    rfc5424,
    sd_element,
    senml,
)
from simulators.scenario import (
    CameraAction,
    CaseReport,
    Curve,
    Fault,
    FrigateObject,
    IsapiAnpr,
    LineTraffic,
    PortScan,
    Scenario,
    SshFailures,
    SshLogin,
    resolve,
)
from simulators.seclogs import LogCatalog, Server
from simulators.signals import MetricModel, sample_noise, unit_hash, value


@dataclass(frozen=True, slots=True)
class Timed:
    offset: float  # seconds after the scenario's start
    message: Outgoing


@dataclass(frozen=True)
class Cast:
    """The fleet members a scenario names, looked up (unknown names are an error)."""

    devices: tuple[Device, ...]
    cameras: tuple[Camera, ...]


def cast(scenario: Scenario, fleet: Fleet) -> Cast:
    devices = {d.id: d for d in fleet.devices}
    cameras = {c.name: c for c in fleet.cameras}
    missing = [d for d in scenario.participants.devices if d not in devices]
    missing += [c for c in scenario.participants.cameras if c not in cameras]
    if missing:
        raise ValueError(f"not in the fleet: {', '.join(missing)}")
    for curve in scenario.curves:
        if curve.metric not in {m.name for m in devices[curve.device].metrics}:
            raise ValueError(f"{curve.device} has no metric {curve.metric}")
    return Cast(
        devices=tuple(devices[d] for d in scenario.participants.devices),
        cameras=tuple(cameras[c] for c in scenario.participants.cameras),
    )


def build(
    scenario: Scenario, fleet: Fleet, catalog: LogCatalog, start: float, seed: int
) -> list[Timed]:
    scenario = resolve(scenario, seed)
    members = cast(scenario, fleet)
    out: list[Timed] = []
    for device in members.devices:
        out.extend(_device_messages(scenario, device, start, seed))
    frigate = tuple(c for c in members.cameras if c.source == "frigate")
    if frigate:
        out.extend(_heartbeats(scenario, frigate, start, seed))
    cameras = {c.name: c for c in members.cameras}
    for index, action in enumerate(scenario.camera_events):
        out.extend(camera_messages(action, cameras[action.camera], start, seed, index))
    servers = {s.host: s for s in catalog.servers}
    for index, event in enumerate(scenario.logs):
        rng = random.Random(f"scenario:{seed}:log:{index}")
        out.extend(_log_messages(event, servers, catalog, start, rng))
    out.extend(case_report_messages(scenario.case_reports, start))
    out.sort(key=lambda timed: timed.offset)  # stable: same-offset messages keep order
    return out


def ticks(duration: float, step: float) -> Iterator[float]:
    """Offsets 0, step, 2·step … before the end: a scenario covers [0, duration)."""
    for k in range(math.ceil(duration / step - 1e-9)):
        yield round(k * step, 6)


# --- sensors ------------------------------------------------------------------------


def _faults(scenario: Scenario, device: str) -> tuple[Fault, ...]:
    return tuple(f for f in scenario.faults if f.device == device)


def _active(faults: Iterable[Fault], kind: str, offset: float, step: float) -> Fault | None:
    for fault in faults:
        if fault.kind != kind:
            continue
        # A spike lands on the first reading at or after its start.
        hit = fault.start <= offset < fault.start + step if kind == "spike" else None
        if hit or (hit is None and fault.covers(offset)):
            return fault
    return None


def curve_level(curve: Curve, offset: float) -> float:
    points = curve.points
    if offset <= points[0][0]:
        return points[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        if offset <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (offset - t0) / (t1 - t0)
    return points[-1][1]


def _level(
    model: MetricModel, device: Device, curve: Curve | None, offset: float, t: float, seed: int
) -> float:
    if curve is None:
        return value(model, device.id, t, seed)
    level = curve_level(curve, offset)
    if curve.noise and model.noise:
        level += model.noise * sample_noise(seed, f"{device.id}/{model.name}", t)
    level = max(model.lo, level)
    if model.hi is not None:
        level = min(model.hi, level)
    return round(level, model.decimals)


def _reading(
    scenario: Scenario, device: Device, model: MetricModel, offset: float, start: float, seed: int
) -> float:
    curve = next(
        (c for c in scenario.curves if c.device == device.id and c.metric == model.name), None
    )
    faults = [f for f in _faults(scenario, device.id) if f.metric in (None, model.name)]
    step = scenario.participants.step
    spike = _active(faults, "spike", offset, step)
    if spike is not None and spike.value is not None:
        return spike.value
    stuck = _active(faults, "stuck", offset, step)
    if stuck is not None:
        offset = stuck.start  # the value the sensor froze at
    return _level(model, device, curve, offset, start + offset, seed)


def _device_messages(scenario: Scenario, device: Device, start: float, seed: int) -> list[Timed]:
    faults = _faults(scenario, device.id)
    step = scenario.participants.step
    out = []
    for offset in ticks(scenario.duration, step):
        if _active(faults, "dropout", offset, step):
            continue
        skew = _active(faults, "clock_skew", offset, step)
        when = datetime.fromtimestamp(start + offset + (skew.skew if skew else 0.0), LOCAL_TZ)
        values = [
            Reading(m.name, m.unit, _reading(scenario, device, m, offset, start, seed))
            for m in device.metrics
        ]
        payload = senml(device.id, values, when) if device.format == "senml" else None
        message = Outgoing(
            stream="sensors",
            transport="mqtt",
            topic=telemetry_topic(device.id),
            payload=payload or native_json(values, when),
            sender=device.id,
        )
        if _active(faults, "malformed", offset, step):
            message = spoil(message, unit_hash(seed, device.id, "malformed", offset))
        copies = 2 if _active(faults, "duplicate", offset, step) else 1
        out.extend(Timed(offset, message) for _ in range(copies))
    return out


# --- case reports (epidemics) -------------------------------------------------------

CASES_PATH = "/api/v1/epidemics/cases"
HEALTH_SENDER = "health-department"


def iso_week_of(t: float) -> str:
    iso = datetime.fromtimestamp(t, LOCAL_TZ).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def case_report_messages(reports: Iterable[CaseReport], start: float) -> list[Timed]:
    """One CSV report per posting moment, its rows in the scenario's order."""
    by_at: dict[float, list[CaseReport]] = {}
    for report in reports:
        by_at.setdefault(report.at, []).append(report)
    out = []
    for at, rows in sorted(by_at.items()):
        lines = ["commune,disease,week,cases"] + [
            f"{r.commune},{r.disease},{iso_week_of(start + r.week)},{r.cases}" for r in rows
        ]
        message = Outgoing(
            stream="reports",
            transport="http",
            topic=CASES_PATH,
            payload=("\n".join(lines) + "\n").encode(),
            sender=HEALTH_SENDER,
            content_type="text/csv",
        )
        out.append(Timed(at, message))
    return out


# --- cameras ------------------------------------------------------------------------


def _heartbeats(
    scenario: Scenario, cameras: tuple[Camera, ...], start: float, seed: int
) -> list[Timed]:
    """One Frigate stats snapshot per heartbeat, naming the cameras that are up: a camera
    in a dropout is missing from it, as when its stream is gone from the NVR."""
    figures = CameraHeartbeat(cameras, seed)
    step = scenario.participants.heartbeat
    out = []
    for offset in ticks(scenario.duration, step):
        up = [c for c in cameras if not _active(_faults(scenario, c.name), "dropout", offset, step)]
        if not up:
            continue
        t = start + offset
        snapshot = {c.name: figures.figures(c, t) for c in up}
        payload = frigate_stats(snapshot, t, int(offset), FRIGATE_VERSION)
        message = Outgoing("cameras", "mqtt", FRIGATE_STATS_TOPIC, payload, MQTT_FRIGATE_USER)
        out.append(Timed(offset, message))
    return out


def camera_messages(
    action: CameraAction, camera: Camera, start: float, seed: int, index: int
) -> list[Timed]:
    """What the camera system sends for one scenario camera event."""
    if isinstance(action, FrigateObject | LineTraffic) and camera.source != "frigate":
        raise ValueError(f"{camera.name} is not a Frigate camera ({camera.source})")
    if isinstance(action, IsapiAnpr) and camera.source != "hikvision":
        raise ValueError(f"{camera.name} does not push ISAPI ({camera.source})")
    if isinstance(action, FrigateObject):
        spec = ScriptedTrack(
            camera, action.label, start + action.at, action.path, action.every,
            suffix=_suffix(seed, index, 0), plate=action.plate,
            plate_score=action.plate_score, review=action.review,
        )  # fmt: skip
        return _timed(scripted_messages(spec), start)
    if isinstance(action, LineTraffic):
        return _line_traffic(action, camera, start, seed, index)
    when = datetime.fromtimestamp(start + action.at, LOCAL_TZ)
    anpr = Anpr(action.plate, action.direction, action.confidence,
                VEHICLE_TYPES.get(action.vehicle, "vehicle"))  # fmt: skip
    event = IsapiEvent(camera, when, "ANPR", anpr=anpr)
    picture = jpeg(seed % 1000, text=action.plate) if action.picture else None
    return [Timed(action.at, push(event, picture, boundary=f"----scenario{seed}x{index}"))]


def _timed(messages: list[tuple[float, Outgoing]], start: float) -> list[Timed]:
    return [Timed(round(t - start, 6), message) for t, message in messages]


def _suffix(seed: int, index: int, number: int) -> str:
    """Frigate's six [a-z0-9] after the start time, distinct per object of a run."""
    rng = random.Random(f"scenario:{seed}:camera:{index}:{number}")
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=6))


# Steps of a line-traffic object's foot across the line, in pixels along the normal.
_CROSSING_STEPS = (-45.0, -15.0, 15.0, 45.0)


def _line_traffic(
    action: LineTraffic, camera: Camera, start: float, seed: int, index: int
) -> list[Timed]:
    lines = {line.name: line for line in camera.lines}
    if action.line not in lines:
        raise ValueError(f"{camera.name} has no counting line {action.line}")
    line = lines[action.line]
    width, height = camera.frame
    (ax, ay), (bx, by) = line.p1, line.p2
    dx, dy = (bx - ax) * width, (by - ay) * height
    length = math.hypot(dx, dy)
    # The left of P1→P2 in the picture (y grows downwards): for a line drawn left to
    # right, the top.
    left = (dy / length, -dx / length)
    sign = 1.0 if action.across == "left_to_right" else -1.0
    gap = 60.0 / action.per_minute
    out: list[Timed] = []
    count = math.ceil((action.until - action.at) / gap - 1e-9)
    rng = random.Random(f"scenario:{seed}:line:{index}")
    for number in range(count):
        u = rng.uniform(0.25, 0.75)
        cx, cy = ax + (bx - ax) * u, ay + (by - ay) * u
        path = tuple(
            (cx - sign * left[0] * k / width, cy - sign * left[1] * k / height)
            for k in _CROSSING_STEPS
        )
        spec = ScriptedTrack(
            camera, action.label, start + action.at + number * gap, path, every=1.0,
            suffix=_suffix(seed, index, number), review=False,
        )  # fmt: skip
        out.extend(_timed(scripted_messages(spec), start))
    return out


# --- security logs ------------------------------------------------------------------


def _syslog(server: Server, when: datetime, app: str, pid: int, message: str, key: str) -> Outgoing:
    priority = pri("authpriv", "info")
    if server.format == "rfc5424":
        origin = sd_element("origin", {"ip": server.ip})
        text = rfc5424(priority, when, server.host, app, pid, message, origin)
    else:
        text = rfc3164(priority, when, server.host, app, pid, message)
    return Outgoing("syslog", "kafka", KAFKA_SYSLOG_TOPIC, text.encode(), key=key.encode())


def _server(servers: dict[str, Server], host: str) -> Server:
    try:
        return servers[host]
    except KeyError:
        raise ValueError(f"unknown server {host}; known: {', '.join(sorted(servers))}") from None


def _log_messages(
    event: SshFailures | SshLogin | PortScan,
    servers: dict[str, Server],
    catalog: LogCatalog,
    start: float,
    rng: random.Random,
) -> list[Timed]:
    def when(offset: float) -> datetime:
        return datetime.fromtimestamp(start + offset, LOCAL_TZ)

    if isinstance(event, SshFailures):
        server = _server(servers, event.server)
        out = []
        for i in range(event.count):
            offset = event.at + i * event.every
            user = event.users[i % len(event.users)]
            known = user == "root" or user in catalog.valid_users
            who = user if known else f"invalid user {user}"
            port, pid = rng.randint(32768, 60999), rng.randint(1000, 65000)
            text = f"Failed password for {who} from {event.source} port {port} ssh2"
            line = _syslog(server, when(offset), "sshd", pid, text, event.source)
            out.append(Timed(offset, line))
        return out
    if isinstance(event, SshLogin):
        server = _server(servers, event.server)
        port, pid = rng.randint(32768, 60999), rng.randint(1000, 65000)
        text = f"Accepted {event.method} for {event.user} from {event.source} port {port} ssh2"
        if event.method == "publickey":
            fingerprint = base64.b64encode(rng.randbytes(32)).decode().rstrip("=")
            text += f": ED25519 SHA256:{fingerprint}"
        return [Timed(event.at, _syslog(server, when(event.at), "sshd", pid, text, event.source))]
    sensors = {s.host: s for s in catalog.sensors}
    if event.sensor not in sensors:
        raise ValueError(f"unknown IDS sensor {event.sensor}; known: {', '.join(sorted(sensors))}")
    sensor = sensors[event.sensor]
    out = []
    for i in range(event.ports):
        offset = event.at + i * event.every
        port = (event.first_port - 1 + i) % 65535 + 1
        flow = Flow(event.source, event.target, "TCP", rng.randint(32768, 60999), port)
        counters = FlowCounters(1, 1, 60, 54, 0)  # SYN out, RST back: a closed port
        payload = eve_flow(
            when(offset), sensor.host, sensor.iface, rng.randrange(1, 2**51), flow, counters
        )
        message = Outgoing(
            "suricata", "kafka", KAFKA_SURICATA_TOPIC, payload, key=event.source.encode()
        )
        out.append(Timed(offset, message))
    return out


# --- the file form ------------------------------------------------------------------


def dump_lines(timeline: Iterable[Timed]) -> Iterator[bytes]:
    """One JSON object a line, keys sorted: what was sent, where, and at which offset.
    Payloads that are not UTF-8 go as base64 under payload_b64."""
    for timed in timeline:
        m = timed.message
        record: dict[str, object] = {
            "offset_s": timed.offset,
            "stream": m.stream,
            "transport": m.transport,
            "topic": m.topic,
            "sender": m.sender or None,
            "key": m.key.decode() if m.key is not None else None,
        }
        if m.content_type is not None:  # an HTTP push: its body is read by this type
            record["content_type"] = m.content_type
        try:
            record["payload"] = m.payload.decode()
        except UnicodeDecodeError:
            record["payload_b64"] = base64.b64encode(m.payload).decode()
        yield orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"


def with_topics(timed: Timed, kafka_topics: dict[str, str]) -> Timed:
    """The same message for the Kafka topics a deployment routes (see replay.py)."""
    topic = kafka_topics.get(timed.message.topic)
    return replace(timed, message=replace(timed.message, topic=topic)) if topic else timed
