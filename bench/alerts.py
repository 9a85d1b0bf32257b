"""Alert latency benchmark: measurement published -> alert recorded -> webhook delivered,
on TimescaleDB and plain PostgreSQL in one run.

On the real local services (`make up` or the test stack), with the processes production
runs, once per engine and round (one database per engine in the stack's cluster,
bench/engines.py; the engine order flips every round): one `ioc ingest` worker (MQTT,
detectors on) and one `ioc alerts run` whose only channel is a signed webhook to a
receiver inside this script. A background load of ordinary air-quality telemetry
(default 5,000 msg/s from 20 devices, one reading each; `--readings 3` for three) is
published with the C client `mosquitto_pub -l`, paced through its stdin. Meanwhile every
`--interval` seconds one water-level reading crosses a bench station's BĐ I, or clears
it again (stations take turns, so each reading makes one alert change: fired, then
resolved).

Each alert change is timed on one clock (this machine's; PostgreSQL runs on it too);
TIMESTAMPS below says what each timestamp is, and the output repeats it.

Usage: .venv/bin/python bench/alerts.py [--duration 60] [--rounds 2] [--rate 5000]
       [--out bench/out]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/ingest.py would
# shadow the `ingest` package; put the repository root there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import contextlib
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import psycopg
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench.common import free_port, telemetry_routes
from bench.engines import BenchDatabase, bench_databases, register_everywhere
from config.secrets import MQTT_INGEST_USER, load_secrets
from config.settings import REPO_ROOT, Settings, get_settings
from events.alerts import LIVE_CHANNEL
from ingest.provisioning import DeviceCredentials
from ingest.transports.mqtt import forget_session
from processors.alerts.notify.webhook.signature import SIGNATURE_HEADER, verify_signature
from store.devices import DeviceSpec

console = Console()
if not console.is_terminal:  # piped to a file: room for the tables
    console.width = 120
IOC_BIN = str(Path(sys.executable).parent / "ioc")
SECRET = "bench-alerts-secret"
CHANNEL = "bench-webhook"
RULE = "env.water_level"
# Bench stations' alarm levels (m). A crossing reads BD1 + 0.02, a clearing BD1 - 0.10:
# below BD1 minus the rule's 0.05 m margin, and a swing of 0.12 m stays under the
# 0.3 m/h rise rule and the 0.5 m/h health check, so only the level rule fires.
BD1, BD2, BD3 = 1.0, 1.5, 2.0
CROSS, CLEAR = BD1 + 0.02, BD1 - 0.10
METRICS_PER_MESSAGE = 3
TICK_SECONDS = 0.02
SETTLE_SECONDS = 20.0
WARMUP_SECONDS = 5.0


TIMESTAMPS = """\
published  time.time() just before the reading is written to mosquitto_pub's stdin
tx start   measurements.ingested_at of the reading: now(), its transaction's start
recorded   alerts.recorded_at (fired) or alert_history.at (resolved): clock_timestamp()
           as the row is written, inside the transaction that writes the reading
committed  arrival here of the pg_notify('ioc_alerts') sent in that transaction;
           PostgreSQL delivers it only after COMMIT
