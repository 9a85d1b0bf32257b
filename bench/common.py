"""Pieces the benchmarks share (imported by bench/ingest.py and bench/alerts.py, which
put the repository root on sys.path when run as scripts)."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from config.settings import REPO_ROOT


def telemetry_routes(path: Path, group: str) -> Path:
    """A routes file routing only device telemetry (see mqtt_routes)."""
    return mqtt_routes(path, group, {"ioc/v1/+/telemetry": "ioc_telemetry"})


def mqtt_routes(path: Path, group: str, routes: dict[str, str]) -> Path:
    """A routes file with the deployed limits and batching (deploy/ingest/routes.yaml), so
    the figures are those of the shipped configuration, routing only `routes` (MQTT
    filter -> format), in a share group and consumer group of the bench's own."""
    config = yaml.safe_load((REPO_ROOT / "deploy" / "ingest" / "routes.yaml").read_text())
    config["mqtt"] = {
        "share_group": group,
        "routes": [{"filter": f, "format": fmt} for f, fmt in routes.items()],
    }
    config["kafka"] = {"group_id": group, "routes": []}
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU of the processes; one that has exited counts nothing."""
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class StepBars:
    """One progress bar per build step: the reporter the bench data builders call."""

    def __init__(self, bar: Progress, label: str) -> None:
        self.bar, self.label, self.tasks = bar, label, {}

    def __call__(self, step: str, done: int, total: int) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.bar.add_task(f"{self.label}: {step}", total=total)
        self.bar.update(self.tasks[step], completed=done)


def step_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )
