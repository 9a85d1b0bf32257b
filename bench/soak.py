"""Soak: the full local stack under the simulators for a long while, memory of every
process sampled; the ingest worker's, the alert service's and the API's must stay flat.

    make up && make soak                        # 30 minutes at 5,000 msg/s
    make soak ARGS='--minutes 10 --rate 2000'

Uses the running stack (`make up`: PostgreSQL, mosquitto, Tansu, `ioc ingest`,
`ioc alerts run`, `ioc api`). Load: `ioc simulate --rate R` (sensors, cameras and
security logs through the real brokers) and an API client that polls open alerts and
devices every second while holding an alert event stream (SSE) open. Every `--interval`
seconds the RSS of each process is sampled with psutil; after `--warmup-minutes` the
slope of each is fitted by least squares and printed in MB/hour, with PASS/FAIL against
`--max-slope` for the three processes of ours that must not grow. Writes a plot
(docs/img/soak.png by default). Exit status 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import REPO_ROOT, Settings, get_settings
from stack import apps

# performance.md names no rate "nominal"; the load it designs and measures for is alert
# latency's background of 5,000 msg/s (issue 3's acceptance), so that is the default.
NOMINAL_RATE = 5000.0
JUDGED = ("ingest worker", "ingest receiver", "alert service", "api")
MB = 1024 * 1024


@dataclass
class Series:
    times: list[float] = field(default_factory=list)  # seconds since start
    rss_mb: list[float] = field(default_factory=list)


# ---- processes ----------------------------------------------------------------------


def _by_cmdline(*needles: str) -> psutil.Process | None:
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or ())
        if all(n in line for n in needles):
            return proc
    return None


Processes = dict[str, list[psutil.Process]]


def find_processes(settings: Settings, simulator: psutil.Process) -> Processes:
    """Each name's processes (their RSS is summed). Services are found by their command
    line, which names this stack's run directory or port."""
    pids = {
        "ingest worker": apps.ingest_pid(settings),
        "alert service": apps.alerts_pid(settings),
        "api": apps.api_pid(settings),
    }
    missing = [name for name, pid in pids.items() if pid is None]
    if missing:
        sys.exit(f"soak: not running: {', '.join(missing)}; start the stack with `make up`")
    found = {name: [psutil.Process(pid)] for name, pid in pids.items() if pid is not None}
    worker = found["ingest worker"][0]
    # The MQTT receiving process is the worker's child (ingest/transports/mqtt_receiver.py).
    found["ingest receiver"] = worker.children()
    run_dir = str(settings.run_dir)
    postmaster = _by_cmdline("postgres", "-D", run_dir)
    services = {
        "mosquitto": _by_cmdline("mosquitto", run_dir),
        "tansu": _by_cmdline("tansu", f":{settings.kafka_port}"),
    }
    if postmaster is not None:
        found["postgres (all)"] = [postmaster]
    found |= {name: [proc] for name, proc in services.items() if proc is not None}
    found["simulator"] = [simulator]
    return found


def rss_mb(name: str, procs: list[psutil.Process]) -> float | None:
    """RSS in MB; PostgreSQL's is the postmaster's plus every backend's (shared buffers
    are counted once per process that touched them, so it is an upper bound)."""
    total = 0
    try:
        for proc in procs:
            total += proc.memory_info().rss
            if name == "postgres (all)":
                total += sum(c.memory_info().rss for c in proc.children())
    except psutil.NoSuchProcess:
        return None
    return total / MB


# ---- load ---------------------------------------------------------------------------


def api_user(settings: Settings, name: str) -> str:
    out = subprocess.run(
        [apps.ioc_bin(), "users", "add", "--name", name, "--role", "viewer"],
        capture_output=True, text=True, check=True, env=os.environ,
    )  # fmt: skip
    return json.loads(out.stdout)["token"]


