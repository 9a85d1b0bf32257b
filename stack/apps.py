"""The project's own long-running processes in the local stack: `ioc ingest`, `ioc api`."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from config.settings import Settings
from stack import processes
from stack.processes import ProcessSpec

INGEST, API, ALERTS = "ingest", "api", "alerts"
WORKER_ID = "1"  # names the worker's persistent MQTT session (ioc-ingest-1)


def ioc_bin() -> str:
    beside = Path(sys.executable).parent / "ioc"
    return str(beside) if beside.exists() else shutil.which("ioc") or "ioc"


def _env(settings: Settings) -> dict[str, str]:
    return processes.settings_env(settings.model_dump())


def _ingest_argv(settings: Settings) -> list[str]:
    return [
        ioc_bin(), "ingest", "--worker-id", WORKER_ID,
        "--metrics-port", str(settings.metrics_port),
    ]  # fmt: skip


def _api_argv(settings: Settings) -> list[str]:
    return [ioc_bin(), "api", "--host", settings.bind_host, "--port", str(settings.api_port)]


def _alerts_argv(settings: Settings) -> list[str]:
    return [ioc_bin(), "alerts", "run", "--metrics-port", str(settings.alerts_metrics_port)]


def _marker(argv: list[str]) -> str:
    return " ".join(argv[1:])


def ingest_pid(settings: Settings) -> int | None:
    return _pid(settings, INGEST)


def api_pid(settings: Settings) -> int | None:
    return _pid(settings, API)


def alerts_pid(settings: Settings) -> int | None:
    return _pid(settings, ALERTS)


def alerts_healthy(settings: Settings) -> bool:
    """The alert service's own verdict: dispatcher running, database reachable."""
    return _ready(settings, settings.alerts_metrics_port, "ioc_alerts_ready", ALERTS)


def start_alerts(settings: Settings, timeout: float = 60) -> None:
    _start(settings, ALERTS, _alerts_argv(settings), lambda: alerts_healthy(settings), timeout)


def stop_alerts(settings: Settings) -> bool:
    # SIGTERM: the dispatcher finishes the group it is sending, then exits.
    return processes.stop(processes.pid_path(settings.run_dir, ALERTS), timeout=40)


def _pid(settings: Settings, name: str) -> int | None:
    return processes.running_pid(processes.pid_path(settings.run_dir, name))


def ingest_healthy(settings: Settings) -> bool:
    """The worker's own verdict: every source connected and the database reachable."""
    return _ready(settings, settings.metrics_port, "ioc_ingest_ready", INGEST)


def _ready(settings: Settings, port: int, gauge: str, name: str) -> bool:
    """A process's readiness gauge on its metrics port reads 1."""
    if not port:
        # No metrics endpoint to ask (port 0): alive is all we can know.
        return _pid(settings, name) is not None
    try:
        body = httpx.get(f"http://{settings.bind_host}:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return False
    return f"{gauge} 1.0" in body.splitlines()


def api_healthy(settings: Settings) -> bool:
    try:
        url = f"http://{settings.bind_host}:{settings.api_port}/healthz"
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_ingest(settings: Settings, timeout: float = 60) -> None:
    if not settings.metrics_port:
        # Give a worker that fails at once (bad routes file, wrong password) time to die.
        _start(settings, INGEST, _ingest_argv(settings), lambda: _alive_for(settings, 3), 10)
        return
    _start(settings, INGEST, _ingest_argv(settings), lambda: ingest_healthy(settings), timeout)


def _alive_for(settings: Settings, seconds: float) -> bool:
    time.sleep(seconds)
    return ingest_pid(settings) is not None


def start_api(settings: Settings, timeout: float = 30) -> None:
    _start(settings, API, _api_argv(settings), lambda: api_healthy(settings), timeout)


def _start(
    settings: Settings, name: str, argv: list[str], check: Callable[[], bool], timeout: float
) -> None:
    if _pid(settings, name) is None:
        spec = ProcessSpec(name, argv, _marker(argv), env=_env(settings))
        processes.start(settings.run_dir, spec)
    pidfile, log = (
        processes.pid_path(settings.run_dir, name),
        processes.log_path(settings.run_dir, name),
    )
    processes.wait_healthy(name, pidfile, check, timeout, log)


def stop_ingest(settings: Settings) -> bool:
    # SIGTERM: the worker commits its current batch and acknowledges it before exiting.
    return processes.stop(processes.pid_path(settings.run_dir, INGEST), timeout=60)


def stop_api(settings: Settings) -> bool:
    return processes.stop(processes.pid_path(settings.run_dir, API), timeout=15)