delivered  arrival here of the signed webhook POST carrying the notification id"""


# -- devices, rules, channels, routes ----------------------------------------------------
def register(
    settings: Settings,
    db: BenchDatabase,
    tag: str,
    name: str,
    kind: str,
    metadata: dict[str, Any] | None = None,
) -> DeviceCredentials:
    spec = DeviceSpec(id=f"bench-{tag}-{name}", type=kind, province="Kiên Giang",
                      lat=10.0125, lon=105.0809, expected_interval_s=60,
                      metadata=metadata or {})  # fmt: skip
    return register_everywhere(settings, [db], spec)


def rules_dir(directory: Path, stations: list[str]) -> Path:
    """The shipped rule packs next to a copy of their station table with the bench
    stations added: the packs name the table relative to themselves."""
    source = REPO_ROOT / "processors" / "environment"
    (directory / "rules").mkdir()
    for pack in (source / "rules").glob("*.yaml"):
        shutil.copy(pack, directory / "rules" / pack.name)
    table = yaml.safe_load((source / "alarm_levels.yaml").read_text(encoding="utf-8"))
    for station in stations:
        table["stations"][station] = {"name": station, "bd1": BD1, "bd2": BD2, "bd3": BD3}
    (directory / "alarm_levels.yaml").write_text(yaml.safe_dump(table, allow_unicode=True))
    return directory / "rules"


def channels_file(directory: Path, url: str) -> Path:
    """One webhook channel, no grouping delay; environment only, so the offline alerts
    the alert service raises for devices other runs left silent do not reach it."""
    config = {
        "renotify_interval_seconds": 0, "max_attempts": 20,
        "backoff_seconds": 0.5, "backoff_max_seconds": 2,
        "channels": [{"name": CHANNEL, "type": "webhook", "domains": ["environment"],
                      "min_severity": "info", "group_wait_seconds": 0,
                      "settings": {"url": url, "secret": SECRET}}],
    }  # fmt: skip
    path = directory / "channels.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# -- receivers ---------------------------------------------------------------------------
class WebhookReceiver:
    """Arrival time of every notification id; refuses bodies with a bad signature."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.bad_signatures = 0
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                now = time.time()
                ok = verify_signature(SECRET, body, self.headers.get(SIGNATURE_HEADER))
                if ok:
                    receiver.note(orjson.loads(body)["notifications"], now)
                else:
                    receiver.bad_signatures += 1
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def note(self, payloads: list[dict[str, Any]], now: float) -> None:
        self.posts += 1
        for payload in payloads:
            # At least once: a re-sent notification keeps its first arrival.
            self.arrived.setdefault(payload["notification_id"], now)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class CommitListener:
    """LISTEN ioc_alerts: PostgreSQL hands a NOTIFY over only once its transaction has
    committed, so its arrival is the earliest moment anyone can see the alert."""

    def __init__(self, dsn: str) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self._stop = threading.Event()
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._conn.execute(f"LISTEN {LIVE_CHANNEL}")  # a constant, not input
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for note in self._conn.notifies(timeout=0.5):
                now = time.time()
                change = orjson.loads(note.payload)
                self.seen.setdefault((change["id"], change["kind"]), now)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()


# -- publishers --------------------------------------------------------------------------
class LinePublisher:
    """One long-lived `mosquitto_pub -l` (QoS 1) for one device: each line written to its
    stdin is published at once, without a connect per message."""

    def __init__(self, settings: Settings, device: DeviceCredentials) -> None:
        argv = [shutil.which("mosquitto_pub") or "mosquitto_pub",
                "-h", settings.mqtt_host, "-p", str(settings.mqtt_port),
                "-u", device.username, "-P", device.password, "-t", device.topic,
                "-q", "1", "-l", "-i", f"{device.device_id}-pub"]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.device = device

    def send(self, lines: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(lines)
        self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):  # it may have died: close() says so
                self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