class ApiLoad:
    """An operator's console: polls open alerts and devices every second, holds the
    alert event stream open (reconnecting if it ends)."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.stop = threading.Event()
        self.statuses: dict[int, int] = {}
        self.stream_events = 0
        self.stream_opens = 0
        self.errors: list[str] = []

    def start(self) -> None:
        for target in (self._poll, self._stream):
            threading.Thread(target=target, daemon=True).start()

    def _count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def _poll(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=10) as client:
            while not self.stop.wait(1.0):
                for path in ("/api/v1/alerts?status=open&limit=100", "/api/v1/devices"):
                    try:
                        self._count(client.get(path).status_code)
                    except httpx.HTTPError as error:
                        self._note(f"poll {path}: {error!r}")

    def _stream(self) -> None:
        url = f"{self.base}/api/v1/alerts/stream"
        while not self.stop.is_set():
            try:
                with httpx.stream(
                    "GET", url, params={"access_token": self.token},
                    timeout=httpx.Timeout(10, read=120),
                ) as response:  # fmt: skip
                    self._count(response.status_code)
                    self.stream_opens += 1
                    for line in response.iter_lines():
                        if line.startswith("event:"):
                            self.stream_events += 1
                        if self.stop.is_set():
                            return
            except httpx.HTTPError as error:
                self._note(f"stream: {error!r}")
            self.stop.wait(1.0)

    def _note(self, text: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(text)


def ingest_committed(settings: Settings) -> float | None:
    """Messages the worker has committed (written or dead-lettered), from its metrics."""
    try:
        body = httpx.get(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    pattern = r"^ioc_ingest_messages_(?:written|dead_lettered)_total\{[^}]*\} (\S+)$"
    return sum(float(v) for v in re.findall(pattern, body, re.M))


# ---- analysis -----------------------------------------------------------------------


def slope_mb_per_hour(series: Series, warmup_s: float) -> float | None:
    """Least-squares slope of RSS over time after the warm-up, in MB per hour."""
    import numpy as np

    points = [(t, m) for t, m in zip(series.times, series.rss_mb, strict=True) if t >= warmup_s]
    if len(points) < 3:
        return None
    t, m = np.array(points).T
    return float(np.polyfit(t / 3600.0, m, 1)[0])


def plot(samples: dict[str, Series], warmup_s: float, slopes: dict[str, float | None],
         path: Path, title: str) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ours, theirs) = plt.subplots(1, 2, figsize=(13, 5))
    for axis, names in ((ours, JUDGED), (theirs, [n for n in samples if n not in JUDGED])):
        for name in names:
            series = samples.get(name)
            if not series or not series.times:
                continue
            minutes = [t / 60 for t in series.times]
            slope = slopes.get(name)
            label = f"{name} ({slope:+.1f} MB/h)" if slope is not None else name
            axis.plot(minutes, series.rss_mb, label=label, linewidth=1.2)
        axis.axvspan(0, warmup_s / 60, color="0.9", label="warm-up (not fitted)")
        axis.set_xlabel("minutes")
        axis.set_ylabel("RSS, MB")
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    ours.set_title("ours (judged)")
    theirs.set_title("servers and the load generator")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


# ---- the run ------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=NOMINAL_RATE, help="ioc simulate --rate")
    parser.add_argument("--warmup-minutes", type=float, default=None,
                        help="not fitted (default: a third of the run, at most 10)")  # fmt: skip
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--max-slope", type=float, default=10.0,
                        help="MB/hour above which a judged process FAILs")  # fmt: skip
    parser.add_argument("--plot", type=Path, default=REPO_ROOT / "docs" / "img" / "soak.png")
    parser.add_argument("--csv", type=Path, default=REPO_ROOT / "bench" / "out" / "soak.csv",
                        help="every sample, to refit with another warm-up")  # fmt: skip
    args = parser.parse_args()
    warmup_s = 60 * (args.warmup_minutes if args.warmup_minutes is not None
                     else min(10.0, args.minutes / 3))  # fmt: skip
    settings = get_settings()
    duration = args.minutes * 60

    token = api_user(settings, f"soak-{uuid.uuid4().hex[:6]}")
    sim_log = settings.run_dir / "logs" / "soak-simulate.log"
    sim_log.parent.mkdir(parents=True, exist_ok=True)
    simulate = subprocess.Popen(
        [apps.ioc_bin(), "simulate", "--rate", str(args.rate), "--duration", str(duration)],
        stdout=sim_log.open("w"), stderr=subprocess.STDOUT, env=dict(os.environ, COLUMNS="120"),
    )  # fmt: skip
    procs = find_processes(settings, psutil.Process(simulate.pid))
    load = ApiLoad(f"http://127.0.0.1:{settings.api_port}", token)
    load.start()
    print(f"soak: {args.minutes:g} min at {args.rate:g} msg/s offered, sampling "
          f"{', '.join(procs)} every {args.interval:g} s;"
          f" warm-up {warmup_s / 60:.1f} min")  # fmt: skip

    samples = {name: Series() for name in procs}
    start = time.monotonic()
    committed = [(0.0, ingest_committed(settings))]
    died: list[str] = []
    try:
        while (now := time.monotonic() - start) < duration:
            _sample(procs, samples, now, died)
            if int(now) % 60 < args.interval:
                committed.append((now, ingest_committed(settings)))
                _progress(now, samples)
            time.sleep(max(0.0, args.interval - (time.monotonic() - start - now)))
    finally:
        committed.append((time.monotonic() - start, ingest_committed(settings)))
        load.stop.set()
        if simulate.poll() is None:
            simulate.terminate()
        simulate.wait(60)
    return _verdict(args, samples, warmup_s, committed, load, sim_log, died)


def _sample(procs: Processes, samples: dict[str, Series], now: float,
            died: list[str]) -> None:  # fmt: skip
    for name, group in procs.items():
        value = rss_mb(name, group)
        if value is None:
            if name not in died and name != "simulator":
                died.append(name)
            continue
        samples[name].times.append(now)
        samples[name].rss_mb.append(value)


def _progress(now: float, samples: dict[str, Series]) -> None:
    parts = [f"{n} {s.rss_mb[-1]:.0f}" for n, s in samples.items() if s.rss_mb]
    print(f"  {now / 60:5.1f} min  RSS MB: " + ", ".join(parts), flush=True)


def _verdict(args: argparse.Namespace, samples: dict[str, Series], warmup_s: float,
             committed: list[tuple[float, float | None]], load: ApiLoad, sim_log: Path,
             died: list[str]) -> int:  # fmt: skip
    slopes = {name: slope_mb_per_hour(s, warmup_s) for name, s in samples.items()}
    failed = bool(died)
    print(f"\n{'process':18} {'start MB':>9} {'end MB':>8} {'max MB':>8} {'slope MB/h':>11}")
    for name, series in samples.items():
        if not series.rss_mb:
            continue
        slope = slopes[name]
        verdict = ""
        if name in JUDGED:
            ok = slope is not None and slope <= args.max_slope
            failed |= not ok
            verdict = "PASS" if ok else "FAIL"
        shown = f"{slope:+11.1f}" if slope is not None else f"{'-':>11}"
        print(f"{name:18} {series.rss_mb[0]:9.1f} {series.rss_mb[-1]:8.1f}"
              f" {max(series.rss_mb):8.1f} {shown}  {verdict}")  # fmt: skip
    print(f"(slopes fitted after a {warmup_s / 60:.1f} min warm-up; judged against"
          f" {args.max_slope:g} MB/h)")  # fmt: skip
    for name in died:
        print(f"FAIL: {name} exited during the soak")
    _throughput(committed, sim_log)
    server_errors = sum(n for status, n in load.statuses.items() if status >= 500)
    print(f"API: responses by status {dict(sorted(load.statuses.items()))}, alert stream opened"
          f" {load.stream_opens}x, {load.stream_events} events"
          + (f"; errors: {load.errors[:3]}" if load.errors else ""))  # fmt: skip
    if server_errors:
        print(f"FAIL: {server_errors} API server errors")
        failed = True
    title = (f"soak: {args.minutes:g} min, ioc simulate --rate {args.rate:g}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    plot(samples, warmup_s, slopes, args.plot, title)
    write_csv(samples, args.csv)
    print(f"plot: {args.plot}; samples: {args.csv}")
    print("soak: FAIL" if failed else "soak: PASS")
    return 1 if failed else 0


def write_csv(samples: dict[str, Series], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["process", "seconds", "rss_mb"])
        for name, series in samples.items():
            out.writerows([name, f"{t:.1f}", f"{m:.2f}"] for t, m in zip(series.times,
                          series.rss_mb, strict=True))  # fmt: skip


def _throughput(committed: list[tuple[float, float | None]], sim_log: Path) -> None:
    known = [(t, v) for t, v in committed if v is not None]
    if len(known) >= 2 and known[-1][0] > known[0][0]:
        (t0, v0), (t1, v1) = known[0], known[-1]
        print(f"worker committed {v1 - v0:,.0f} messages, {(v1 - v0) / (t1 - t0):,.0f} msg/s")
    tail = sim_log.read_text(errors="replace").strip().splitlines()[-1:] if sim_log.exists() else []
    print(f"simulator: {tail[0] if tail else 'no output'} (log: {sim_log})")
    # A worker behind its broker holds full batches the whole run: memory is then that of
    # a backlog (bounded by design), and the broker's queue is what grows.
    print("(if the worker committed less than the simulator acknowledged, it fell behind)")


if __name__ == "__main__":
    sys.exit(main())
