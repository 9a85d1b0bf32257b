"""Camera events through the real pipeline, beside telemetry, in one run: prints events
per second and the CPU each event costs, per path, and checks issue 12's target (a
province's 2,000 cameras at one event every 10 s = 200 events/s under 0.1 of one core).

Paths, all on the TimescaleDB bench database (bench/engines.py), with the detectors:
- frigate: Frigate `frigate/events` messages (the simulator's sequences: new, several
  updates with moving boxes, end; many events in flight, many cameras, some with plate
  reads) published by the `frigate` service account through mosquitto to one
  `ioc ingest` worker with its detectors and a camera registry of the bench's cameras.
- isapi: Hikvision ISAPI pushes (`POST /api/v1/ingest/isapi`, HTTP Basic camera id :
  HTTP token, EventNotificationAlert XML, ANPR as multipart with a JPEG) to `ioc api`.
- telemetry: the yardstick, device telemetry over MQTT (3 readings a message) through
  the same worker (bench/ingest.py's worker_rate), in the same run.

Two measurements per path:
1. saturated: a backlog drained as fast as the path goes (MQTT: a queue pre-filled
   while the worker was offline; HTTP: closed-loop clients, one camera each). Rate =
   the slope between 10% and 90% of the events committed; CPU per event between those
   marks by process group (worker, its receiving process, PostgreSQL's postmaster and
   every backend, mosquitto, the API's processes). This per-event cost times 200 is
   the projected share of a core at the target.
2. paced: the target itself, 200 events/s for --paced-seconds (camera events with times
   of now), after a window as long without traffic; the groups' CPU seconds over wall
   seconds is the measured share of a core, with and without the idle share.
An event is one message (a Frigate update, one ISAPI push, one telemetry message). After
every phase the rows are counted in the database, so no figure counts lost work.

Usage: .venv/bin/python bench/cameras.py [--messages 30000] [--isapi 3000] [--clients 20]
       [--rounds 2] [--cameras 2000] [--paced-seconds 30] [--paths telemetry,frigate,isapi]
       [--phases saturated,paced] [--batch-wait SECONDS] [--replot bench/out/cameras.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and would shadow the
# `ingest` package; put the repository root there instead (as bench/ingest.py does).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import psutil
import psycopg
import yaml
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.common import cpu_seconds, free_port, mqtt_routes, telemetry_routes
from bench.engines import BenchDatabase, bench_databases
from bench.h11_client import ConnectionLost, KeepAlivePool
from bench.http_ingest import start_api, stop_api
from bench.ingest import (
    drain,
    forget_sessions,
    messages_written,
    register_devices,
    rows_for,
    start_ready,
    stop,
    telemetry_lines,
    worker_rate,
)
from config.secrets import MQTT_FRIGATE_USER, MQTT_INGEST_USER, load_secrets
from config.settings import Settings, get_settings
from processors.cameras.registry import load_registry
from simulators.cameras import CameraStream
from simulators.fleet import Camera, Line, Zone
from simulators.isapi import IsapiStream
from store.device_credentials import add_http_token
from store.devices import DeviceSpec, upsert_device
from store.engine import Engine

# Wide enough for the tables when the output is a file or a pipe.
console = Console(width=max(170, shutil.get_terminal_size().columns))
TARGET_RATE = 200.0  # events/s: 2,000 cameras, one event each every 10 s
TARGET_CORES = 0.1
FRIGATE_TOPIC = "frigate/events"
CLIENTS = "clients"  # the bench's own CPU (HTTP clients): the cameras', not the service's
PATHS = ("telemetry", "frigate", "isapi", "mqtt floor", "http floor")
FLOOR = "mqtt floor"  # paced only: mosquitto and a bare paho subscriber, no pipeline
HTTP_FLOOR = "http floor"  # paced only: uvicorn as `ioc api` runs it, answering 200 at once
FLOORS = (FLOOR, HTTP_FLOOR)
COLOURS = {"workers": "#1f77b4", "receivers": "#aec7e8", "api": "#9467bd",
           "postgres": "#ff7f0e", "mosquitto": "#2ca02c", CLIENTS: "#cccccc"}  # fmt: skip


@dataclass
class Saturated:
    events_per_s: float
    cpu_us: dict[str, float]  # per event, by process group
    machine_busy: float
    rows_ok: bool
    latency_ms: list[float] | None = None  # HTTP: p50, p95 per push

    @property
    def service_us(self) -> float:
        return sum(v for k, v in self.cpu_us.items() if k != CLIENTS)


@dataclass
class Paced:
    rate: float  # events/s sent
    seconds: float  # the window: first event sent -> last one committed (answered)
    idle_cores: dict[str, float]  # CPU s / wall s by group, no traffic
    cores: dict[str, float]  # the same over the window
    machine_busy: float
    rows_ok: bool
    latency_ms: list[float] | None = None  # HTTP: p50, p95 per push
    events: int = 0
    send_seconds: float = 0.0  # how long sending took (the paced part of the window)

    @property
    def kept_up(self) -> bool:
        """Sent on schedule, and everything committed within a second (and a tenth) of
        the last send."""
        return self.rate >= 0.95 * TARGET_RATE and self.seconds <= 1.1 * self.send_seconds + 1.0

    @property
    def us_per_event(self) -> float:
        return self.service * self.seconds / self.events * 1e6 if self.events else 0.0

    @property
    def service(self) -> float:
        return sum(v for k, v in self.cores.items() if k != CLIENTS)

    @property
    def idle(self) -> float:
        return sum(v for k, v in self.idle_cores.items() if k != CLIENTS)


@dataclass
class Results:
    started: str
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    finished: str = ""
    saturated: dict[str, list[Saturated]] = field(default_factory=dict)
    paced: dict[str, list[Paced]] = field(default_factory=dict)
    landed: dict[str, dict[str, int]] = field(default_factory=dict)
    batch_wait: float | None = None  # paced MQTT runs: None = routes.yaml's


# -- the bench's cameras ---------------------------------------------------------------
@dataclass(frozen=True)
class Fleet:
    tag: str
    frigate: tuple[Camera, ...]
    hikvision: tuple[Camera, ...]
    tokens: dict[str, str]  # ISAPI camera -> HTTP token
    registry: Path


ZONES = (Zone("cong_cang", (0.0, 0.5), (0.45, 1.0)), Zone("bai_xe", (0.5, 1.0), (0.5, 1.0)))
LINES = (Line("lan_vao", (0.05, 0.6), (0.95, 0.6)),)
LABELS = {"person": 0.35, "motorcycle": 0.35, "car": 0.22, "truck": 0.08}


def make_fleet(db: BenchDatabase, n: int, out: Path) -> Fleet:
    """n cameras (half Frigate, half Hikvision ISAPI; every other one reads plates) as
    devices of type camera in the bench database, and a registry naming their zones,
    schedules and a counting line each."""
    tag = uuid.uuid4().hex[:6]
    cameras = tuple(
        Camera(name=f"bench-cam-{tag}-{i:04d}", title=f"bench camera {i}", province="Khánh Hòa",
               lat=11.92, lon=109.16, frame=(1280, 720), labels=LABELS, zones=ZONES,
               lines=LINES, lpr=i % 2 == 0, source="frigate" if i < n // 2 else "hikvision",
               ip=f"10.12.{i // 250}.{i % 250 + 1}")
        for i in range(n)
    )  # fmt: skip
    frigate = tuple(c for c in cameras if c.source == "frigate")
    hikvision = tuple(c for c in cameras if c.source == "hikvision")
    tokens: dict[str, str] = {}
    with psycopg.connect(db.dsn()) as conn:
        for cam in cameras:
            upsert_device(conn, DeviceSpec(**cam.spec_fields(600)))
        for cam in hikvision:
            tokens[cam.name] = add_http_token(conn, cam.name, "bench")
        conn.commit()
    registry = out / f"registry-{tag}.yaml"
    doc = registry_doc([c.name for c in frigate], [c.name for c in hikvision])
    registry.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    load_registry(registry)  # a registry the worker would refuse fails here, not there
    return Fleet(tag, frigate, hikvision, tokens, registry)


def registry_doc(frigate: list[str], isapi: list[str]) -> dict[str, object]:
    """deploy/cameras/registry.yaml's shape: the gate zone closed at night (the
    restricted classes are intrusions then), a car park, one counting line."""
    zones = {
        "cong_cang": {"aliases": ["1"], "loitering_seconds": 120, "crowding_people": 10,
                      "restricted": {"labels": ["person", "car", "motorcycle", "truck"],
                                     "closed": ["22:00-05:00"]}},
        "bai_xe": {"aliases": ["2"], "loitering_seconds": 300},
    }  # fmt: skip
    lines = {"lan_vao": {"points": [[0.05, 0.6], [0.95, 0.6]], "in": "left_to_right",
                         "aliases": ["1"]}}  # fmt: skip
    cameras = {
        cam: {"site": "Cảng Cam Ranh (bench)", "province": "Khánh Hòa", "lat": 11.92,
              "lon": 109.16, "source": source, "frame": {"width": 1280, "height": 720},
              "zones": zones, "lines": lines}
        for ids, source in ((frigate, "frigate"), (isapi, "hikvision"))
        for cam in ids
    }  # fmt: skip
    return {"timezone": "Asia/Ho_Chi_Minh", "cameras": cameras, "segments": {}}


# -- process groups and their CPU ------------------------------------------------------
def mqtt_groups(settings: Settings, worker: psutil.Process) -> dict[str, list[psutil.Process]]:
    from stack import mosquitto, postgres

    master = psutil.Process(postgres.pid(settings))
    return {
        "workers": [worker],
        "receivers": worker.children(recursive=True),
        "postgres": [master, *master.children(recursive=True)],
        "mosquitto": [psutil.Process(mosquitto.pid(settings))],
    }


def api_groups(settings: Settings, api: psutil.Process) -> dict[str, list[psutil.Process]]:
    from stack import postgres

    master = psutil.Process(postgres.pid(settings))
    return {
        "api": [api, *api.children(recursive=True)],
        "postgres": [master, *master.children(recursive=True)],
        CLIENTS: [psutil.Process()],
    }


class Window:
    """CPU seconds per group and the machine's busy share between start() and stop()."""

    def __init__(self, groups: Callable[[], dict[str, list[psutil.Process]]]) -> None:
        self.groups = groups

    def __enter__(self) -> Window:
        self.before = {
            name: {p.pid: cpu_seconds([p]) for p in procs} for name, procs in self.groups().items()
        }
        self.machine0, self.t0 = psutil.cpu_times(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        # Listed again at the end: a process that started inside the window (the worker
        # opens its database connection with its first batch) counts all its CPU.
        self.used = {
            name: sum(max(0.0, cpu_seconds([p]) - self.before[name].get(p.pid, 0.0)) for p in procs)
            for name, procs in self.groups().items()
        }
        now = psutil.cpu_times()
        busy = sum(now) - now.idle - (sum(self.machine0) - self.machine0.idle)
        elapsed = sum(now) - sum(self.machine0)
        self.busy = busy / elapsed if elapsed else 0.0

    def cores(self) -> dict[str, float]:
        return {n: s / self.seconds for n, s in self.used.items()}


def with_batch_wait(routes: Path, seconds: float | None) -> Path:
    """The routes file with batching.max_wait_seconds changed (None: as shipped)."""
    if seconds is not None:
        config = yaml.safe_load(routes.read_text())
        config["batching"]["max_wait_seconds"] = seconds
        routes.write_text(yaml.safe_dump(config))
    return routes


# -- MQTT publishing -------------------------------------------------------------------
def publisher(settings: Settings, user: str, password: str, topic: str) -> subprocess.Popen[bytes]:
    """mosquitto_pub reading one message a line from stdin (the C client: paho is too
    slow a QoS 1 publisher, and its cost is the camera's, not the service's)."""
    argv = [shutil.which("mosquitto_pub") or "mosquitto_pub", "-h", settings.mqtt_host,
            "-p", str(settings.mqtt_port), "-u", user, "-P", password, "-t", topic,
            "-q", "1", "-l"]  # fmt: skip
    return subprocess.Popen(argv, stdin=subprocess.PIPE)


def publish(pub: subprocess.Popen[bytes], payload: bytes) -> None:
    """One message through a `publisher` (mosquitto_pub -l: a line each)."""
    pub.stdin.write(payload + b"\n")  # type: ignore[union-attr]
    pub.stdin.flush()  # type: ignore[union-attr]


def close(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.stdin.close()  # type: ignore[union-attr]
    for proc in procs:
        proc.wait(600)


def frigate_password(settings: Settings) -> str:
    password = load_secrets(settings).mqtt_frigate_password
    if not password:
        raise RuntimeError("no frigate service password in the stack's secrets")
    return password


def frigate_messages(fleet: Fleet, n: int, start: float, step: float, seed: int) -> list[bytes]:
    stream = CameraStream(fleet.frigate, seed, max_active=64)
    return [stream.next(start + i * step).payload for i in range(n)]


def frigate_identities(payloads: list[bytes]) -> tuple[set[str], set[str]]:
    """The event ids sent, and those whose last message was `end`."""
    ids, ended = set(), set()
    for payload in payloads:
        doc = orjson.loads(payload)
        ids.add(doc["after"]["id"])
        if doc["type"] == "end":
            ended.add(doc["after"]["id"])
    return ids, ended


def frigate_rows_ok(db: BenchDatabase, payloads: list[bytes]) -> bool:
    ids, ended = frigate_identities(payloads)
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        rows, ends = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'end') FROM camera_events"
            " WHERE source = 'frigate' AND event_id = ANY(%s)",
            (list(ids),),
        ).fetchone()
    ok = rows == len(ids) and ends == len(ended)
    if not ok:
        console.print(f"[red]frigate rows: {rows} rows for {len(ids)} events, {ends} ended of"
                      f" {len(ended)}")  # fmt: skip
    return ok


