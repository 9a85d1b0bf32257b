"""Ingest throughput benchmark: prints its figures and writes a plot.

Measured in one run, on the real local services (`make up` or the test stack):
1. the raw paho QoS 1 receive ceiling of this machine (a subscriber that does nothing
   but receive and acknowledge),
2. the sustained MQTT -> committed rows rate of one `ioc ingest` worker and of two
   workers in one share group,
3. peak RSS per worker,
4. the Kafka-side pipeline cost per message (decode + validate + COPY + commit) measured
   apart from the broker, and, for reference, the consumer rate through Tansu.

Every MQTT figure drains a queue pre-filled while the subscriber was offline, so the
publisher's own cost is not in the measurement; the rate is the slope between 10% and
90% of the rows committed, so process start-up is not in it either.

Usage: .venv/bin/python bench/ingest.py [--messages 60000] [--out bench/out]
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
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
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

from bench.common import free_port, telemetry_routes
from config.secrets import MQTT_INGEST_USER, load_secrets
from config.settings import Settings, get_settings
from ingest.message import RawMessage
from ingest.provisioning import DeviceCredentials, register_device
from ingest.transports.mqtt import forget_session
from store.devices import DeviceSpec

console = Console()
IOC_BIN = str(Path(sys.executable).parent / "ioc")
METRICS_PER_MESSAGE = 3
DETECT = True


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

    @staticmethod
    def _seconds(procs: list[psutil.Process]) -> float:
        total = 0.0
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def mark(self) -> None:
        # The workers' backends and receiving processes exist by now.
        self.groups["postgres"] = [self.postmaster, *self.postmaster.children(recursive=True)]
        self.groups["receivers"] = [
            child for worker in self.workers for child in worker.children(recursive=True)
        ]
        self.start = {name: self._seconds(procs) for name, procs in self.groups.items()}
        self.start_machine = psutil.cpu_times()

    def since_mark(self, messages: float) -> tuple[dict[str, float], float]:
        used = {
            name: (self._seconds(procs) - self.start[name]) / messages * 1e6
            for name, procs in self.groups.items()
        }
        now = psutil.cpu_times()
        busy = sum(now) - now.idle - (sum(self.start_machine) - self.start_machine.idle)
        elapsed = sum(now) - sum(self.start_machine)
        return used, busy / elapsed if elapsed else 0.0


# -- traffic ---------------------------------------------------------------------------
def register_devices(settings: Settings, n: int) -> list[DeviceCredentials]:
    tag = uuid.uuid4().hex[:6]
    return [
        register_device(
            settings,
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
        time.sleep(1)
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
    routes: Path, worker_id: str, log: Path, metrics_port: int = 0
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, IOC_ROUTES_FILE=str(routes))
    argv = [IOC_BIN, "ingest", "--source", "mqtt", "--worker-id", worker_id]
    argv += ["--metrics-port", str(metrics_port)]
    # DETECT is set from --no-detect: the ingest stage alone, or with the detectors.
    argv += [] if DETECT else ["--no-detect"]
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


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(60)


def rows_for(conn: psycopg.Connection, prefix: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM measurements WHERE device_id LIKE %s", (prefix + "%",)
    ).fetchone()[0]


def worker_rate(settings: Settings, n_workers: int, total: int, out: Path) -> Rate:
    group = f"bench-w{n_workers}-{uuid.uuid4().hex[:6]}"
    routes = telemetry_routes(out / f"routes-{group}.yaml", group)
    devices = register_devices(settings, 20)
    prefix = devices[0].device_id.rsplit("-", 1)[0]
    ids = [f"{group}-{i}" for i in range(n_workers)]
    log = out / f"{group}.log"
    # Start and stop the workers once so their sessions exist and the broker queues for them.
    procs = [start_worker(routes, wid, log) for wid in ids]
    time.sleep(4)
    stop(procs)
    with Progress(console=console, transient=True) as progress:
        progress.add_task(f"pre-filling {total:,} messages", total=None)
        prefill(settings, devices, total, offset=0)
    expected = total // len(devices) * len(devices)
    peaks = [0.0] * n_workers
    samples: list[tuple[float, int]] = []  # (time, messages committed)
    ports = [free_port() for _ in ids]
    with Progress(console=console) as bar:
        task = bar.add_task(f"{n_workers} worker(s) draining", total=expected)
        procs = [start_worker(routes, wid, log, port) for wid, port in zip(ids, ports, strict=True)]
        ps = [psutil.Process(p.pid) for p in procs]
        meter = CpuMeter(settings, ps)
        marked_at: int | None = None  # messages committed when the CPU meter was marked
        cpu: tuple[dict[str, float], float] = ({}, 0.0)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = messages_written(ports)
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
    forget_sessions(settings, [f"ioc-ingest-{wid}" for wid in ids])
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        rows = rows_for(conn, prefix)
    if rows != expected * METRICS_PER_MESSAGE:
        console.print(f"[red]row check failed: {rows} rows, {expected * METRICS_PER_MESSAGE} sent")
        console.print(f"workers' log: {log}")
    else:  # the run's routes and log are worth keeping only when something went wrong
        routes.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    span = crossing(samples, 0.9 * expected) - crossing(samples, 0.1 * expected)
    return Rate(0.8 * expected / span, span, peaks, *cpu)


def crossing(samples: list[tuple[float, int]], target: float) -> float:
    """When the committed count reached `target`, interpolated between two polls."""
    for (t0, n0), (t1, n1) in itertools.pairwise(samples):
        if n1 >= target:
            return t1 if n1 == n0 else t0 + (t1 - t0) * (target - n0) / (n1 - n0)
    raise RuntimeError(f"the workers never committed {target:,.0f} messages")


# -- 4. Kafka-side pipeline cost apart from the broker ---------------------------------
def kafka_pipeline_cost(settings: Settings, n: int) -> dict[str, float]:
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
    messages = {
        "syslog": [
            RawMessage("kafka", "s", (
                f"<38>1 {(now - timedelta(milliseconds=i)).isoformat()} web-{i % 9} sshd {i} - - "
                f"Failed password for root from 203.0.113.{i % 200} port {20000 + i} ssh2"
            ).encode(), partition=0, offset=10_000_000 + i)
            for i in range(n)
        ],
        "suricata": [
            RawMessage("kafka", "e", json.dumps({
                "timestamp": (now - timedelta(milliseconds=i)).isoformat(), "flow_id": i,
                "event_type": "alert", "src_ip": f"198.51.100.{i % 200}", "src_port": 40000,
                "dest_ip": "10.0.0.5", "dest_port": 22, "proto": "TCP",
                "alert": {"action": "allowed", "gid": 1, "signature_id": 2018358, "rev": 10,
                          "signature": "ET SCAN Potential SSH Scan", "category": "Scan",
                          "severity": 2}}).encode(), partition=0, offset=20_000_000 + i)
            for i in range(n)
        ],
    }  # fmt: skip
    costs = {}
    with psycopg.connect(settings.dsn()) as conn:
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
    one: Rate
    two: Rate

    @property
    def share(self) -> float:
        return self.one.messages_per_s / self.ceiling

    @property
    def scale(self) -> float:
        return self.two.messages_per_s / self.one.messages_per_s

    @property
    def scale_room(self) -> float:
        """The most a second worker can add on this machine: one worker (with the
        database and broker work it causes) kept the machine this busy, so at the same
        CPU per message the whole machine carries 1 / busy times its rate."""
        return 1 / self.one.machine_busy if self.one.machine_busy else float("nan")


def spread(values: list[float], fmt: str) -> str:
    """Median, and the range over rounds: single runs here swing by a third."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:{fmt}} ({low:{fmt}} – {high:{fmt}})"


