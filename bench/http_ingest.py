"""HTTP ingest against the MQTT worker, in one run, on TimescaleDB: prints both rates
and their ratio (issue 13's target: HTTP >= 0.5 x MQTT).

- MQTT: one `ioc ingest` worker with the detectors draining a pre-filled queue
  (bench/ingest.py's worker_rate: the slope between 10% and 90% committed).
- HTTP: `ioc api` with IOC_API_WORKERS uvicorn processes; 20 concurrent clients, each a
  device posting its own batches of 100 records to POST /api/v1/ingest/telemetry with
  its HTTP token; the rate is the records answered 'stored' between the 10% and 90%
  marks of the answers. The clients run in this process (one asyncio loop, httpx), on
  the same 2 cores: their CPU is part of the cost, as a real sender's network is not.

Both sides send the same records: `{"ts", "pm25", "pm10", "temp"}`, 3 readings each
(one MQTT message = one HTTP item), with the detectors on. The database is the
TimescaleDB bench database (bench/engines.py); rows are checked after each run.

Usage: .venv/bin/python bench/http_ingest.py [--records 60000] [--rounds 2]
       [--api-workers 1,2] [--clients 20] [--batch 100]
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
import json
import os
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psutil
import psycopg
from rich.console import Console
from rich.table import Table

from bench.common import cpu_seconds, free_port
from bench.engines import BenchDatabase, bench_databases
from bench.ingest import IOC_BIN, METRICS_PER_MESSAGE, rows_for, worker_rate
from config.settings import get_settings
from store.device_credentials import add_http_token
from store.devices import DeviceSpec, upsert_device
from store.engine import Engine

console = Console()


@dataclass
class HttpRate:
    records_per_s: float
    seconds: float
    machine_busy: float
    client_cpu_share: float  # of the machine's CPU time in the window, by the clients
    p50_ms: float
    p95_ms: float
    # CPU µs per record between start and end of the timed posting: the API processes,
    # PostgreSQL, and the clients (this process).
    cpu_us: dict[str, float]


def http_devices(db: BenchDatabase, n: int) -> list[tuple[str, str]]:
    """(device id, HTTP token) for n new devices in the bench database."""
    tag = uuid.uuid4().hex[:6]
    out = []
    with psycopg.connect(db.dsn()) as conn:
        for i in range(n):
            spec = DeviceSpec(id=f"bench-h{tag}-{i:02d}", type="air_quality",
                              province="Khánh Hòa", lat=12.2388, lon=109.1967)  # fmt: skip
            upsert_device(conn, spec)
            out.append((spec.id, add_http_token(conn, spec.id, "bench")))
        conn.commit()
    return out


def bodies(n_batches: int, batch: int, offset: int) -> list[bytes]:
    """One device's batches: records a second apart, two days back (as bench/ingest.py)."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    out = []
    for b in range(n_batches):
        records = [
            {"ts": (base + timedelta(seconds=offset + b * batch + i)).isoformat(),
             "pm25": 10 + i % 70, "pm10": 30 + i % 90, "temp": 28.5}
            for i in range(batch)
        ]  # fmt: skip
        out.append(json.dumps(records).encode())
    return out


