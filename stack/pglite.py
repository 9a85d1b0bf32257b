"""PGlite + TimescaleDB over the Postgres wire protocol (deploy/pglite/server.mjs).

The only TimescaleDB this machine can run, so tests of the TimescaleDB schema path use
it. One client connection at a time, data in memory, and COPY FROM STDIN crashes it:
for migrations and queries, never for load. Started only when asked (`--with-pglite`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg

from config.settings import REPO_ROOT, Settings
from stack import processes
from stack.processes import ProcessSpec, StackError

NAME = "pglite"
SERVER_DIR = REPO_ROOT / "deploy" / "pglite"


def dsn(settings: Settings) -> str:
    """Connection string of the PGlite server (its fixed postgres/postgres login)."""
    return (
        f"host={settings.bind_host} port={settings.pglite_port} dbname=postgres "
        "user=postgres password=postgres sslmode=disable gssencmode=disable"
    )


def _marker(settings: Settings) -> str:
    return f"server.mjs --host {settings.bind_host} --port {settings.pglite_port}"


def _pidfile(settings: Settings) -> Path:
    return processes.pid_path(settings.run_dir, NAME)


def pid(settings: Settings) -> int | None:
    return processes.running_pid(_pidfile(settings))


def start(settings: Settings, timeout: float = 120) -> None:
    if pid(settings) is None:
        if not (SERVER_DIR / "node_modules" / "@unni-craftsman" / "pglite").exists():
            raise StackError(NAME, f"npm packages missing in {SERVER_DIR}; run bootstrap.sh")
        if processes.port_open(settings.bind_host, settings.pglite_port):
            raise StackError(NAME, f"port {settings.pglite_port} is taken by another process")
        node = shutil.which("node") or "node"
        argv = [
            node, str(SERVER_DIR / "server.mjs"),
            "--host", settings.bind_host, "--port", str(settings.pglite_port),
        ]  # fmt: skip
        spec = ProcessSpec(NAME, argv, _marker(settings), cwd=SERVER_DIR)
        processes.start(settings.run_dir, spec)
    log = processes.log_path(settings.run_dir, NAME)
    processes.wait_healthy(NAME, _pidfile(settings), lambda: healthy(settings), timeout, log)


def timescale_version(settings: Settings) -> str | None:
    with psycopg.connect(dsn(settings), connect_timeout=5, autocommit=True) as conn:
        row = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    return row[0] if row else None


def healthy(settings: Settings) -> bool:
    # The socket opens only once the WASM build and TimescaleDB are loaded; probing the
    # port first keeps a refused connection from costing a psycopg error each time.
    if not processes.port_open(settings.bind_host, settings.pglite_port):
        return False
    try:
        return timescale_version(settings) is not None
    except psycopg.Error:
        return False


def stop(settings: Settings) -> bool:
    return processes.stop(_pidfile(settings), timeout=15)
