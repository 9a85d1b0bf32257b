"""The API at a province's scale, TimescaleDB and plain PostgreSQL side by side (issue 13:
p50/p95 at 20 concurrent clients, target p95 <= 150 ms for each endpoint timed).

One database per engine (`ioc_bench_api_<engine>`) in the cluster of IOC_* settings
(started in IOC_RUN_DIR when it is not running) gets a year of a province's stations
(bench/api_data.py: >= 10 million readings, rollups, compression, a year of alerts). The
databases are kept between runs: a run builds what is missing, tops the data up to the
current minute, then starts the real API per engine (`ioc api`, uvicorn as the product
runs it) and times, endpoint by endpoint, `--clients` clients in a closed loop (each
sends its next request when its answer is in, each with its own user token) for
`--seconds`, the engines alternating endpoint by endpoint (the order flips each round).

    IOC_RUN_DIR=.run/bench-api IOC_PG_PORT=27432 .venv/bin/python bench/api.py
    ... bench/api.py --build-only --engine postgresql     # build one engine's data
    ... bench/api.py --drop                               # drop the databases

Writes bench/out/api.json and docs/img/api-engines.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import api_data  # noqa: E402
from bench.common import StepBars, free_port, step_progress  # noqa: E402
from bench.engines import BenchDatabase  # noqa: E402
from config.secrets import load_secrets  # noqa: E402
from config.settings import Settings, get_settings  # noqa: E402
from stack import postgres  # noqa: E402
from store.engine import Engine  # noqa: E402
from store.migrate import migrate  # noqa: E402
from store.users import create_user, delete_user  # noqa: E402

TARGET_MS = 150.0
MARKER = "bench_api_built"
USER_PREFIX = "bench-api-client-"
console = Console()


# --- databases -----------------------------------------------------------------------


def database(settings: Settings, engine: Engine) -> BenchDatabase:
    name = f"ioc_bench_api_{engine.value}"
    update = {"pg_database": name, "db_engine": engine.value, "database_url": None}
    return BenchDatabase(engine, settings.model_copy(update=update))


def ensure_database(settings: Settings, db: BenchDatabase) -> None:
    """Created when missing (a half-built one, without the marker, is made afresh),
    then migrated to the newest schema."""
    name = db.settings.pg_database
    with postgres.admin_connect(settings) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found and not _built(db):
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            found = None
        if not found:
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(settings.pg_user)
                )
            )
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        report = migrate(conn, db.engine.value)
    if report.engine.engine is not db.engine:
        raise RuntimeError(f"{name} was made on {report.engine.engine}, not {db.engine}")


def _built(db: BenchDatabase) -> bool:
    with psycopg.connect(db.dsn()) as conn:
        return conn.execute("SELECT to_regclass(%s)", (MARKER,)).fetchone()[0] is not None


def build(db: BenchDatabase, copies: int, days: int, bar: Progress) -> dict[str, float]:
    """The year in `db` unless built; then topped up to the current minute."""
    report = StepBars(bar, db.label)
    timings: dict[str, float] = {}
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        if not _built(db):
            end = datetime.now(UTC).replace(second=0, microsecond=0)
            start = (end - timedelta(days=days)).replace(hour=0, minute=0)
            console.print(f"{db.label}: {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC")
            timings = api_data.build(conn, db.engine, copies, start, end, report)
            conn.execute(f"CREATE TABLE {MARKER} (data_end timestamptz, copies int)")
            conn.execute(f"INSERT INTO {MARKER} VALUES (%s, %s)", (end, copies))
        data_end, kept = conn.execute(f"SELECT data_end, copies FROM {MARKER}").fetchone()
        if kept != copies:
            raise SystemExit(f"{db.label}: kept data has --copies {kept}, not {copies}")
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        if now > data_end:
            top = api_data.extend(conn, db.engine, copies, data_end, now, StepBars(bar, "top-up"))
            timings.update({f"top-up {k}": v for k, v in top.items()})
            conn.execute(f"UPDATE {MARKER} SET data_end = %s", (now,))
    return timings


def data_summary(db: BenchDatabase) -> dict[str, object]:
    with psycopg.connect(db.dsn()) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM measurements), (SELECT min(time) FROM measurements),"
            " (SELECT max(time) FROM measurements), (SELECT count(*) FROM measurements_1m),"
            " (SELECT count(*) FROM measurements_1h), (SELECT count(*) FROM alerts),"
            " (SELECT count(*) FROM alerts WHERE status <> 'resolved'),"
            " (SELECT count(*) FROM alert_history), (SELECT count(*) FROM devices),"
            " pg_database_size(current_database())"
        ).fetchone()
    keys = ("readings", "first", "last", "1m rows", "1h rows", "alerts", "open alerts",
            "alert history", "devices", "db bytes")  # fmt: skip
    return dict(zip(keys, row, strict=True))


# --- the API -------------------------------------------------------------------------


@dataclass
class Server:
    db: BenchDatabase
    url: str
    process: subprocess.Popen[bytes]
    tokens: list[str]
    stations: list[tuple[str, str]]  # (device id, a metric it sends)


def start_api(db: BenchDatabase, clients: int, log: Path, workers: int = 1) -> Server:
    """`ioc api` on this engine's database (or uvicorn with `workers` processes, to see
    what more processes buy), and a user per client. The per-token request limit
    (600/minute) is raised: a closed-loop client sends far more than a person."""
    port = free_port()
    env = {**db.env, "IOC_API_TOKEN_REQUESTS": "1000000/minute"}
    command = [str(ROOT / ".venv" / "bin" / "ioc"), "api", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    if workers > 1:
        command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
                   "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(workers)]  # fmt: skip
    out = log.open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{db.label}: the API exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{db.label}: the API did not get ready: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        _drop_users(conn)
        tokens = [create_user(conn, f"{USER_PREFIX}{k}", "admin")[1] for k in range(clients)]
        stations = [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT DISTINCT ON (device_id) device_id, metric FROM measurements_1h"
                " WHERE bucket >= now() - interval '2 days' ORDER BY device_id, metric"
            )
        ]
    return Server(db, url, process, tokens, stations)


def _drop_users(conn: psycopg.Connection) -> None:
    for (name,) in conn.execute(
        "SELECT name FROM api_users WHERE name LIKE %s", (USER_PREFIX + "%",)
    ).fetchall():
        delete_user(conn, name)


def stop_api(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
    with psycopg.connect(server.db.dsn(), autocommit=True) as conn:
        _drop_users(conn)


# --- timing --------------------------------------------------------------------------

Path_ = Callable[[Server, random.Random], str]


def _alerts_open(server: Server, rng: random.Random) -> str:
    return "/api/v1/alerts?status=open"


def _alerts_all(server: Server, rng: random.Random) -> str:
    return "/api/v1/alerts"


def _series_24h(server: Server, rng: random.Random) -> str:
    device, metric = rng.choice(server.stations)
    return f"/api/v1/devices/{device}/series?metric={metric}"


def _series_30d(server: Server, rng: random.Random) -> str:
    device, metric = rng.choice(server.stations)
    start = (datetime.now(UTC) - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    return f"/api/v1/devices/{device}/series?metric={metric}&start={start}"


def _latest_all(server: Server, rng: random.Random) -> str:
    return "/api/v1/telemetry/latest?limit=500"


# Name, request. Every request names a station at random (or none): a client asks for
# what it asks for, not one cached row.
ENDPOINTS: tuple[tuple[str, Path_], ...] = (
    ("alert list, open (newest change first, 100)", _alerts_open),
    ("alert list, all statuses (100 + X-Total-Count)", _alerts_all),
    ("one station's series, 24 h (auto: raw)", _series_24h),
    ("one station's series, 30 days (auto: 1 h)", _series_30d),
    ("latest values of every station", _latest_all),
)


@dataclass
class Result:
    endpoint: str
    times: dict[str, list[float]] = field(default_factory=dict)  # label -> ms
    errors: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> status -> n
    rate: dict[str, float] = field(default_factory=dict)  # label -> requests/s
    sample: dict[str, dict[str, object]] = field(default_factory=dict)  # one answer's shape


async def _client(
    server: Server, token: str, path: Path_, rng: random.Random, stop_at: float,
    times: list[float], errors: dict[str, int],
) -> None:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        while time.perf_counter() < stop_at:
            target = path(server, rng)
            t0 = time.perf_counter()
            response = await client.get(target)
            await response.aread()
            ms = (time.perf_counter() - t0) * 1000
            if response.status_code == 200:
                times.append(ms)
            else:
                errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1


async def _load(
    server: Server, path: Path_, seconds: float, seed: int, clients: int
) -> tuple[list[float], dict[str, int], float]:
    times: list[float] = []
    errors: dict[str, int] = {}
    t0 = time.perf_counter()
    stop_at = t0 + seconds
    await asyncio.gather(*(
        _client(server, token, path, random.Random(seed + k), stop_at, times, errors)
        for k, token in enumerate(server.tokens[:clients])
    ))  # fmt: skip
    return times, errors, (len(times) + sum(errors.values())) / (time.perf_counter() - t0)


def _shape(server: Server, path: Path_) -> dict[str, object]:
    """What one answer holds (points and resolution of a series, rows of a list)."""
    response = httpx.get(
        server.url + path(server, random.Random(0)),
        headers={"Authorization": f"Bearer {server.tokens[0]}"},
        timeout=30,
    )
    body = response.json()
    if isinstance(body, dict) and "points" in body:
        return {"resolution": body["resolution"], "points": len(body["points"]),
                "bytes": len(response.content)}  # fmt: skip
    if isinstance(body, list):
        readings = sum(len(item.get("readings", [])) for item in body if isinstance(item, dict))
        out: dict[str, object] = {"items": len(body), "bytes": len(response.content)}
        if readings:
            out["readings"] = readings
        if "x-total-count" in response.headers:
            out["total"] = response.headers["x-total-count"]
        return out
    return {"status": response.status_code}


def time_endpoints(
    servers: list[Server], seconds: float, warmup: float, rounds: int, clients: int
) -> list[Result]:
    results = [Result(name) for name, _ in ENDPOINTS]
    with step_progress(console) as bar:
        task = bar.add_task(f"timing, {clients} client(s)",
                            total=len(ENDPOINTS) * len(servers) * rounds)  # fmt: skip
        for result, (_, path) in zip(results, ENDPOINTS, strict=True):
            for server in servers:
                label = server.db.label
                result.times[label], result.errors[label], result.rate[label] = [], {}, 0.0
                result.sample[label] = _shape(server, path)
                asyncio.run(_load(server, path, warmup, seed=999, clients=clients))
            for k in range(rounds):
                for server in servers if k % 2 == 0 else servers[::-1]:
                    label = server.db.label
                    times, errors, rate = asyncio.run(
                        _load(server, path, seconds, seed=k, clients=clients)
                    )
                    result.times[label] += times
                    for status, n in errors.items():
                        result.errors[label][status] = result.errors[label].get(status, 0) + n
                    result.rate[label] += rate / rounds
                    bar.advance(task)
    return results


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


# --- output --------------------------------------------------------------------------


def print_table(results: list[Result], labels: list[str], title: str) -> None:
    table = Table(title=title)
    table.add_column("endpoint")
    for label in labels:
        table.add_column(f"{label} p50 / p95 / max ms", justify="right")
        table.add_column(f"{label} req/s", justify="right")
        table.add_column(f"{label} answer", overflow="fold")
    table.add_column(f"p95 ≤ {TARGET_MS:.0f}", justify="center")
    for r in results:
        cells = [r.endpoint]
        for label in labels:
            t = r.times[label]
            errors = f" [red]errors {r.errors[label]}" if r.errors[label] else ""
            cells += [
                f"{statistics.median(t):.1f} / {p95(t):.1f} / {max(t):.1f}" if t else "—",
                f"{r.rate[label]:.0f}",
                ", ".join(f"{k} {v}" for k, v in r.sample[label].items()) + errors,
            ]
        ok = all(r.times[label] and p95(r.times[label]) <= TARGET_MS for label in labels)
        ok = ok and not any(r.errors[label] for label in labels)
        cells.append("[green]yes" if ok else "[red]NO")
        table.add_row(*cells)
    if not console.is_terminal:
        console.width = 200
    console.print(table)


def plot(results: list[Result], labels: list[str], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.55 * len(results) * len(labels)))
    bar_h = 0.8 / len(labels)
    colours = {"plain PG": "#4c72b0", "TimescaleDB": "#dd8452"}
    for i, label in enumerate(labels):
        ys = [k + i * bar_h for k in range(len(results))]
        p50s = [statistics.median(r.times[label]) for r in results]
        p95s = [p95(r.times[label]) for r in results]
        ax.barh(ys, p95s, height=bar_h * 0.9, color=colours[label], alpha=0.35,
                label=f"{label} p95")  # fmt: skip
        ax.barh(ys, p50s, height=bar_h * 0.9, color=colours[label], label=f"{label} p50")
        for y, a, b in zip(ys, p50s, p95s, strict=True):
            ax.text(b * 1.03, y, f"{a:.0f} / {b:.0f} ms", va="center", fontsize=7)
    ax.axvline(TARGET_MS, color="red", ls="--", lw=1, label=f"target p95 {TARGET_MS:.0f} ms")
    ax.set_yticks([k + bar_h * (len(labels) - 1) / 2 for k in range(len(results))])
    ax.set_yticklabels([r.endpoint for r in results], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms per request, sent until the whole answer is read (p50 solid, p95 pale)")
    ax.set_title(title.replace("; ", "\n"), fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=5)
    ax.set_xlim(0, max(TARGET_MS * 1.25, ax.get_xlim()[1] * 1.15))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    console.print(f"plot: {out}")


def replot(saved: Path, out: Path) -> None:
    """The tables and pictures again from a run's JSON (e.g. after a change of layout)."""
    data = json.loads(saved.read_text())
    for level, rows in data["endpoints"].items():
        results = [Result(r["endpoint"], r["ms"], r["errors"], r["rate"], r["answer"])
                   for r in rows]  # fmt: skip
        labels = list(rows[0]["ms"])
        load = f"{data['load average before']} → {data['load average after']}"
        readings = max(int(d["readings"]) for d in data["data"].values())
        title = (f"API at {level} concurrent client(s), {readings / 1e6:.1f} M readings"
                 f" (a year); load average {load}")  # fmt: skip
        print_table(results, labels, title)
        plot(results, labels, out if level != "1" else out.with_stem(f"{out.stem}-1"), title)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5, help="times simulators/fleet.yaml")
    parser.add_argument("--days", type=int, default=365, help="history to build, days")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=15, help="per endpoint, engine, round")
    parser.add_argument("--warmup", type=float, default=3, help="untimed seconds first")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes (1: `ioc api` as shipped; more: uvicorn --workers)",
    )
    parser.add_argument("--skip-single", action="store_true", help="no 1-client pass")
    parser.add_argument("--engine", choices=["both", "postgresql", "timescaledb"], default="both")
    parser.add_argument("--build-only", action="store_true", help="make the data, time nothing")
    parser.add_argument("--drop", action="store_true", help="drop the bench databases and exit")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "api-engines.png")
    parser.add_argument("--replot", type=Path, help="draw the pictures again from a api.json")
    args = parser.parse_args()
    if args.replot:
        replot(args.replot, args.out)
        return
    settings = get_settings()
    load_secrets(settings)
    if not postgres.healthy(settings):
        console.print(f"starting PostgreSQL in {settings.run_dir} on port {settings.pg_port}")
        (settings.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        postgres.start(settings)
    engines = [e for e in (Engine.POSTGRES, Engine.TIMESCALE)
               if args.engine in ("both", e.value)]  # fmt: skip
    dbs = [database(settings, e) for e in engines]
    if args.drop:
        with postgres.admin_connect(settings) as admin:
            for db in dbs:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(db.settings.pg_database)))  # fmt: skip
        return
    results: dict[str, object] = {"build seconds": {}}
    with step_progress(console) as bar:
        for db in dbs:
            ensure_database(settings, db)
            results["build seconds"][db.label] = build(db, args.copies, args.days, bar)  # type: ignore[index]
    results["data"] = {db.label: data_summary(db) for db in dbs}
    console.print_json(data=results, default=str)
    if args.build_only:
        return
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    servers = []
    try:
        for db in dbs:
            log = out_dir / f"api-{db.engine.value}.log"
            servers.append(start_api(db, args.clients, log, args.workers))
        results["load average before"] = load_average()
        timed = {
            level: time_endpoints(servers, args.seconds, args.warmup, args.rounds, level)
            for level in ((args.clients,) if args.skip_single else (1, args.clients))
        }
        results["load average after"] = load_average()
    finally:
        for server in servers:
            stop_api(server)
    labels = [db.label for db in dbs]
    readings = max(int(results["data"][label]["readings"]) for label in labels)  # type: ignore[index]
    load = f"{results['load average before']} → {results['load average after']}"
    results["endpoints"] = {}
    for level, rows in timed.items():
        procs = "" if args.workers == 1 else f" ({args.workers} processes)"
        title = (f"API{procs} at {level} concurrent client(s), {readings / 1e6:.1f} M readings"
                 f" ({args.days} days); {args.rounds} × {args.seconds:.0f} s per endpoint and"
                 f" engine, load average {load}")  # fmt: skip
        print_table(rows, labels, title)
        out = args.out if level == args.clients else args.out.with_stem(f"{args.out.stem}-1")
        plot(rows, labels, out, title)
        results["endpoints"][level] = [  # type: ignore[index]
            {"endpoint": r.endpoint, "ms": r.times, "errors": r.errors, "rate": r.rate,
             "answer": r.sample} for r in rows
        ]  # fmt: skip
    name = "api.json" if args.workers == 1 else f"api-w{args.workers}.json"
    (out_dir / name).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
