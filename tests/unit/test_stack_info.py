"""`ioc stack info` does not print the database password unless asked: its output lands
in terminals, screen shares and tickets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli.stack import masked

SECRET = "s3cret-Pa55word-for-this-test"


def _info(tmp_path: Path, *args: str) -> str:
    env = {
        **os.environ,
        "IOC_PG_PASSWORD": SECRET,
        "IOC_PG_PORT": "9",  # nothing listens: the engine line reports that and goes on
        "IOC_RUN_DIR": str(tmp_path),
        "COLUMNS": "300",
    }
    ioc = Path(sys.executable).with_name("ioc")
    done = subprocess.run(
        [str(ioc), "stack", "info", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_info_masks_the_password(tmp_path: Path) -> None:
    out = _info(tmp_path)
    assert SECRET not in out
    assert "password=***" in out and "--show-secrets" in out


def test_info_shows_it_when_asked(tmp_path: Path) -> None:
    assert f"password={SECRET}" in _info(tmp_path, "--show-secrets")


def test_masked_keeps_everything_else() -> None:
    dsn = "postgresql://ioc:pw%40x@db.example:5433/ioc?sslmode=require"
    shown = masked(dsn)
    assert "pw" not in shown
    for part in ("user=ioc", "password=***", "host=db.example", "port=5433", "sslmode=require"):
        assert part in shown