class Background:
    """`rate` messages/s spread over the devices, written every TICK_SECONDS so the load
    is smooth; `sent` counts lines handed to mosquitto_pub (a full pipe blocks the write,
    so a publisher that cannot keep up shows as a shortfall here)."""

    def __init__(
        self, publishers: list[LinePublisher], rate: float, readings: int = METRICS_PER_MESSAGE
    ) -> None:
        self.readings = readings
        self.publishers = publishers
        self.rate = rate
        self.sent = 0
        self._last_us = [0] * len(publishers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Background:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            due = int(self.rate * (time.monotonic() - self.started)) - self.sent
            if due > 0:
                per = [due // len(self.publishers)] * len(self.publishers)
                for k in range(due % len(self.publishers)):
                    per[(turn + k) % len(self.publishers)] += 1
                turn += due
                for index, n in enumerate(per):
                    if n:
                        self.publishers[index].send(self._lines(index, n))
                self.sent += due
            self._stop.wait(TICK_SECONDS)

    def _lines(self, index: int, n: int) -> bytes:
        # Readings of one device need distinct times: (device, metric, time) is unique.
        now_us = max(time.time_ns() // 1000, self._last_us[index] + 1)
        out = []
        for k in range(n):
            ts = datetime.fromtimestamp((now_us + k) / 1e6, UTC).isoformat()
            seq = self.sent + k
            fields = (
                b'"pm25":%d' % (10 + seq % 70),
                b'"pm10":%d' % (30 + seq % 90),
                b'"temp":%.1f' % (27 + seq % 40 / 10),
            )[: self.readings]
            out.append(b'{"ts":"%s",%s}' % (ts.encode(), b",".join(fields)))
        self._last_us[index] = now_us + n
        return b"\n".join(out) + b"\n"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass
class Trigger:
    station: str
    kind: str  # fired | resolved
    event_time: datetime
    published: float


def publish_trigger(publisher: LinePublisher, crossing: bool) -> Trigger:
    value = CROSS if crossing else CLEAR
    now = time.time()
    when = datetime.fromtimestamp(now, UTC)
    line = b'{"ts":"%s","waterLevel":%.3f}\n' % (when.isoformat().encode(), value)
    publisher.send(line)
    kind = "fired" if crossing else "resolved"
    return Trigger(publisher.device.device_id, kind, when, now)


# -- services ----------------------------------------------------------------------------
def scrape(port: int) -> dict[str, float]:
    """Prometheus text as {line without its value: value}; {} while not up yet."""
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return {}
    values = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def metric_sum(values: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in values.items() if k.startswith(prefix))


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    ready_line: str

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            if scrape(self.port).get(self.ready_line) == 1.0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_service(
    name: str, argv: list[str], db: BenchDatabase, env: dict[str, str], log: Path
) -> Service:
    port = free_port()
    proc = subprocess.Popen(
        [*argv, "--metrics-port", str(port)],
        env=dict(db.env, **env), stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    ready = "ioc_ingest_ready" if argv[1] == "ingest" else "ioc_alerts_ready"
    return Service(name, proc, port, ready)


# -- the run -----------------------------------------------------------------------------
@dataclass
class Window:
    """Worker counters at the start and the end of the trigger phase."""

    seconds: float = 0.0
    offered: int = 0
    start: dict[str, float] = field(default_factory=dict)
    end: dict[str, float] = field(default_factory=dict)

    def delta(self, prefix: str) -> float:
        return metric_sum(self.end, prefix) - metric_sum(self.start, prefix)


@dataclass
class Run:
    triggers: list[Trigger]
    window: Window
    backlog_end: float
    webhook: WebhookReceiver
    commits: CommitListener


def trigger_phase(
    stations: list[LinePublisher],
    background: Background,
    worker: Service,
    duration: float,
    interval: float,
    on_tick: Callable[[int], None],
) -> tuple[list[Trigger], Window]:
    """Station j % k crosses BD I on its even turns and clears it on its odd ones."""
    window = Window(start=scrape(worker.port))
    offered0, t0 = background.sent, time.monotonic()
    triggers = []
    for j in range(int(duration / interval)):
        delay = t0 + j * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        crossing = (j // len(stations)) % 2 == 0
        triggers.append(publish_trigger(stations[j % len(stations)], crossing))
        on_tick(j + 1)
    time.sleep(max(t0 + len(triggers) * interval - time.monotonic(), 0))
    window.end = scrape(worker.port)
    window.seconds = time.monotonic() - t0
    window.offered = background.sent - offered0
    return triggers, window


def settle(run_webhook: WebhookReceiver, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(run_webhook.arrived) < expected:
        time.sleep(0.2)


def drive(
    args: argparse.Namespace,
    background: Background,
    stations: list[LinePublisher],
    worker: Service,
    webhook: WebhookReceiver,
) -> tuple[list[Trigger], Window, float]:
    """Warm up under load, run the alert readings, wait for their deliveries."""
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.fields[info]}"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("warm-up", total=None, info="")
        time.sleep(WARMUP_SECONDS)
        bar.update(task, description="alert readings", total=int(args.duration / args.interval))

        def tick(done: int) -> None:
            info = f"{len(webhook.arrived)} delivered, {background.sent:,} background sent"
            bar.update(task, completed=done, info=info)

        triggers, window = trigger_phase(
            stations, background, worker, args.duration, args.interval, tick
        )
        bar.update(task, description="waiting for deliveries", info="")
        written = metric_sum(scrape(worker.port), "ioc_ingest_messages_written_total")
        settle(webhook, len(triggers), SETTLE_SECONDS)
    return triggers, window, background.sent - written


def measure(
    settings: Settings, db: BenchDatabase, args: argparse.Namespace, work: Path
) -> tuple[Run, list[str]]:
    tag = uuid.uuid4().hex[:6]
    stations = [register(settings, db, tag, f"wl{i}", "water_level",
                         {"alarm_levels": {"bd1": BD1, "bd2": BD2, "bd3": BD3}})
                for i in range(args.stations)]  # fmt: skip
    devices = [
        register(settings, db, tag, f"aq{i:02d}", "air_quality") for i in range(args.devices)
    ]
    webhook = WebhookReceiver()
    env = {
        "IOC_ENV_RULES": str(rules_dir(work, [s.device_id for s in stations])),
        "IOC_CHANNELS_FILE": str(channels_file(work, webhook.url)),
        "IOC_ROUTES_FILE": str(telemetry_routes(work / "routes.yaml", f"bench-alerts-{tag}")),
    }
    worker_id = f"bench-alerts-{tag}"
    log = args.out / f"alerts-{tag}.log"
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(forget_worker, settings, worker_id)
        cleanup.callback(webhook.close)
        worker = start_service("worker", [IOC_BIN, "ingest", "--source", "mqtt",
                                          "--worker-id", worker_id], db, env, log)  # fmt: skip
        cleanup.callback(worker.stop)
        alerts = start_service("alert service", [IOC_BIN, "alerts", "run"], db, env, log)
        cleanup.callback(alerts.stop)
        commits = CommitListener(db.dsn())
        cleanup.callback(commits.close)
        worker.wait_ready()
        alerts.wait_ready()
        publishers = [LinePublisher(settings, d) for d in devices + stations]
        for publisher in publishers:
            cleanup.callback(publisher.close)
        background = Background(publishers[: len(devices)], args.rate, args.readings).start()
        cleanup.callback(background.stop)  # first out: nothing writes to a closed pipe
        triggers, window, backlog = drive(
            args, background, publishers[len(devices) :], worker, webhook
        )
        dead = [p.device.device_id for p in publishers if not p.alive()]
        if dead:
            console.print(f"[red]mosquitto_pub exited early for {dead}")
    console.print(f"services' log: {log}")
    return Run(triggers, window, backlog, webhook, commits), [s.device_id for s in stations]


def forget_worker(settings: Settings, worker_id: str) -> None:
    """Delete the worker's persistent session, or the broker queues for it forever."""
    password = load_secrets(settings).mqtt_ingest_password
    forget_session(settings.mqtt_host, settings.mqtt_port, MQTT_INGEST_USER, password,
                   f"ioc-ingest-{worker_id}")  # fmt: skip


# -- joining the timestamps --------------------------------------------------------------
@dataclass
class Sample:
    kind: str
    published: float
    tx_start: float | None
    recorded: float | None
    committed: float | None
    delivered: float | None


_CHANGES = """
SELECT a.id::text, a.labels->>'device_id', h.action, h.event_time,
       CASE WHEN h.action = 'fired' THEN a.recorded_at ELSE h.at END,
       o.notification_id::text
FROM alerts a
JOIN alert_history h ON h.alert_id = a.id AND h.action IN ('fired', 'resolved')
LEFT JOIN outbox o ON o.alert_id = a.id AND o.kind = h.action AND o.channel = %s
WHERE a.rule = %s AND a.labels->>'device_id' = ANY(%s)
"""


def samples(db: BenchDatabase, run: Run, stations: list[str]) -> list[Sample]:
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        changes = conn.execute(_CHANGES, (CHANNEL, RULE, stations)).fetchall()
        starts = conn.execute(
            "SELECT device_id, time, ingested_at FROM measurements"
            " WHERE device_id = ANY(%s) AND metric = 'waterLevel'",
            (stations,),
        ).fetchall()
    tx_start = {(d, t): i.timestamp() for d, t, i in starts}
    by_reading = {
        (device, kind, at): (aid, rec, nid) for aid, device, kind, at, rec, nid in changes
    }
    out = []
    for trig in run.triggers:
        alert_id, recorded, notification = by_reading.get(
            (trig.station, trig.kind, trig.event_time), (None, None, None)
        )
        out.append(Sample(
            trig.kind, trig.published, tx_start.get((trig.station, trig.event_time)),
            recorded.timestamp() if recorded else None,
            run.commits.seen.get((alert_id, trig.kind)) if alert_id else None,
            run.webhook.arrived.get(notification) if notification else None,
        ))  # fmt: skip
    return out


# -- report ------------------------------------------------------------------------------
SPANS: dict[str, tuple[str, str]] = {
    "publish → transaction start": ("published", "tx_start"),
    "transaction start → alert recorded": ("tx_start", "recorded"),
    "alert recorded → commit visible": ("recorded", "committed"),
    "commit visible → webhook delivered": ("committed", "delivered"),
    "publish → alert recorded (target p99 ≤ 500 ms)": ("published", "recorded"),
    "publish → commit visible": ("published", "committed"),
    "alert recorded → webhook delivered": ("recorded", "delivered"),
    "publish → webhook delivered": ("published", "delivered"),
}


def span_ms(rows: list[Sample], start: str, end: str) -> list[float]:
    values = []
    for row in rows:
        a, b = getattr(row, start), getattr(row, end)
        if a is not None and b is not None:
            values.append((b - a) * 1000)
    return values


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: the p99 of 240 samples is the 238th smallest, a value
    that was actually measured."""
    ordered = sorted(values)
    rank = max(int(-(-q * len(ordered) // 100)), 1)
    return ordered[rank - 1]


def report(args: argparse.Namespace, label: str, run: Run, rows: list[Sample]) -> None:
    w = run.window
    table = Table(title=f"{label}: alert latency at background load: {len(rows)} alert changes "
                  f"({args.duration:.0f} s, one every {args.interval} s), ms")  # fmt: skip
    for column in ("span", "n", "p50", "p99", "max"):
        table.add_column(column, justify="left" if column == "span" else "right")
    for label, (start, end) in SPANS.items():
        values = span_ms(rows, start, end)
        if values:
            table.add_row(label, str(len(values)), f"{percentile(values, 50):.0f}",
                          f"{percentile(values, 99):.0f}", f"{max(values):.0f}")  # fmt: skip
        else:
            table.add_row(label, "0", "–", "–", "–")
    console.print(table)
    written = w.delta("ioc_ingest_messages_written_total")
    batches = w.delta("ioc_ingest_batch_messages_count")
    commit_s = w.delta("ioc_ingest_commit_seconds_sum")
    rows_in = w.delta('ioc_ingest_rows_inserted_total{table="measurements"}')
    console.print(
        f"background: offered {w.offered / w.seconds:,.0f} msg/s (asked {args.rate:,.0f}); "
        f"committed {written / w.seconds:,.0f} msg/s = "
        f"{rows_in / w.seconds:,.0f} rows/s over the {w.seconds:.0f} s window; "
        f"not yet committed at its end: {run.backlog_end:,.0f} msg"
    )
    behind = run.backlog_end > args.rate  # more than a second of load still queued
    console.print(
        "[red]the worker did NOT keep up: latencies include a queue that was growing[/]"
        if behind
        else "the worker kept up (less than a second of load queued at the end)"
    )
    if batches:
        console.print(f"worker batches in the window: {batches:,.0f}, mean "
                      f"{written / batches:,.0f} messages, mean write+detect+commit "
                      f"{commit_s / batches * 1000:.0f} ms")  # fmt: skip
    missing = {f: sum(getattr(r, f) is None for r in rows)
               for f in ("tx_start", "recorded", "committed", "delivered")}  # fmt: skip
    console.print(f"missing timestamps (should all be 0): {missing}; "
                  f"bad webhook signatures: {run.webhook.bad_signatures}")  # fmt: skip


Result = tuple[str, Run, list[Sample]]  # engine label, the run, its joined samples


def side_by_side(args: argparse.Namespace, labels: list[str], results: list[Result]) -> Table:
    """Every engine's samples pooled over its rounds, and the TimescaleDB / plain ratio of
    each percentile."""
    pooled = {label: [s for lab, _, rows in results if lab == label for s in rows]
              for label in labels}  # fmt: skip
    rounds = len(results) // len(labels)
    table = Table(title=f"alert latency, both engines: {rounds} round(s) of {args.duration:.0f} s"
                  f" each at {args.rate:,.0f} msg/s background, ms (p50 / p99)")  # fmt: skip
    table.add_column("span")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column(f"{labels[-1]} / {labels[0]} p50, p99", justify="right")
    for name, (start, end) in SPANS.items():
        values = {label: span_ms(pooled[label], start, end) for label in labels}
        if not all(values.values()):
            continue
        cells = [f"{percentile(v, 50):.0f} / {percentile(v, 99):.0f}" for v in values.values()]
        first, last = values[labels[0]], values[labels[-1]]
        ratio = (f"{percentile(last, 50) / percentile(first, 50):.2f}, "
                 f"{percentile(last, 99) / percentile(first, 99):.2f}")  # fmt: skip
        table.add_row(name, *cells, ratio)
    return table


def plot(out: Path, labels: list[str], results: list[Result], rate: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colours = {labels[0]: "#1f77b4", labels[-1]: "#ff7f0e"}
    for label in labels:
        rows = [s for lab, _, r in results if lab == label for s in r]
        for span, (start, end), style in (
            ("publish → alert recorded", ("published", "recorded"), "-"),
            ("publish → webhook delivered", ("published", "delivered"), "--"),
        ):
            values = sorted(span_ms(rows, start, end))
            if values:
                ys = [(i + 1) / len(values) for i in range(len(values))]
                ax.step(values, ys, where="post", ls=style, color=colours[label],
                        label=f"{label}: {span} (n={len(values)})")  # fmt: skip
    ax.axvline(500, ls=":", color="#d62728", label="target: p99 ≤ 500 ms to record")
    ax.axhline(0.99, ls=":", color="#777777")
    ax.set_xscale("log")  # the engines' tails can be an order of magnitude apart
    ax.set_xlabel("milliseconds after the reading was published (log scale)")
    ax.set_ylabel("fraction of alert changes")
    ax.set_title(f"Alert latency (CDF) under {rate:,.0f} msg/s background telemetry,"
                 " TimescaleDB vs plain PostgreSQL", fontsize=10)  # fmt: skip
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / "alerts-engines.png"
    fig.savefig(path, dpi=120)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--duration", type=float, default=60, help="seconds of alert readings per run"
    )
    parser.add_argument("--rounds", type=int, default=2, help="runs per engine, interleaved")
    parser.add_argument("--rate", type=float, default=5000, help="background msg/s")
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between alert readings"
    )
    parser.add_argument("--devices", type=int, default=20, help="background devices")
    parser.add_argument(
        "--readings", type=int, default=1, choices=(1, 2, 3),
        help="readings per background message (rows per message)",
    )  # fmt: skip
    parser.add_argument("--stations", type=int, default=4, help="water-level stations taking turns")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--fresh", action="store_true", help="re-create the bench databases")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    databases = bench_databases(settings, fresh=args.fresh)
    labels = [db.label for db in databases]
    results: list[Result] = []
    for n in range(1, args.rounds + 1):
        for db in databases if n % 2 else databases[::-1]:
            console.print(f"[bold]round {n}/{args.rounds}: {db.label}[/]")
            with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
                run, stations = measure(settings, db, args, Path(tmp))
            rows = samples(db, run, stations)
            report(args, db.label, run, rows)
            results.append((db.label, run, rows))
    console.print(side_by_side(args, labels, results))
    console.print(TIMESTAMPS, highlight=False)
    console.print(f"plot: {plot(args.out, labels, results, args.rate)}")


if __name__ == "__main__":
    main()