def plot(out: Path, rounds: list[Round]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {
        "raw paho QoS1\nreceive": [r.ceiling for r in rounds],
        "1 worker\n(to committed rows)": [r.one.messages_per_s for r in rounds],
        "2 workers\n(share group)": [r.two.messages_per_s for r in rounds],
    }
    medians = [statistics.median(v) for v in series.values()]
    errors = [
        [m - min(v) for m, v in zip(medians, series.values(), strict=True)],
        [max(v) - m for m, v in zip(medians, series.values(), strict=True)],
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(list(series), medians, yerr=errors, capsize=6,
                  color=["#999999", "#1f77b4", "#2ca02c"])  # fmt: skip
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in medians], label_type="center")
    ax.axhline(0.75 * medians[0], ls="--", color="#d62728", label="75% of raw ceiling (median)")
    ax.hlines(1.6 * medians[1], 1.6, 2.4, ls=":", color="#9467bd", label="1.6 × 1 worker (median)")
    ax.set_ylabel("messages / second (median, range over rounds)")
    stage = "with the detectors" if DETECT else "ingest stage alone (--no-detect)"
    ax.set_title(f"MQTT ingest, 3 metrics per message, {len(rounds)} rounds, {stage}", fontsize=10)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = out / ("ingest-detect.png" if DETECT else "ingest.png")
    fig.savefig(path, dpi=120)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument(
        "--no-detect", action="store_true",
        help="workers without the detectors (the ingest stage alone)",
    )  # fmt: skip
    args = parser.parse_args()
    global DETECT
    DETECT = not args.no_detect
    args.out.mkdir(parents=True, exist_ok=True)
    settings = get_settings()

    rounds = []
    for n in range(1, args.rounds + 1):
        # Interleaved, so the ratios compare runs made side by side under the same load.
        console.print(f"[bold]round {n}/{args.rounds}[/]: raw ceiling, 1 worker, 2 workers")
        ceiling = raw_ceiling(settings, register_devices(settings, 20), args.messages)
        one = worker_rate(settings, 1, args.messages, args.out)
        two = worker_rate(settings, 2, args.messages, args.out)
        rounds.append(Round(ceiling, one, two))
    console.print("[bold]Kafka-side pipeline cost, apart from the broker[/]")
    kafka = kafka_pipeline_cost(settings, 20_000)

    table = Table(
        title=f"ingest benchmark ({'with the detectors' if DETECT else 'ingest stage alone'}):"
        f" {args.messages:,} messages per MQTT run, {args.rounds} rounds; median (min – max)"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("raw paho QoS1 receive ceiling", spread([r.ceiling for r in rounds], ",.0f"))
    table.add_row(
        "1 worker, MQTT -> committed rows, msg/s",
        spread([r.one.messages_per_s for r in rounds], ",.0f"),
    )
    table.add_row(
        "  share of raw ceiling (target ≥ 0.75)", spread([r.share for r in rounds], ".2f")
    )
    table.add_row(
        "2 workers, share group, msg/s", spread([r.two.messages_per_s for r in rounds], ",.0f")
    )
    table.add_row("  2 workers / 1 worker (target ≥ 1.6)", spread([r.scale for r in rounds], ".2f"))
    table.add_row(
        "  room the machine leaves: 1 / machine busy with 1 worker",
        spread([r.scale_room for r in rounds], ".2f"),
    )
    peaks = [mb for r in rounds for mb in r.one.peak_rss_mb + r.two.peak_rss_mb]
    table.add_row("peak RSS per worker, MB (target ≤ 250)", f"max {max(peaks):.0f}")
    for label, rates in (
        ("1 worker", [r.one for r in rounds]),
        ("2 workers", [r.two for r in rounds]),
    ):
        for group, shown in CPU_GROUPS.items():
            table.add_row(
                f"{label}: CPU µs per message, {shown}",
                spread([rate.cpu_us[group] for rate in rates], ".1f"),
            )
        table.add_row(
            f"{label}: machine busy (share of all {psutil.cpu_count()} cores)",
            spread([rate.machine_busy for rate in rates], ".2f"),
        )
    for name, value in kafka.items():
        table.add_row(f"Kafka pipeline: {name}", f"{value:.1f}")
    console.print(table)
    console.print(f"plot: {plot(args.out, rounds)}")


if __name__ == "__main__":
    main()
