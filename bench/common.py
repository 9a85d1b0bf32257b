"""Pieces the benchmarks share (imported by bench/ingest.py and bench/alerts.py, which
put the repository root on sys.path when run as scripts)."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from config.settings import REPO_ROOT


def telemetry_routes(path: Path, group: str) -> Path:
    """A routes file with the deployed limits and batching (deploy/ingest/routes.yaml), so
    the figures are those of the shipped configuration, routing only device telemetry,
    in a share group and consumer group of the bench's own."""
    config = yaml.safe_load((REPO_ROOT / "deploy" / "ingest" / "routes.yaml").read_text())
    config["mqtt"] = {
        "share_group": group,
        "routes": [{"filter": "ioc/v1/+/telemetry", "format": "ioc_telemetry"}],
    }
    config["kafka"] = {"group_id": group, "routes": []}
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
