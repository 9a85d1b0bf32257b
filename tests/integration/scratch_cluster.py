"""A throwaway PostgreSQL cluster started with or without the TimescaleDB preload, for
the start-up checks of store/engine.py: a real server in each state a deployment can be
in, not a mocked probe. Superuser over its own unix socket (trust), on a free port."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from psycopg.conninfo import make_conninfo

from stack import layout, postgres
from tests.integration.harness import free_port


class ScratchCluster:
    def __init__(self) -> None:
        self.user = layout.service_user("postgres")
        # Not under pytest's tmp_path: the postgres user must be able to reach it.
        self.base = Path(tempfile.mkdtemp(prefix="ioc-scratch-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.running: subprocess.Popen[bytes] | None = None
        layout.ensure_dir(self.base, self.user, 0o700)
        self._run([str(postgres.bin_dir() / "initdb"), "-D", str(self.data), "-U", "postgres",
                   "--auth-local=trust", "--encoding=UTF8", "--locale=C.UTF-8"])  # fmt: skip

    def _run(self, argv: list[str]) -> None:
        subprocess.run(
            argv, check=True, capture_output=True, cwd=self.base, **layout.run_as(self.user)
        )

    def start(self, preload: bool) -> None:
        argv = [
            str(postgres.bin_dir() / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-k", str(self.base), "-c", "listen_addresses=", "-c", "fsync=off",
        ]  # fmt: skip
        if preload:
            argv += ["-c", "shared_preload_libraries=timescaledb"]
            argv += ["-c", "timescaledb.telemetry_level=off"]
        self.running = subprocess.Popen(
            argv, cwd=self.base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            **layout.run_as(self.user),
        )  # fmt: skip
        pg_isready = postgres.bin_dir() / "pg_isready"
        for _ in range(100):
            ready = subprocess.run(
                [str(pg_isready), "-h", str(self.base), "-p", str(self.port), "-t", "1"],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            subprocess.run(["sleep", "0.1"], check=True)
        raise RuntimeError("scratch PostgreSQL did not start")

    def stop(self) -> None:
        if self.running is not None:
            self.running.send_signal(signal.SIGINT)  # fast shutdown
            self.running.wait(30)
            self.running = None

    def dsn(self, dbname: str = "postgres") -> str:
        return make_conninfo(host=str(self.base), port=self.port, user="postgres", dbname=dbname)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