def frigate_saturated(settings: Settings, db: BenchDatabase, fleet: Fleet, total: int,
                      out: Path) -> Saturated:  # fmt: skip
    group = f"bench-cam-{uuid.uuid4().hex[:6]}"
    routes = mqtt_routes(out / f"routes-{group}.yaml", group, {FRIGATE_TOPIC: "frigate"})
    ids, log = [f"{group}-0"], out / f"{group}.log"
    stop(start_ready(db, True, routes, ids, log, [free_port()]))  # the session queues now
    # Two hours back, a message every 5 ms: the timeline of 200 messages/s.
    payloads = frigate_messages(fleet, total, time.time() - 7200, 0.005, int(time.time()))
    with Progress(console=console, transient=True) as progress:
        progress.add_task(f"pre-filling {total:,} Frigate messages", total=None)
        pub = publisher(settings, MQTT_FRIGATE_USER, frigate_password(settings), FRIGATE_TOPIC)
        pub.stdin.write(b"\n".join(payloads) + b"\n")  # type: ignore[union-attr]
        close([pub])
    drained = drain(settings, db, True, routes, ids, total, log)
    forget_sessions(settings, [f"ioc-ingest-{wid}" for wid in ids])
    ok = frigate_rows_ok(db, payloads)
    if ok:
        routes.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    return Saturated(0.8 * total / drained.span, drained.cpu_us, drained.machine_busy, ok)


