"""The API as a real uvicorn process on the test stack, with its own settings (small
limits for the bounds tests, large ones for schemathesis)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0  # upper bound; the server normally answers within a second or two


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def api_process(env: Mapping[str, str], log: Path, *, via_cli: bool = False) -> Iterator[str]:
    """Start `uvicorn api.app:create_app` (or, with via_cli, `ioc api` as deployed, with
    its uvicorn options) with `env` over the test environment; yield its base URL; stop
    it (SIGTERM, then SIGKILL) at the end."""
    port = free_port()
    command = (
        [sys.executable, "-c", "from cli.main import app; app()", "api", "--port", str(port)]
        if via_cli
        else [
            sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ]
    )  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the API exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the API did not become ready: {log.read_text(errors='replace')[-2000:]}")
