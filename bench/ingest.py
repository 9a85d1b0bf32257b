"""Ingest throughput benchmark, TimescaleDB and plain PostgreSQL side by side: prints
its figures and writes a plot.

Measured in one run, on the real local services (`make up` or the test stack), each
worker figure on both engines (one database per engine in the stack's cluster,
bench/engines.py), with and without the detectors, interleaved round by round:
1. the raw paho QoS 1 receive ceiling of this machine (a subscriber that does nothing
   but receive and acknowledge),
2. the sustained MQTT -> committed rows rate of one `ioc ingest` worker and of two
   workers in one share group,
3. peak RSS per worker,
4. the Kafka-side pipeline cost per message (decode + validate + COPY + commit) measured
   apart from the broker.

Every MQTT figure drains a queue pre-filled while the subscriber was offline, so the
publisher's own cost is not in the measurement; the rate is the slope between 10% and
90% of the rows committed, so process start-up is not in it either.

Usage: .venv/bin/python bench/ingest.py [--messages 60000] [--rounds 3]
       [--stages both|detect|ingest] [--workers 1,2] [--out bench/out]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and this module would
# shadow the `ingest` package it measures; put the repository root there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import itertools
import json
import math
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psutil
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.common import cpu_seconds, free_port, telemetry_routes
from bench.engines import BenchDatabase, bench_databases, register_everywhere
from config.secrets import MQTT_INGEST_USER, load_secrets
from config.settings import Settings, get_settings
from ingest.message import RawMessage
from ingest.provisioning import DeviceCredentials
from ingest.transports.mqtt import forget_session
from store.devices import DeviceSpec

console = Console()
IOC_BIN = str(Path(sys.executable).parent / "ioc")
METRICS_PER_MESSAGE = 3
STAGES = {"detect": "with the detectors (as shipped)", "ingest": "ingest stage alone"}


@dataclass
class Rate:
    messages_per_s: float
    seconds: float
    peak_rss_mb: list[float]
    # CPU time per committed message (µs) between the 10% and 90% marks, by process
    # group, and how busy the whole machine was then (1.0 = every core all the time).
    cpu_us: dict[str, float]
    machine_busy: float


CPU_GROUPS = {
    "workers": "ingest workers (decode, write)",
    "receivers": "their MQTT receiving processes",
    "postgres": "PostgreSQL",
    "mosquitto": "mosquitto",
}


class CpuMeter:
    """CPU seconds used by the workers, PostgreSQL (postmaster and backends) and
    mosquitto between two marks, and by the machine as a whole: whether a rate is
    bounded by a process's one core or by the machine's cores shows here."""

    def __init__(self, settings: Settings, workers: list[psutil.Process]) -> None:
        from stack import mosquitto, postgres

        self.postmaster = psutil.Process(postgres.pid(settings))
        self.workers = workers
        self.groups: dict[str, list[psutil.Process]] = {
            "workers": workers,
            "receivers": [],
            "postgres": [self.postmaster],
            "mosquitto": [psutil.Process(mosquitto.pid(settings))],
        }
        self.start: dict[str, float] = {}
        self.start_machine = psutil.cpu_times()

    def mark(self) -> None:
        # The workers' backends and receiving processes exist by now.
        self.groups["postgres"] = [self.postmaster, *self.postmaster.children(recursive=True)]
        self.groups["receivers"] = [
            child for worker in self.workers for child in worker.children(recursive=True)
        ]
        self.start = {name: cpu_seconds(procs) for name, procs in self.groups.items()}
        self.start_machine = psutil.cpu_times()

    def since_mark(self, messages: float) -> tuple[dict[str, float], float]:
        used = {
            name: (cpu_seconds(procs) - self.start[name]) / messages * 1e6
            for name, procs in self.groups.items()
        }
        now = psutil.cpu_times()
        busy = sum(now) - now.idle - (sum(self.start_machine) - self.start_machine.idle)
        elapsed = sum(now) - sum(self.start_machine)
        return used, busy / elapsed if elapsed else 0.0


# -- traffic ---------------------------------------------------------------------------
def register_devices(
    settings: Settings, databases: list[BenchDatabase], n: int
) -> list[DeviceCredentials]:
    tag = uuid.uuid4().hex[:6]
    return [
        register_everywhere(
            settings,
            databases,
            DeviceSpec(
                id=f"bench-{tag}-{i:02d}",
                type="air_quality",
                province="Khánh Hòa",
                lat=12.2388,
                lon=109.1967,
            ),
        )
        for i in range(n)
    ]


def telemetry_lines(n: int, offset: int) -> bytes:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    lines = (
        json.dumps({"ts": (base + timedelta(seconds=offset + i)).isoformat(),
                    "pm25": 10 + i % 70, "pm10": 30 + i % 90, "temp": 28.5})
        for i in range(n)
    )  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def prefill(settings: Settings, devices: list[DeviceCredentials], total: int, offset: int) -> None:
    """Publish `total` messages with the C client (paho is too slow a QoS 1 publisher)."""
    per_device = total // len(devices)
    procs = []
    for device in devices:
        procs.append(
            subprocess.Popen(
                [
                    shutil.which("mosquitto_pub") or "mosquitto_pub",
                    "-h",
                    settings.mqtt_host,
                    "-p",
                    str(settings.mqtt_port),
                    "-u",
                    device.username,
                    "-P",
                    device.password,
                    "-t",
                    device.topic,
                    "-q",
                    "1",
                    "-l",
                ],
                stdin=subprocess.PIPE,
            )
        )
    for proc in procs:
        proc.stdin.write(telemetry_lines(per_device, offset))  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    for proc in procs:
        proc.wait(600)


# -- 1. raw paho ceiling ---------------------------------------------------------------
class RawSubscriber:
    def __init__(self, settings: Settings, client_id: str, group: str) -> None:
        self.received = 0
        self.done = threading.Event()
        self.target = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
        )  # fmt: skip
        self.client.username_pw_set(MQTT_INGEST_USER, load_secrets(settings).mqtt_ingest_password)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(
            f"$share/{group}/ioc/v1/+/telemetry", qos=1
        )
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.settings = settings
        self.first = self.last = 0.0

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        if self.received == 1:
            self.first = time.perf_counter()
        if self.received >= self.target:
            self.last = time.perf_counter()
            self.done.set()

    def session(self) -> None:
        self.client.connect(self.settings.mqtt_host, self.settings.mqtt_port)
        self.client.loop_start()
        if not self.subscribed.wait(60):
            raise RuntimeError("raw subscriber: no SUBACK within 60 s")
        self.client.disconnect()
        self.client.loop_stop()

    def drain(self, target: int) -> float:
        self.target = target
        self.client.connect(self.settings.mqtt_host, self.settings.mqtt_port)
        self.client.loop_start()
        finished = self.done.wait(180)
        self.client.disconnect()
        self.client.loop_stop()
        if not finished:
            raise RuntimeError(f"raw subscriber got {self.received:,} of {target:,} messages")
        return (target - 1) / (self.last - self.first)


def forget_sessions(settings: Settings, client_ids: list[str]) -> None:
    """Drop the broker sessions a run created: an abandoned persistent session in a share
    group of its own would otherwise queue a copy of every later message, forever."""
    password = load_secrets(settings).mqtt_ingest_password
    for client_id in client_ids:
        forget_session(
            settings.mqtt_host, settings.mqtt_port, MQTT_INGEST_USER, password, client_id
        )


def raw_ceiling(settings: Settings, devices: list[DeviceCredentials], total: int) -> float:
    group = f"bench-raw-{uuid.uuid4().hex[:6]}"
    sub = RawSubscriber(settings, f"{group}-c", group)
    sub.session()  # create the persistent session, then go offline
    prefill(settings, devices, total, offset=0)
    try:
        return sub.drain(total // len(devices) * len(devices))
    finally:
        forget_sessions(settings, [f"{group}-c"])


# -- 2. workers ------------------------------------------------------------------------
def start_worker(
    db: BenchDatabase, detect: bool, routes: Path, worker_id: str, log: Path, metrics_port: int = 0
) -> subprocess.Popen[bytes]:
    env = dict(db.env, IOC_ROUTES_FILE=str(routes))
    argv = [IOC_BIN, "ingest", "--source", "mqtt", "--worker-id", worker_id]
    argv += ["--metrics-port", str(metrics_port)]
    argv += [] if detect else ["--no-detect"]
    return subprocess.Popen(argv, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def worker_rss_mb(worker: psutil.Process) -> float:
    """A worker is its process and its MQTT receiving process: both count."""
    total = 0
    for proc in (worker, *worker.children(recursive=True)):
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def messages_written(ports: list[int]) -> int:
    """Progress from the workers' own counters: polling count(*) on a table of millions
    of rows would load the database we are measuring."""
    total = 0
    for port in ports:
        try:
            body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
        except httpx.HTTPError:
            continue
        for line in body.splitlines():
            if line.startswith("ioc_ingest_messages_written_total{"):
                total += int(float(line.rsplit(" ", 1)[1]))
    return total


def start_ready(
    db: BenchDatabase, detect: bool, routes: Path, ids: list[str], log: Path, ports: list[int]
) -> list[subprocess.Popen[bytes]]:
    """Start the workers and wait until each says all its sources are connected
    (ioc_ingest_ready). On a loaded machine a worker's receiving process can miss its
    connect timeout; such a worker is started again, as its supervisor would."""
    procs = [start_worker(db, detect, routes, w, log, p) for w, p in zip(ids, ports, strict=True)]
    deadline = time.monotonic() + 180
    waiting = set(range(len(ids)))
    restarts = 0
    while waiting and time.monotonic() < deadline:
        for i in list(waiting):
            if procs[i].poll() is not None:
                restarts += 1
                if restarts > 3:
                    raise RuntimeError(f"ingest workers keep failing at start-up; see {log}")
                procs[i] = start_worker(db, detect, routes, ids[i], log, ports[i])
                continue
            try:
                body = httpx.get(f"http://127.0.0.1:{ports[i]}/metrics", timeout=1).text
            except httpx.HTTPError:
                continue
            if "ioc_ingest_ready 1.0" in body:
                waiting.discard(i)
        time.sleep(0.2)
    if waiting:
        raise RuntimeError(f"ingest workers not ready after 180 s; see {log}")
    return procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(60)


def rows_for(conn: psycopg.Connection, prefix: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM measurements WHERE device_id LIKE %s", (prefix + "%",)
    ).fetchone()[0]


@dataclass
class Drained:
    span: float  # seconds from 10% to 90% of the messages committed
    peak_rss_mb: list[float]
    cpu_us: dict[str, float]  # per message between those marks, by CpuMeter group
    machine_busy: float


def drain(
    settings: Settings,
    db: BenchDatabase,
    detect: bool,
    routes: Path,
    ids: list[str],
    expected: int,
    log: Path,
) -> Drained:
    """Start workers `ids` on their queued sessions and time them committing `expected`
    messages (the workers' own counters, polled every 0.1 s); stops them after."""
    peaks = [0.0] * len(ids)
    samples: list[tuple[float, int]] = []  # (time, messages committed)
    ports = [free_port() for _ in ids]
    with Progress(console=console) as bar:
        task = bar.add_task(f"{len(ids)} worker(s) draining", total=expected)
        procs = [
            start_worker(db, detect, routes, wid, log, port)
            for wid, port in zip(ids, ports, strict=True)
        ]
        ps = [psutil.Process(p.pid) for p in procs]
        meter = CpuMeter(settings, ps)
        marked_at: int | None = None  # messages committed when the CPU meter was marked
        cpu: tuple[dict[str, float], float] = ({}, 0.0)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = messages_written(ports)
            if done == 0:  # still starting: one that missed its connect timeout starts again
                for i, proc in enumerate(procs):
                    if proc.poll() is not None:
                        procs[i] = start_worker(db, detect, routes, ids[i], log, ports[i])
                        ps[i] = psutil.Process(procs[i].pid)
            samples.append((time.perf_counter(), done))
            if marked_at is None and done >= 0.1 * expected:
                meter.mark()
                marked_at = done
            elif marked_at is not None and not cpu[0] and done >= 0.9 * expected:
                cpu = meter.since_mark(done - marked_at)
            for i, p in enumerate(ps):
                peaks[i] = max(peaks[i], worker_rss_mb(p))
            bar.update(task, completed=done)
            if done >= expected:
                break
            # Each poll is a Prometheus scrape inside the workers; crossing() interpolates
            # between polls, so they need not be frequent.
            time.sleep(0.1)
        stop(procs)
    span = crossing(samples, 0.9 * expected) - crossing(samples, 0.1 * expected)
    return Drained(span, peaks, *cpu)


def worker_rate(
    settings: Settings, db: BenchDatabase, detect: bool, n_workers: int, total: int, out: Path
) -> Rate:
    """The rate of `n_workers` workers writing to `db` (the broker is the stack's one)."""
    group = f"bench-w{n_workers}-{uuid.uuid4().hex[:6]}"
    routes = telemetry_routes(out / f"routes-{group}.yaml", group)
    devices = register_devices(settings, [db], 20)
    prefix = devices[0].device_id.rsplit("-", 1)[0]
    ids = [f"{group}-{i}" for i in range(n_workers)]
    log = out / f"{group}.log"
    # Start and stop the workers once so their sessions exist and the broker queues for
    # them; wait until they are subscribed (start-up takes seconds on a busy machine).
    procs = start_ready(db, detect, routes, ids, log, [free_port() for _ in ids])
    stop(procs)
    with Progress(console=console, transient=True) as progress:
        progress.add_task(f"pre-filling {total:,} messages", total=None)
        prefill(settings, devices, total, offset=0)
    expected = total // len(devices) * len(devices)
    drained = drain(settings, db, detect, routes, ids, expected, log)
    forget_sessions(settings, [f"ioc-ingest-{wid}" for wid in ids])
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        rows = rows_for(conn, prefix)
    if rows != expected * METRICS_PER_MESSAGE:
        console.print(f"[red]row check failed: {rows} rows, {expected * METRICS_PER_MESSAGE} sent")
        console.print(f"workers' log: {log}")
    else:  # the run's routes and log are worth keeping only when something went wrong
        routes.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    span = drained.span
    return Rate(0.8 * expected / span, span, drained.peak_rss_mb, drained.cpu_us,
                drained.machine_busy)  # fmt: skip


def crossing(samples: list[tuple[float, int]], target: float) -> float:
    """When the committed count reached `target`, interpolated between two polls."""
    for (t0, n0), (t1, n1) in itertools.pairwise(samples):
        if n1 >= target:
            return t1 if n1 == n0 else t0 + (t1 - t0) * (target - n0) / (n1 - n0)
    raise RuntimeError(f"the workers never committed {target:,.0f} messages")


# -- 4. Kafka-side pipeline cost apart from the broker ---------------------------------
def kafka_pipeline_cost(db: BenchDatabase, n: int) -> dict[str, float]:
    """decode + validate + COPY + commit per message, on messages shaped like the Kafka
    source hands them over; the broker is not involved."""
    from ingest.committer import build_batch
    from ingest.decode import decode
    from ingest.routes import KafkaRoute, RoutesConfig, kafka_router
    from store.writer import BatchWriter

    config = RoutesConfig(kafka={"routes": [KafkaRoute(topic="s", format="syslog"),
                                            KafkaRoute(topic="e", format="suricata")]})  # fmt: skip
    router = kafka_router(config)
    now = datetime.now(UTC) - timedelta(minutes=1)
    # Kafka positions are event identities: fresh ones each call, or a re-run would
    # measure the re-delivery path.
    base = int(time.time() * 1000) * 100
    messages = {
        "syslog": [
            RawMessage("kafka", "s", (
                f"<38>1 {(now - timedelta(milliseconds=i)).isoformat()} web-{i % 9} sshd {i} - - "
                f"Failed password for root from 203.0.113.{i % 200} port {20000 + i} ssh2"
            ).encode(), partition=0, offset=base + i)
            for i in range(n)
        ],
        "suricata": [
            RawMessage("kafka", "e", json.dumps({
                "timestamp": (now - timedelta(milliseconds=i)).isoformat(), "flow_id": i,
                "event_type": "alert", "src_ip": f"198.51.100.{i % 200}", "src_port": 40000,
                "dest_ip": "10.0.0.5", "dest_port": 22, "proto": "TCP",
                "alert": {"action": "allowed", "gid": 1, "signature_id": 2018358, "rev": 10,
                          "signature": "ET SCAN Potential SSH Scan", "category": "Scan",
                          "severity": 2}}).encode(), partition=0, offset=base + n + i)
            for i in range(n)
        ],
    }  # fmt: skip
    costs = {}
    with psycopg.connect(db.dsn()) as conn:
        writer = BatchWriter(conn)
        for name, batch in messages.items():
            t0 = time.perf_counter()
            decoded = [decode(m, router, 1 << 20) for m in batch]
            t1 = time.perf_counter()
            for start in range(0, n, 2000):
                writer.write(build_batch(decoded[start : start + 2000]))
            t2 = time.perf_counter()
            costs[f"{name} decode µs/msg"] = (t1 - t0) / n * 1e6
            costs[f"{name} write µs/msg"] = (t2 - t1) / n * 1e6
            costs[f"{name} total µs/msg"] = (t2 - t0) / n * 1e6
    return costs


@dataclass
class Round:
    ceiling: float
    # (stage, engine label, workers) -> rate
    rates: dict[tuple[str, str, int], Rate]


def spread(values: list[float], fmt: str) -> str:
    """Median, and the range over rounds: single runs here swing by a third."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "–"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:{fmt}} ({low:{fmt}} – {high:{fmt}})"


def engine_table(
    stage: str, rounds: list[Round], labels: list[str], workers: list[int], title: str
) -> Table:
    """One row per figure, one column per engine, and the TimescaleDB / plain ratio
    taken round by round (the two ran minutes apart in the same round)."""
    table = Table(title=title)
    table.add_column("figure")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column(f"{labels[-1]} / {labels[0]}", justify="right")

    def row(name: str, value: Callable[[Round, str], float], fmt: str) -> None:
        def safe(r: Round, label: str) -> float:
            # A drain too short to reach its 90% mark has no CPU figures.
            try:
                return value(r, label)
            except (ZeroDivisionError, KeyError):
                return math.nan

        cells = [spread([safe(r, label) for r in rounds], fmt) for label in labels]
        ratio = [safe(r, labels[-1]) / safe(r, labels[0]) for r in rounds if safe(r, labels[0])]
        table.add_row(name, *cells, spread(ratio, ".2f"))

    for n in workers:
        row(f"{n} worker(s), msg/s", lambda r, e, n=n: r.rates[stage, e, n].messages_per_s, ",.0f")
        if n == 1:
            row("  share of raw ceiling", lambda r, e: r.rates[stage, e, 1].messages_per_s
                / r.ceiling, ".2f")  # fmt: skip
            row("  room: 1 / machine busy", lambda r, e: 1 / r.rates[stage, e, 1].machine_busy,
                ".2f")  # fmt: skip
        else:
            row(f"  {n} workers / 1 worker", lambda r, e, n=n: r.rates[stage, e, n].messages_per_s
                / r.rates[stage, e, 1].messages_per_s, ".2f")  # fmt: skip
        row("  peak RSS per worker, MB", lambda r, e, n=n: max(r.rates[stage, e, n].peak_rss_mb),
            ".0f")  # fmt: skip
        for group, shown in CPU_GROUPS.items():
            row(f"  CPU µs/msg, {shown}", lambda r, e, n=n, g=group: r.rates[stage, e, n].cpu_us[g],
                ".1f")  # fmt: skip
        row("  machine busy (share of all cores)",
            lambda r, e, n=n: r.rates[stage, e, n].machine_busy, ".2f")  # fmt: skip
    return table


def plot(out: Path, rounds: list[Round], stages: list[str], labels: list[str],
         workers: list[int]) -> Path:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {labels[0]: "#1f77b4", labels[-1]: "#ff7f0e"}
    fig, axes = plt.subplots(1, len(stages), figsize=(5.5 * len(stages), 4.2), squeeze=False)
    ceiling = statistics.median(r.ceiling for r in rounds)
    width = 0.8 / len(labels)
    for ax, stage in zip(axes[0], stages, strict=True):
        for k, label in enumerate(labels):
            values = [[r.rates[stage, label, n].messages_per_s for r in rounds] for n in workers]
            medians = [statistics.median(v) for v in values]
            errors = [[m - min(v) for m, v in zip(medians, values, strict=True)],
                      [max(v) - m for m, v in zip(medians, values, strict=True)]]  # fmt: skip
            xs = [i + (k - (len(labels) - 1) / 2) * width for i in range(len(workers))]
            bars = ax.bar(xs, medians, width, yerr=errors, capsize=5, label=label,
                          color=colours[label])  # fmt: skip
            ax.bar_label(bars, labels=[f"{v:,.0f}" for v in medians], label_type="center",
                         fontsize=8)  # fmt: skip
        ax.axhline(ceiling, ls="--", color="#777777", label="raw paho QoS1 receive (median)")
        ax.set_xticks(range(len(workers)), [f"{n} worker(s)" for n in workers])
        ax.set_title(STAGES[stage], fontsize=10)
        ax.set_ylabel("messages / second (3 readings each)")
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"MQTT ingest to committed rows, TimescaleDB vs plain PostgreSQL\n"
                 f"median and range of {len(rounds)} interleaved rounds", fontsize=10)  # fmt: skip
    fig.tight_layout()
    path = out / "ingest-engines.png"
    fig.savefig(path, dpi=120)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--stages", choices=("both", "detect", "ingest"), default="both",
                        help="with the detectors, the ingest stage alone, or both")  # fmt: skip
    parser.add_argument("--no-detect", action="store_true", help="same as --stages ingest")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure")
    parser.add_argument("--fresh", action="store_true", help="re-create the bench databases")
    args = parser.parse_args()
    stages = ["ingest"] if args.no_detect else (
        ["detect", "ingest"] if args.stages == "both" else [args.stages])  # fmt: skip
    workers = sorted({int(n) for n in args.workers.split(",")} | {1})
    args.out.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    databases = bench_databases(settings, fresh=args.fresh)
    labels = [db.label for db in databases]

    rounds = []
    for n in range(1, args.rounds + 1):
        # Interleaved, and the engine order flips every round, so neither engine always
        # runs second on a database (and a machine) the first one just warmed or loaded.
        order = databases if n % 2 else databases[::-1]
        names = ", ".join(db.label for db in order)
        console.print(f"[bold]round {n}/{args.rounds}[/]: raw ceiling, then {names}")
        ceiling = raw_ceiling(settings, register_devices(settings, [], 20), args.messages)
        rates = {}
        for stage in stages:
            for db in order:
                for w in workers:
                    rate = worker_rate(settings, db, stage == "detect", w, args.messages, args.out)
                    console.print(f"  {stage:6} {db.label:11} {w} worker(s): "
                                  f"{rate.messages_per_s:,.0f} msg/s")  # fmt: skip
                    rates[stage, db.label, w] = rate
        rounds.append(Round(ceiling, rates))
    console.print("[bold]Kafka-side pipeline cost, apart from the broker[/]")
    kafka = {db.label: kafka_pipeline_cost(db, 20_000) for db in databases}

    console.print(f"raw paho QoS1 receive ceiling: {spread([r.ceiling for r in rounds], ',.0f')}"
                  " msg/s")  # fmt: skip
    for stage in stages:
        title = (f"ingest benchmark, {STAGES[stage]}: {args.messages:,} messages per MQTT run,"
                 f" {args.rounds} interleaved rounds; median (min – max)")  # fmt: skip
        console.print(engine_table(stage, rounds, labels, workers, title))
    table = Table(title="Kafka-side pipeline cost (one pass each)")
    table.add_column("figure")
    for label in labels:
        table.add_column(label, justify="right")
    for name in kafka[labels[0]]:
        table.add_row(name, *[f"{kafka[label][name]:.1f}" for label in labels])
    console.print(table)
    console.print(f"plot: {plot(args.out, rounds, stages, labels, workers)}")


if __name__ == "__main__":
    main()
