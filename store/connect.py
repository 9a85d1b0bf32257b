"""Opening database connections from settings."""

from __future__ import annotations

import psycopg

from config.settings import Settings


def connect(settings: Settings, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(settings.dsn(), autocommit=autocommit, application_name="ioc")
