"""MQTT receive: what the receiving process's fast path buys over paho's public API.

In one run, interleaved per round (A, B, then B, A in the next round, so neither always
runs second on a warmer or busier machine):
- the raw paho QoS 1 receive ceiling (bench/ingest.py's stock subscriber),
- one `ioc ingest --source mqtt` worker draining a pre-filled backlog with the fast path
  (BulkReceiveClient: buffered reads, QoS 1 PUBLISH parsed from the buffer, PUBACKs of a
  batch in one write; ingest/transports/mqtt_client.py),
- the same worker with paho's public API only (`mqtt.Client`, on_message, `ack()` per
  message).
Same worker rate measure as bench/ingest.py (slope between 10% and 90% committed, exact
row check afterwards), CPU per message of the receiving process apart.

Usage: .venv/bin/python bench/mqtt_receive.py [--rounds 4] [--messages 60000] [--no-detect]
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import json
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from rich.table import Table

import bench.ingest as ingest_bench
from bench.engines import BenchDatabase
from config.settings import get_settings
from store import engine

console = ingest_bench.console
MODES = {"fast": "fast path", "public": "paho public API"}


def start_worker(mode: str) -> Callable[..., subprocess.Popen[bytes]]:
    """bench.ingest's start_worker, for a worker whose receiving path is `mode`."""

    def start(
        db: BenchDatabase, detect: bool, routes: Path, worker_id: str, log: Path,
        metrics_port: int = 0,
    ) -> subprocess.Popen[bytes]:  # fmt: skip
        env = dict(db.env, IOC_ROUTES_FILE=str(routes))
        argv = [sys.executable, __file__, "--as-worker", mode, "ingest", "--source", "mqtt"]
        argv += ["--worker-id", worker_id, "--metrics-port", str(metrics_port)]
        argv += [] if detect else ["--no-detect"]
        return subprocess.Popen(argv, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)

    return start


def run_as_worker(mode: str, argv: list[str]) -> None:
    """`ioc <argv>` with the receiving path chosen; MqttSource hands it to the receiving
    process in its parameters."""
    import ingest.transports.mqtt as mqtt_source
    from cli.main import app

    mqtt_source.FAST_PATH = mode == "fast"
    sys.argv = ["ioc", *argv]
    app()


@dataclass
class Round:
    ceiling: float
    rates: dict[str, ingest_bench.Rate]


def spread(values: list[float], fmt: str) -> str:
    return ingest_bench.spread(values, fmt)


GROUPS = ("receivers", "workers", "postgres", "mosquitto")


def summary(rounds: list[Round]) -> dict[str, object]:
    """What the plot and bench/out/mqtt-receive*.json keep: per-round rates, and the
    median CPU per message of each process group per receiving path."""
    return {
        "ceiling": [r.ceiling for r in rounds],
        "rates": {mode: [r.rates[mode].messages_per_s for r in rounds] for mode in MODES},
        "cpu_us": {
            mode: {g: statistics.median(r.rates[mode].cpu_us[g] for r in rounds) for g in GROUPS}
            for mode in MODES
        },
    }