def telemetry_saturated(settings: Settings, db: BenchDatabase, total: int,
                        out: Path) -> Saturated:  # fmt: skip
    rate = worker_rate(settings, db, True, 1, total, out)  # prints its own row check
    return Saturated(rate.messages_per_s, rate.cpu_us, rate.machine_busy, True)


def pace(send: Callable[[int], None], n: int, seconds: float) -> float:
    """`send(i)` for i < n spread evenly over `seconds`; how long sending took."""
    t0 = time.perf_counter()
    for i in range(n):
        delay = t0 + i * seconds / n - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(i)
    return time.perf_counter() - t0


def paced_mqtt(
    settings: Settings,
    db: BenchDatabase,
    routes: Path,
    send: Callable[[int], None],
    n: int,
    seconds: float,
    log: Path,
) -> tuple[Window, Window, float]:
    """One live worker: a window without traffic, then one while `send(i)` for i < n is
    spread evenly over `seconds` until the worker has committed all n. Returns both
    windows and how long sending took."""
    port = free_port()
    [proc] = start_ready(db, True, routes, [log.stem], log, [port])
    try:
        worker = psutil.Process(proc.pid)
        groups = lambda: mqtt_groups(settings, worker)  # noqa: E731
        time.sleep(3)  # start-up's tail (rule packs loaded, first polls) out of the windows
        with Window(groups) as idle:
            time.sleep(seconds)
        with Window(groups) as loaded:
            sent = pace(send, n, seconds)
            deadline = time.monotonic() + 120
            while messages_written([port]) < n and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        stop([proc])
        forget_sessions(settings, [f"ioc-ingest-{log.stem}"])
    return idle, loaded, sent


def frigate_paced(settings: Settings, db: BenchDatabase, fleet: Fleet, seconds: float,
                  out: Path, wait: float | None) -> Paced:  # fmt: skip
    group = f"bench-camp-{uuid.uuid4().hex[:6]}"
    routes = mqtt_routes(out / f"routes-{group}.yaml", group, {FRIGATE_TOPIC: "frigate"})
    routes = with_batch_wait(routes, wait)
    stream = CameraStream(fleet.frigate, int(time.time()), max_active=64)
    pub = publisher(settings, MQTT_FRIGATE_USER, frigate_password(settings), FRIGATE_TOPIC)
    sent: list[bytes] = []

    def send(_: int) -> None:
        payload = stream.next(time.time()).payload  # the event's time is now
        sent.append(payload)
        publish(pub, payload)

    n = int(TARGET_RATE * seconds)
    log = out / f"{group}-0.log"
    try:
        idle, loaded, sent_s = paced_mqtt(settings, db, routes, send, n, seconds, log)
    finally:
        close([pub])
    ok = frigate_rows_ok(db, sent)
    if ok:
        routes.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    return Paced(n / sent_s, loaded.seconds, idle.cores(), loaded.cores(), loaded.busy, ok,
                 None, n, sent_s)  # fmt: skip