def start_api(db: BenchDatabase, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(
        db.env,
        IOC_API_PORT=str(port),
        IOC_API_WORKERS=str(workers),
        IOC_API_TOKEN_REQUESTS="10000000/minute",
    )
    proc = subprocess.Popen(
        [IOC_BIN, "api"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ioc api exited; see {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"ioc api not ready; see {log}")


def stop_api(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # uvicorn's supervisor stops its worker processes
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


async def _client(
    http: httpx.AsyncClient,
    token: str,
    batches: list[bytes],
    answers: list[tuple[float, int, float]],
) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for body in batches:
        while True:
            started = time.perf_counter()
            response = await http.post("/api/v1/ingest/telemetry", content=body, headers=headers)
            if response.status_code == 503:  # queue full: back off as told, then resend
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            break
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
        stored = response.json()["stored"]
        now = time.perf_counter()
        answers.append((now, stored, now - started))


async def _post_all(
    url: str, work: list[tuple[str, list[bytes]]]
) -> list[tuple[float, int, float]]:
    answers: list[tuple[float, int, float]] = []
    limits = httpx.Limits(max_connections=len(work), max_keepalive_connections=len(work))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
        await asyncio.gather(*[_client(http, token, batches, answers) for token, batches in work])
    return answers


def http_rate(db: BenchDatabase, api_workers: int, total: int, clients: int, batch: int,
              out: Path) -> HttpRate:  # fmt: skip
    devices = http_devices(db, clients)
    prefix = devices[0][0].rsplit("-", 1)[0]
    per_client = total // clients // batch
    log = out / f"http-api-{prefix}.log"
    proc, url = start_api(db, api_workers, log)
    try:
        # Warm up every API process (the first ingest request loads the rule packs):
        # two small batches per client, at once, at a time two days before the run's.
        warm = [(t, bodies(2, 5, -86_400)) for _, t in devices]
        asyncio.run(_post_all(url, warm))
        work = [(t, bodies(per_client, batch, 0)) for _, t in devices]
        me = psutil.Process()
        groups = _cpu_groups(db, proc)
        before = {name: cpu_seconds(procs) for name, procs in groups.items()}
        cpu0, machine0 = me.cpu_times(), psutil.cpu_times()
        answers = asyncio.run(_post_all(url, work))
        cpu1, machine1 = me.cpu_times(), psutil.cpu_times()
        used = {name: cpu_seconds(procs) - before[name] for name, procs in groups.items()}
    finally:
        stop_api(proc)
    answers.sort()
    expected = per_client * clients * batch
    stored = sum(n for _, n, _ in answers)
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        rows = rows_for(conn, prefix)
    warm_rows = clients * 2 * 5 * METRICS_PER_MESSAGE
    if stored != expected or rows != expected * METRICS_PER_MESSAGE + warm_rows:
        console.print(f"[red]check failed: {stored} stored of {expected}; {rows} rows; see {log}")
    else:
        log.unlink(missing_ok=True)
    done, marks = 0, {}
    for at, n, _ in answers:
        done += n
        for share in (0.1, 0.9):
            if share not in marks and done >= share * expected:
                marks[share] = at
    span = marks[0.9] - marks[0.1]
    busy = sum(machine1) - machine1.idle - (sum(machine0) - machine0.idle)
    elapsed = sum(machine1) - sum(machine0)
    client = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    latencies = sorted(lat * 1000 for _, _, lat in answers)
    return HttpRate(
        records_per_s=0.8 * expected / span,
        seconds=span,
        machine_busy=busy / elapsed if elapsed else 0.0,
        client_cpu_share=client / busy if busy else 0.0,
        p50_ms=statistics.median(latencies),
        p95_ms=latencies[int(0.95 * (len(latencies) - 1))],
        cpu_us={
            **{name: seconds / expected * 1e6 for name, seconds in used.items()},
            "clients": client / expected * 1e6,
        },
    )


def _cpu_groups(db: BenchDatabase, api: subprocess.Popen[bytes]) -> dict[str, list[psutil.Process]]:
    from stack import postgres

    root = psutil.Process(api.pid)
    master = psutil.Process(postgres.pid(db.settings))
    return {
        "api": [root, *root.children(recursive=True)],
        "postgres": [master, *master.children(recursive=True)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=60_000, help="per run, both sides")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--api-workers", default="1,2", help="uvicorn processes to measure")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    api_workers = [int(n) for n in args.api_workers.split(",")]
    settings = get_settings()
    [db] = [d for d in bench_databases(settings) if d.engine is Engine.TIMESCALE]
    console.print(f"load average at start: {os.getloadavg()}")
    mqtt: list[float] = []
    http: dict[int, list[HttpRate]] = {w: [] for w in api_workers}
    for n in range(1, args.rounds + 1):
        console.print(f"[bold]round {n}/{args.rounds}[/]")
        rate = worker_rate(settings, db, True, 1, args.records, args.out)
        mqtt.append(rate.messages_per_s)
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in rate.cpu_us.items())
        console.print(f"  MQTT worker: {rate.messages_per_s:,.0f} records/s"
                      f" (machine busy {rate.machine_busy:.0%}; CPU µs/record: {cpu})")  # fmt: skip
        for w in api_workers:
            h = http_rate(db, w, args.records, args.clients, args.batch, args.out)
            http[w].append(h)
            console.print(
                f"  HTTP, {w} API process(es): {h.records_per_s:,.0f} records/s, p50"
                f" {h.p50_ms:.0f} ms p95 {h.p95_ms:.0f} ms per request (machine busy"
                f" {h.machine_busy:.0%}, clients {h.client_cpu_share:.0%} of it; CPU µs/record: "
                + ", ".join(f"{k} {v:.0f}" for k, v in h.cpu_us.items())
                + ")"
            )
    console.print(f"load average at end: {os.getloadavg()}")
    title = (
        f"HTTP ingest vs the MQTT worker, TimescaleDB, {args.records:,} records of"
        f" {METRICS_PER_MESSAGE} readings per run, {args.clients} clients, batches of"
        f" {args.batch}; median of {args.rounds} rounds (min - max)"
    )
    table = Table(title=title)
    table.add_column("path")
    table.add_column("records/s", justify="right")
    table.add_column("readings/s", justify="right")
    table.add_column("× MQTT", justify="right")
    table.add_column("p50 / p95 ms", justify="right")
    m = statistics.median(mqtt)
    table.add_row("MQTT worker (1, detectors)", _spread(mqtt), f"{m * METRICS_PER_MESSAGE:,.0f}",
                  "1.00", "")  # fmt: skip
    for w, rates in http.items():
        values = [r.records_per_s for r in rates]
        ratios = [r.records_per_s / q for r, q in zip(rates, mqtt, strict=True)]
        table.add_row(
            f"HTTP, {w} API process(es)", _spread(values),
            f"{statistics.median(values) * METRICS_PER_MESSAGE:,.0f}",
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f} - {max(ratios):.2f})",
            f"{statistics.median(r.p50_ms for r in rates):.0f} /"
            f" {statistics.median(r.p95_ms for r in rates):.0f}",
        )  # fmt: skip
    console.print(table)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f} - {max(values):,.0f})"


if __name__ == "__main__":
    main()