def plot(out: Path, data: dict, detect: bool) -> Path:
    """Left: fast / public per round (interleaved, so each pair ran side by side). Right:
    CPU per message by process, which a loaded machine disturbs far less than rates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fast, public = data["rates"]["fast"], data["rates"]["public"]
    ratios = [f / p for f, p in zip(fast, public, strict=True)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.scatter(range(1, len(ratios) + 1), ratios, color="#1f77b4", zorder=3)
    left.axhline(statistics.median(ratios), color="#1f77b4",
                 label=f"median {statistics.median(ratios):.2f}")  # fmt: skip
    left.axhline(1.0, color="#999999", ls=":", label="no gain")
    left.axhline(1.2, color="#d62728", ls="--", label="1.2: the bar for keeping it")
    left.set_xticks(range(1, len(ratios) + 1))
    left.set_xlabel("round")
    left.set_ylabel("worker rate, fast path / public API")
    left.set_title("end-to-end worker rate, same round", fontsize=10)
    left.legend(fontsize=8)
    bottom = [0.0, 0.0]
    colors = {"receivers": "#ff7f0e", "workers": "#1f77b4", "postgres": "#2ca02c",
              "mosquitto": "#999999"}  # fmt: skip
    for group in GROUPS:
        values = [data["cpu_us"][mode][group] for mode in MODES]
        right.bar(list(MODES.values()), values, bottom=bottom, color=colors[group], label=group)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for i, total in enumerate(bottom):
        right.text(i, total, f"{total:.0f} µs", ha="center", va="bottom")
    right.set_ylabel("CPU µs per committed message (median)")
    right.set_title("CPU per message, by process", fontsize=10)
    right.legend(fontsize=8, loc="upper left")
    stage = "with the detectors" if detect else "ingest stage alone (--no-detect)"
    fig.suptitle(f"MQTT receive: fast path or paho's public API, {len(ratios)} rounds, {stage}",
                 fontsize=11)  # fmt: skip
    fig.tight_layout()
    path = out / ("mqtt-receive-detect.png" if detect else "mqtt-receive.png")
    fig.savefig(path, dpi=120)
    return path


def report(rounds: list[Round], messages: int, detect: bool) -> None:
    stage = "with the detectors" if detect else "ingest stage alone"
    table = Table(
        title=f"MQTT receive path ({stage}): {messages:,} messages per drain, {len(rounds)}"
        " interleaved rounds; median (min – max)"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row(
        "raw paho QoS 1 receive ceiling, msg/s", spread([r.ceiling for r in rounds], ",.0f")
    )
    for mode, label in MODES.items():
        rates = [r.rates[mode] for r in rounds]
        table.add_row(
            f"1 worker, {label}, msg/s", spread([x.messages_per_s for x in rates], ",.0f")
        )
        table.add_row(
            "  share of the raw ceiling",
            spread(
                [x.messages_per_s / r.ceiling for x, r in zip(rates, rounds, strict=True)], ".2f"
            ),
        )
        for group in GROUPS:
            table.add_row(f"  CPU µs/msg, {group}", spread([x.cpu_us[group] for x in rates], ".1f"))
        table.add_row("  machine busy", spread([x.machine_busy for x in rates], ".2f"))
    gains = [r.rates["fast"].messages_per_s / r.rates["public"].messages_per_s for r in rounds]
    table.add_row("[bold]fast / public, same round[/]", spread(gains, ".2f"))
    console.print(table)
    console.print("per round (fast, public, ratio):")
    for n, (r, gain) in enumerate(zip(rounds, gains, strict=True), 1):
        fast, public = r.rates["fast"].messages_per_s, r.rates["public"].messages_per_s
        console.print(f"  {n}: ceiling {r.ceiling:,.0f}  {fast:,.0f}  {public:,.0f}  {gain:.2f}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--as-worker":
        run_as_worker(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--no-detect", action="store_true", help="workers without detectors")
    args = parser.parse_args()
    detect = not args.no_detect
    args.out.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    # The stack's own database, on the engine it was made with: the receiving process is
    # the same on either, and bench/ingest.py compares the engines.
    with psycopg.connect(settings.dsn()) as conn:
        db = BenchDatabase(engine.current(conn, settings.db_engine).engine, settings)
    rounds = []
    for n in range(1, args.rounds + 1):
        order = list(MODES) if n % 2 else list(reversed(MODES))
        console.print(f"[bold]round {n}/{args.rounds}[/]: raw ceiling, then {', '.join(order)}")
        devices = ingest_bench.register_devices(settings, [], 20)
        ceiling = ingest_bench.raw_ceiling(settings, devices, args.messages)
        rates = {}
        for mode in order:
            ingest_bench.start_worker = start_worker(mode)
            rates[mode] = ingest_bench.worker_rate(settings, db, detect, 1, args.messages, args.out)
            console.print(f"  {mode}: {rates[mode].messages_per_s:,.0f} msg/s")
        rounds.append(Round(ceiling, rates))
    report(rounds, args.messages, detect)
    data = summary(rounds)
    name = "mqtt-receive-detect.json" if detect else "mqtt-receive.json"
    (args.out / name).write_text(json.dumps(data, indent=1))
    console.print(f"plot: {plot(args.out, data, detect)}")


if __name__ == "__main__":
    main()