# A bare paho QoS 1 subscriber in a process of its own (as the worker's receiving process
# is): what receiving the same Frigate messages costs before any pipeline work.
FLOOR_SUBSCRIBER = """
import sys
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
host, port, user, password, client_id, topic, n = sys.argv[1:8]
got = 0
def on_message(client, userdata, msg):
    global got
    got += 1
    if got == int(n):
        print("done", flush=True)
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                     protocol=MQTTProtocolVersion.MQTTv311)
client.username_pw_set(user, password)
client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
client.on_subscribe = lambda *_: print("ready", flush=True)
client.on_message = on_message
client.connect(host, int(port))
client.loop_forever()
"""


def floor_paced(settings: Settings, fleet: Fleet, seconds: float) -> Paced:
    """The MQTT transport alone at the target rate: mosquitto and a bare paho subscriber
    receiving the Frigate path's messages, their CPU over the same kind of window."""
    group = f"bench-floor-{uuid.uuid4().hex[:6]}"
    n = int(TARGET_RATE * seconds)
    password = load_secrets(settings).mqtt_ingest_password
    sub = subprocess.Popen(
        [sys.executable, "-c", FLOOR_SUBSCRIBER, settings.mqtt_host, str(settings.mqtt_port),
         MQTT_INGEST_USER, password, f"{group}-c", f"$share/{group}/{FRIGATE_TOPIC}", str(n)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    pub = publisher(settings, MQTT_FRIGATE_USER, frigate_password(settings), FRIGATE_TOPIC)
    stream = CameraStream(fleet.frigate, int(time.time()), max_active=64)
    try:
        if sub.stdout is None or sub.stdout.readline().strip() != "ready":
            raise RuntimeError("the floor's subscriber did not subscribe")
        from stack import mosquitto

        procs = {"receivers": [psutil.Process(sub.pid)],
                 "mosquitto": [psutil.Process(mosquitto.pid(settings))]}  # fmt: skip
        with Window(lambda: procs) as idle:
            time.sleep(5)
        with Window(lambda: procs) as loaded:
            sent = pace(lambda _: publish(pub, stream.next(time.time()).payload), n, seconds)
            arrived = select.select([sub.stdout], [], [], 60)[0]
            ok = bool(arrived) and sub.stdout.readline().strip() == "done"
    finally:
        close([pub])
        sub.kill()
        sub.wait(10)
        forget_sessions(settings, [f"{group}-c"])
    return Paced(n / sent, loaded.seconds, idle.cores(), loaded.cores(), loaded.busy, ok,
                 None, n, sent)  # fmt: skip


def telemetry_paced(settings: Settings, db: BenchDatabase, seconds: float, out: Path,
                    wait: float | None) -> Paced:  # fmt: skip
    group = f"bench-telp-{uuid.uuid4().hex[:6]}"
    routes = with_batch_wait(telemetry_routes(out / f"routes-{group}.yaml", group), wait)
    devices = register_devices(settings, [db], 20)
    prefix = devices[0].device_id.rsplit("-", 1)[0]
    n = int(TARGET_RATE * seconds) // len(devices) * len(devices)
    lines = [telemetry_lines(n // len(devices), 0).splitlines() for _ in devices]
    pubs = [publisher(settings, d.username, d.password, d.topic) for d in devices]

    def send(i: int) -> None:
        pub = pubs[i % len(pubs)]
        pub.stdin.write(lines[i % len(pubs)][i // len(pubs)] + b"\n")  # type: ignore[union-attr]
        pub.stdin.flush()  # type: ignore[union-attr]

    log = out / f"{group}-0.log"
    try:
        idle, loaded, sent_s = paced_mqtt(settings, db, routes, send, n, seconds, log)
    finally:
        close(pubs)
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        rows = rows_for(conn, prefix)
    ok = rows == n * 3
    if ok:
        routes.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    else:
        console.print(f"[red]telemetry rows: {rows} of {n * 3}; see {log}")
    return Paced(n / sent_s, loaded.seconds, idle.cores(), loaded.cores(), loaded.busy, ok,
                 None, n, sent_s)  # fmt: skip


# -- what landed -----------------------------------------------------------------------
def landed(db: BenchDatabase, fleet: Fleet) -> dict[str, int]:
    """Rows the run left for the bench's cameras: events, and what the detectors made."""
    like = f"bench-cam-{fleet.tag}-%"
    queries = {
        "camera_events frigate": "SELECT count(*) FROM camera_events WHERE camera LIKE %s"
        " AND source = 'frigate'",
        "camera_events hikvision": "SELECT count(*) FROM camera_events WHERE camera LIKE %s"
        " AND source = 'hikvision'",
        "line_crossings": "SELECT count(*) FROM line_crossings WHERE camera LIKE %s",
        "plate_reads": "SELECT count(*) FROM plate_reads WHERE camera LIKE %s",
        "camera alerts": "SELECT count(*) FROM alerts WHERE domain = 'camera'"
        " AND labels::text LIKE '%%' || %s || '%%'",
    }
    counts = {}
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        for name, query in queries.items():
            try:
                counts[name] = conn.execute(query, (like,)).fetchone()[0]
            except psycopg.errors.Error:  # a table or column a migration has not made yet
                counts[name] = -1
    return counts


# -- report ----------------------------------------------------------------------------
def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}} – {max(values):{fmt}})"


def verdict(cores: float) -> str:
    return "[green]PASS[/]" if cores < TARGET_CORES else "[red]MISS[/]"


GROUPS = ("workers", "receivers", "api", "postgres", "mosquitto", CLIENTS)


def report(res: Results, messages: int, isapi: int) -> None:
    paths = [p for p in PATHS if res.saturated.get(p)]
    n = len(res.saturated[paths[0]]) if paths else 0
    table = Table(title=f"saturated: backlogs of {messages:,} MQTT messages / {isapi:,} ISAPI"
                  f" pushes, {n} round(s); CPU µs per event by process;"
                  " median (min – max)")  # fmt: skip
    table.add_column("path")
    table.add_column("events/s", justify="right")
    for g in GROUPS:
        table.add_column(g, justify="right")
    for col in ("service µs/event", "× telemetry", "cores at 200/s", "< 0.1"):
        table.add_column(col, justify="right")
    yard = [s.service_us for s in res.saturated.get("telemetry", [])]
    for path in paths:
        runs = res.saturated[path]
        parts = [_median_or_dash([s.cpu_us[g] for s in runs if g in s.cpu_us], ".0f")
                 for g in GROUPS]  # fmt: skip
        service = [s.service_us for s in runs]
        ratio = [s / y for s, y in zip(service, yard, strict=False)] if yard else []
        cores = statistics.median(service) * TARGET_RATE / 1e6
        ok = "" if all(s.rows_ok for s in runs) else " [red](rows!)[/]"
        table.add_row(path + ok, spread([s.events_per_s for s in runs], ",.0f"), *parts,
                      spread(service, ",.0f"), spread(ratio, ".2f"), f"{cores:.3f}",
                      verdict(cores))  # fmt: skip
    if paths:
        console.print(table)
    if not res.paced:
        return
    table = Table(title=f"paced at {TARGET_RATE:.0f} events/s (the target): share of one core by"
                  " process from the first event sent to the last committed;"
                  " median (min – max)")  # fmt: skip
    table.add_column("path")
    table.add_column("sent/s", justify="right")
    table.add_column("committed after (s)", justify="right")
    for g in GROUPS:
        table.add_column(g, justify="right")
    for col in ("idle", "with traffic", "µs/event", "× telemetry", "< 0.1"):
        table.add_column(col, justify="right")
    yard = [p.us_per_event for p in res.paced.get("telemetry", [])]
    for path in [p for p in PATHS if res.paced.get(p)]:
        runs = res.paced[path]
        parts = [_median_or_dash([p.cores[g] for p in runs if g in p.cores], ".3f")
                 for g in GROUPS]  # fmt: skip
        ratio = [p.us_per_event / y for p, y in zip(runs, yard, strict=False) if y]
        ok = "" if all(p.rows_ok for p in runs) else " [red](rows!)[/]"
        gross = statistics.median(p.service for p in runs)
        kept = all(p.kept_up for p in runs)
        after = spread([p.seconds for p in runs], ".1f") + ("" if kept else " [red]behind[/]")
        table.add_row(path + ok, spread([p.rate for p in runs], ".0f"), after, *parts,
                      spread([p.idle for p in runs], ".3f"),
                      spread([p.service for p in runs], ".3f"),
                      spread([p.us_per_event for p in runs], ",.0f"), spread(ratio, ".2f"),
                      verdict(gross) if kept else "[red]MISS[/] (behind)")  # fmt: skip
    console.print(table)
    console.print("PASS/MISS: the saturated cost x 200/s; paced, the share with traffic (idle"
                  " included: the worker's or API's own timers, PostgreSQL's background jobs),"
                  " and only if every event was committed within ~10% of the sending time."
                  " The bench's own clients are not counted.")  # fmt: skip


def _median_or_dash(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}}" if values else "–"


def plot(res: Results, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    saturated = {p: [s.cpu_us for s in res.saturated[p]] for p in PATHS if res.saturated.get(p)}
    rates = {p: [s.events_per_s for s in res.saturated[p]] for p in saturated}
    _stacked(left, saturated, lambda v: f"{v:,.0f} µs", rates)
    left.axhline(TARGET_CORES / TARGET_RATE * 1e6, ls="--", color="#d62728",
                 label="500 µs = 0.1 core at 200/s")  # fmt: skip
    totals = [statistics.median(sum(c.values()) for c in v) for v in saturated.values()]
    if totals and max(totals) > 20 * min(totals):
        left.set_yscale("log")
        left.set_ylim(top=max(totals) * 3)  # room for the labels above the bars
    elif totals:
        left.set_ylim(top=max(totals) * 1.2)
    left.set_ylabel("CPU µs per event" + (" (log scale)" if left.get_yscale() == "log" else ""))
    left.set_title("backlog drained (saturated): cost per event; events/s below", fontsize=9)
    left.legend(fontsize=7, loc="upper left")
    paced = {p: [r.cores for r in res.paced[p]] for p in PATHS if res.paced.get(p)}
    behind = {
        p: f" (fell behind: {statistics.median(r.events / r.seconds for r in runs):.0f}/s)"
        for p, runs in res.paced.items()
        if not all(r.kept_up for r in runs)
    }
    _stacked(right, paced, lambda v: f"{v:.3f}", None, behind)
    shares = [statistics.median(r.service for r in res.paced[p]) for p in paced]
    if shares:
        right.set_ylim(top=max(shares) * 1.2)
    right.axhline(TARGET_CORES, ls="--", color="#d62728", label="target: 0.1 core")
    right.set_ylabel("share of one core (idle included)")
    wait = "" if res.batch_wait is None else f", MQTT batches of {res.batch_wait:g} s"
    right.set_title(f"paced at {TARGET_RATE:.0f} events/s (the target){wait}", fontsize=9)
    right.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"camera events vs telemetry through the real pipeline (TimescaleDB, detectors),"
                 f" {res.started[:16]} UTC\n2 cores, load average"
                 f" {res.load_start[0]:.1f}–{res.load_end[0]:.1f}; clients not counted",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _stacked(
    ax: Any,
    runs: dict[str, list[dict[str, float]]],
    label: Callable[[float], str],
    rates: dict[str, list[float]] | None,
    notes: dict[str, str] | None = None,
) -> None:
    """Bars per path stacked by process group (medians over rounds); the bench's own
    clients are left out, as in the totals."""
    paths = list(runs)
    bottom = [0.0] * len(paths)
    for group in [g for g in COLOURS if g != CLIENTS]:
        values = [statistics.median(r.get(group, 0.0) for r in runs[p]) for p in paths]
        if any(values):
            ax.bar(paths, values, bottom=bottom, color=COLOURS[group], label=group)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for i, total in enumerate(bottom):
        note = (notes or {}).get(paths[i], "")
        ax.annotate(label(total) + note, (i, total), ha="center", va="bottom", fontsize=8)
    if rates:
        ax.set_xticks(range(len(paths)), [
            f"{p}\n{statistics.median(rates[p]):,.0f}/s" for p in paths
        ])  # fmt: skip


def load(path: Path) -> Results:
    doc = json.loads(path.read_text())
    return Results(
        started=doc["started"], load_start=tuple(doc["load_start"]),
        load_end=tuple(doc["load_end"]), finished=doc["finished"],
        saturated={k: [Saturated(**s) for s in v] for k, v in doc["saturated"].items()},
        paced={k: [Paced(**p) for p in v] for k, v in doc["paced"].items()},
        landed=doc["landed"], batch_wait=doc.get("batch_wait"),
    )  # fmt: skip


# -- run -------------------------------------------------------------------------------
def rounds(n: int) -> Iterator[tuple[int, tuple[str, ...]]]:
    """The paths' order flips every round, so none always runs on a machine (and a
    database) the one before it just warmed or loaded."""
    for r in range(1, n + 1):
        yield r, PATHS if r % 2 else PATHS[::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=30_000, help="per MQTT backlog")
    parser.add_argument("--isapi", type=int, default=3_000, help="ISAPI pushes per backlog")
    parser.add_argument("--clients", type=int, default=20, help="ISAPI cameras posting at once")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cameras", type=int, default=2_000)
    parser.add_argument("--paced-seconds", type=float, default=30.0)
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--phases", default="saturated,paced")
    parser.add_argument("--batch-wait", type=float, help="paced MQTT runs: batching."
                        "max_wait_seconds instead of routes.yaml's (0.1)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--picture", type=Path, default=Path("docs/img/cameras-bench.png"))
    parser.add_argument("--replot", type=Path, help="redraw from a saved cameras.json")
    args = parser.parse_args()
    if args.replot:
        res = load(args.replot)
        report(res, args.messages, args.isapi)
        console.print(f"picture: {plot(res, args.picture)}")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    wanted, phases = set(args.paths.split(",")), set(args.phases.split(","))
    settings = get_settings()
    snapshots = args.out / "cameras-snapshots"
    # The worker and API started below read these through the bench database's env.
    os.environ["IOC_SNAPSHOT_DIR"] = str(snapshots.resolve())
    [db] = [d for d in bench_databases(settings) if d.engine is Engine.TIMESCALE]
    fleet = make_fleet(db, args.cameras, args.out)
    os.environ["IOC_CAMERA_REGISTRY"] = str(fleet.registry.resolve())
    res = Results(datetime.now(UTC).isoformat(timespec="seconds"), os.getloadavg())
    res.batch_wait = args.batch_wait
    console.print(f"{args.cameras:,} cameras (bench-cam-{fleet.tag}-*); load average at start:"
                  f" {res.load_start}")  # fmt: skip
    try:
        for r, order in rounds(args.rounds):
            for path in [p for p in order if p in wanted]:
                if "saturated" in phases and path not in FLOORS:
                    console.print(f"[bold]round {r}/{args.rounds}[/]: {path}, saturated")
                    res.saturated.setdefault(path, []).append(
                        saturated(path, settings, db, fleet, args)
                    )
                if "paced" in phases:
                    console.print(f"[bold]round {r}/{args.rounds}[/]: {path}, paced")
                    res.paced.setdefault(path, []).append(paced(path, settings, db, fleet, args))
    finally:
        res.landed = {"after the run": landed(db, fleet)}
        res.load_end = os.getloadavg()
        res.finished = datetime.now(UTC).isoformat(timespec="seconds")
        shutil.rmtree(snapshots, ignore_errors=True)
        suffix = "" if args.batch_wait is None else f"-wait{args.batch_wait:g}"
        (args.out / f"cameras{suffix}.json").write_text(json.dumps(asdict(res), indent=1))
    console.print(f"load average at end: {res.load_end}; rows for the bench's cameras:"
                  f" {res.landed['after the run']}")  # fmt: skip
    report(res, args.messages, args.isapi)
    console.print(f"picture: {plot(res, args.picture)}")


def saturated(path: str, settings: Settings, db: BenchDatabase, fleet: Fleet,
              args: argparse.Namespace) -> Saturated:  # fmt: skip
    if path == "telemetry":
        s = telemetry_saturated(settings, db, args.messages, args.out)
    elif path == "frigate":
        s = frigate_saturated(settings, db, fleet, args.messages, args.out)
    else:
        s = isapi_saturated(settings, db, fleet, args.isapi, args.clients, args.out)
    cpu = ", ".join(f"{k} {v:.0f}" for k, v in s.cpu_us.items())
    console.print(f"  {s.events_per_s:,.0f} events/s, {s.service_us:,.0f} µs/event ({cpu});"
                  f" machine busy {s.machine_busy:.0%}")  # fmt: skip
    return s


def paced(path: str, settings: Settings, db: BenchDatabase, fleet: Fleet,
          args: argparse.Namespace) -> Paced:  # fmt: skip
    if path == "telemetry":
        p = telemetry_paced(settings, db, args.paced_seconds, args.out, args.batch_wait)
    elif path == "frigate":
        p = frigate_paced(settings, db, fleet, args.paced_seconds, args.out, args.batch_wait)
    elif path == FLOOR:
        p = floor_paced(settings, fleet, args.paced_seconds)
    elif path == HTTP_FLOOR:
        p = http_floor_paced(fleet, args.paced_seconds)
    else:
        p = isapi_paced(settings, db, fleet, args.paced_seconds, args.out)
    console.print(f"  sent {p.rate:.0f} events/s for {p.send_seconds:.1f} s, all committed after"
                  f" {p.seconds:.1f} s ({'kept up' if p.kept_up else 'FELL BEHIND'}):"
                  f" {p.service:.3f} of a core (idle {p.idle:.3f}), {p.us_per_event:,.0f} µs/event;"
                  f" machine busy {p.machine_busy:.0%}")  # fmt: skip
    return p


# -- ISAPI -----------------------------------------------------------------------------
ISAPI_PATH = "/api/v1/ingest/isapi"
_TYPE = re.compile(rb"<eventType>([^<]*)</eventType>")
_WHEN = re.compile(rb"<dateTime>([^<]*)</dateTime>")


@dataclass(frozen=True)
class Push:
    camera: str
    content_type: str
    body: bytes

    @property
    def identity(self) -> tuple[str, bytes, bytes]:
        """What makes two pushes one event (the decoder's stable id, one channel, the
        first post of each alarm)."""
        kind, when = _TYPE.search(self.body), _WHEN.search(self.body)
        return self.camera, kind[1] if kind else b"", when[1] if when else b""


def isapi_pushes(fleet: Fleet, n: int, start: float, step: float, seed: int) -> list[Push]:
    stream = IsapiStream(fleet.hikvision, seed)
    out = []
    for i in range(n):
        msg = stream.next(start + i * step)
        out.append(Push(msg.sender, msg.content_type or "application/xml", msg.payload))
    return out


def isapi_rows_ok(db: BenchDatabase, fleet: Fleet, pushes: list[Push]) -> bool:
    """One row per distinct event sent (a push repeating an event of the same camera,
    type and second is stored once, as the camera's retry would be), counted between
    the first and last dateTime sent."""
    identities = {p.identity for p in pushes}
    times = [datetime.fromisoformat(when.decode()) for _, _, when in identities]
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM camera_events WHERE source = 'hikvision' AND camera LIKE %s"
            " AND time BETWEEN %s AND %s",
            (f"bench-cam-{fleet.tag}-%", min(times), max(times)),
        ).fetchone()[0]
    expected = len(identities)
    if rows != expected:
        console.print(f"[red]ISAPI rows: {rows} rows for {expected} distinct events sent")
    return rows == expected


class IsapiClient:
    """Posts pushes as their cameras (HTTP Basic: device id, HTTP token) and keeps
    (answered at, seconds taken) of every push answered 200."""

    def latency_ms(self) -> list[float]:
        """p50 and p95 of the answered pushes, ms."""
        times = sorted(seconds * 1000 for _, seconds in self.answers)
        return [statistics.median(times), times[int(0.95 * (len(times) - 1))]]

    def __init__(self, url: str, tokens: dict[str, str], connections: int) -> None:
        self.url, self.connections = url, connections
        self.auth = {
            cam: "Basic " + base64.b64encode(f"{cam}:{token}".encode()).decode()
            for cam, token in tokens.items()
        }
        self.answers: list[tuple[float, float]] = []
        self.failures: list[str] = []
        self.retries = 0  # 503 answers (the API's queue full): sent again after Retry-After
        self.resent = 0  # connections that failed (reset, closed): sent again at once

    def client(self) -> contextlib.AbstractAsyncContextManager[KeepAlivePool]:
        @contextlib.asynccontextmanager
        async def pool() -> AsyncIterator[KeepAlivePool]:
            http = KeepAlivePool(self.url, self.connections)
            try:
                yield http
            finally:
                await http.close()

        return pool()

    async def post(self, http: KeepAlivePool, push: Push) -> None:
        headers = {"Authorization": self.auth[push.camera], "Content-Type": push.content_type}
        while True:
            started = time.perf_counter()
            try:
                response = await http.post(ISAPI_PATH, headers, push.body)
            except ConnectionLost as error:
                # A keep-alive connection the server closed as it was reused: a camera
                # sends again, and the same push is the same event (its stable id).
                self.resent += 1
                if self.resent > 100:
                    raise RuntimeError(f"too many failed connections: {error}") from error
                continue
            if response.status != 503:
                break
            self.retries += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        if response.status == 200:
            now = time.perf_counter()
            self.answers.append((now, now - started))
        else:
            self.failures.append(f"HTTP {response.status}: {response.text[:200]}")

    async def closed_loop(self, pushes: list[Push]) -> None:
        queue = iter(pushes)

        async def one(http: KeepAlivePool) -> None:
            for push in queue:  # a shared iterator: each camera slot takes the next push
                await self.post(http, push)

        async with self.client() as http:
            await asyncio.gather(*[one(http) for _ in range(self.connections)])

    async def paced(self, make: Callable[[], Push], n: int, seconds: float) -> list[Push]:
        """n pushes on a schedule spread over `seconds`, at most `connections` in flight:
        a push waits for a free one (sending then slips behind the schedule, which the
        rate shows), never in a connection pool's queue, whose thousands of waiting
        requests cost httpx more CPU than the API it was measuring."""
        sent: list[Push] = []
        tasks = []
        free = asyncio.Semaphore(self.connections)

        async def one(http: KeepAlivePool, push: Push) -> None:
            try:
                await self.post(http, push)
            finally:
                free.release()

        async with self.client() as http:
            t0 = time.perf_counter()
            for i in range(n):
                delay = t0 + i * seconds / n - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await free.acquire()
                push = make()
                sent.append(push)
                tasks.append(asyncio.create_task(one(http, push)))
            self.sent_seconds = time.perf_counter() - t0
            await asyncio.gather(*tasks)
        return sent


def isapi_saturated(settings: Settings, db: BenchDatabase, fleet: Fleet, total: int,
                    clients: int, out: Path) -> Saturated:  # fmt: skip
    since = time.time() - 7200
    pushes = isapi_pushes(fleet, total, since + 1, 0.005, int(time.time()))
    log = out / f"isapi-api-{uuid.uuid4().hex[:6]}.log"
    proc, url = start_api(db, 1, log)
    try:
        sender = IsapiClient(url, fleet.tokens, clients)
        # Warm up (the first ingest request loads the decoders and rule packs): pushes
        # two hours before the run's, which the row check does not count.
        asyncio.run(sender.closed_loop(isapi_pushes(fleet, 20, since - 3600, 1, 7)))
        sender.answers.clear()
        with Window(lambda: api_groups(settings, psutil.Process(proc.pid))) as window:
            asyncio.run(sender.closed_loop(pushes))
    finally:
        stop_api(proc)
    if sender.failures:
        console.print(f"[red]{len(sender.failures)} pushes failed, e.g. {sender.failures[0]}")
    ok = not sender.failures and isapi_rows_ok(db, fleet, pushes)
    if ok:
        log.unlink(missing_ok=True)
    answers = sorted(sender.answers)
    lo, hi = answers[int(0.1 * len(answers))][0], answers[int(0.9 * len(answers)) - 1][0]
    cpu = {name: s / len(pushes) * 1e6 for name, s in window.used.items()}
    latency = sender.latency_ms()
    console.print(f"  ISAPI p50 {latency[0]:.0f} ms, p95 {latency[1]:.0f} ms per push,"
                  f" {sender.retries} answered 503, {sender.resent} connections failed"
                  " (each sent again)")  # fmt: skip
    return Saturated(0.8 * len(answers) / (hi - lo), cpu, window.busy, ok, latency)


def thread_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of a process's main thread (the API's event loop) and of its other
    threads together (the group commit writer, the thread pool)."""
    main = other = 0.0
    for thread in psutil.Process(pid).threads():
        used = thread.user_time + thread.system_time
        if thread.id == pid:
            main += used
        else:
            other += used
    return main, other


def print_api_split(before: tuple[float, float], after: tuple[float, float], seconds: float,
                    pushes: list[Push]) -> None:  # fmt: skip
    """Where the API's share went, beside what decoding alone costs on the same pushes
    (in this process): the parts the ISAPI path cannot do without."""
    loop, other = (a - b for a, b in zip(after, before, strict=True))
    decode_us = isapi_decode_seconds(pushes) / len(pushes) * 1e6
    console.print(f"  API event loop {loop / seconds:.3f} of a core, its other threads"
                  f" {other / seconds:.3f} (group commit, thread pool); decoding alone"
                  f" {decode_us:.0f} µs a push = {decode_us * TARGET_RATE / 1e6:.3f} at"
                  f" {TARGET_RATE}/s")  # fmt: skip


def isapi_decode_seconds(pushes: list[Push]) -> float:
    """CPU seconds to split and decode these pushes as the API does (no picture kept)."""
    from ingest.decode import decode
    from ingest.http import isapi as push_body
    from ingest.message import RawMessage

    router, limit = push_body.router(), 1 << 20
    t0 = time.process_time()
    for push in pushes:
        split = push_body.split(push.content_type, push.body, limit, 4 << 20)
        message = RawMessage("http", push_body.topic(push.camera), split.xml)
        decode(message, router, limit)
    return time.process_time() - t0


def live_pushes(fleet: Fleet, seed: int) -> Callable[[], Push]:
    """The next simulated push each call, timed now."""
    stream = IsapiStream(fleet.hikvision, seed)

    def make() -> Push:
        msg = stream.next(time.time())
        return Push(msg.sender, msg.content_type or "application/xml", msg.payload)

    return make


def isapi_paced(settings: Settings, db: BenchDatabase, fleet: Fleet, seconds: float,
                out: Path) -> Paced:  # fmt: skip
    since = time.time()
    make = live_pushes(fleet, int(since))
    log = out / f"isapi-paced-{uuid.uuid4().hex[:6]}.log"
    proc, url = start_api(db, 1, log)
    n = int(TARGET_RATE * seconds)

    try:
        sender = IsapiClient(url, fleet.tokens, 200)
        asyncio.run(sender.closed_loop(isapi_pushes(fleet, 20, since - 3600, 1, 7)))  # warm
        groups = lambda: api_groups(settings, psutil.Process(proc.pid))  # noqa: E731
        time.sleep(3)
        with Window(groups) as idle:
            time.sleep(seconds)
        loop0 = thread_seconds(proc.pid)
        with Window(groups) as loaded:
            sent = asyncio.run(sender.paced(make, n, seconds))
        loop1 = thread_seconds(proc.pid)
    finally:
        stop_api(proc)
    print_api_split(loop0, loop1, loaded.seconds, sent)
    if sender.failures:
        console.print(f"[red]{len(sender.failures)} pushes failed, e.g. {sender.failures[0]}")
    ok = not sender.failures and isapi_rows_ok(db, fleet, sent)
    if ok:
        log.unlink(missing_ok=True)
    sent_s, latency = sender.sent_seconds, sender.latency_ms()
    console.print(f"  ISAPI p50 {latency[0]:.0f} ms, p95 {latency[1]:.0f} ms per push,"
                  f" {sender.retries} answered 503, {sender.resent} connections failed"
                  " (each sent again)")  # fmt: skip
    return Paced(n / sent_s, loaded.seconds, idle.cores(), loaded.cores(), loaded.busy, ok,
                 latency, n, sent_s)  # fmt: skip


# uvicorn as `ioc api` runs it (one process; httptools and uvloop when installed; the
# access log on) serving an ASGI app that reads the body and answers 200: what an HTTP
# request costs before any of the service's own work.
HTTP_FLOOR_SERVER = """
import logging, sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"OK"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
"""


def http_floor_paced(fleet: Fleet, seconds: float) -> Paced:
    """The ISAPI path's pushes, paced as for the API, to a bare uvicorn answering 200."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", HTTP_FLOOR_SERVER, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    make = live_pushes(fleet, int(time.time()))
    n = int(TARGET_RATE * seconds)

    try:
        deadline = time.monotonic() + 30
        while not _answers(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        sender = IsapiClient(url, fleet.tokens, 200)
        groups = lambda: {"api": [psutil.Process(proc.pid)], CLIENTS: [psutil.Process()]}  # noqa: E731
        with Window(groups) as idle:
            time.sleep(5)
        with Window(groups) as loaded:
            asyncio.run(sender.paced(make, n, seconds))
    finally:
        proc.terminate()
        proc.wait(30)
    latency = sender.latency_ms()
    console.print(f"  bare uvicorn p50 {latency[0]:.0f} ms, p95 {latency[1]:.0f} ms per push")
    return Paced(n / sender.sent_seconds, loaded.seconds, idle.cores(), loaded.cores(),
                 loaded.busy, not sender.failures, latency, n, sender.sent_seconds)  # fmt: skip


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
