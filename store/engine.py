"""Which engine the store runs on. Code above the store never asks; migrations and
maintenance do, because TimescaleDB and plain PostgreSQL get the same surface by
different means."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import psycopg


class Engine(StrEnum):
    TIMESCALE = "timescaledb"
    POSTGRES = "postgresql"


@dataclass(frozen=True)
class EngineInfo:
    engine: Engine
    server_version: str
    timescale_version: str | None


def detect(conn: psycopg.Connection) -> EngineInfo:
    """TimescaleDB when its extension is installed or installable, else plain PostgreSQL."""
    server_version = conn.execute("SHOW server_version").fetchone()[0]
    row = conn.execute(
        "SELECT installed_version, default_version FROM pg_available_extensions"
        " WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        return EngineInfo(Engine.POSTGRES, server_version, None)
    installed, default = row
    return EngineInfo(Engine.TIMESCALE, server_version, installed or default)
