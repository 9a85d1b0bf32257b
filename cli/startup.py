"""What every long-running component checks before it starts."""

from __future__ import annotations

import logging
import time

import psycopg
import typer

from config.settings import Settings
from store.connect import connect
from store.engine import EngineError, EngineInfo, current

log = logging.getLogger(__name__)
# Under docker-compose a service may start while PostgreSQL is still coming up.
DATABASE_WAIT_SECONDS = 60.0


def engine_or_exit(settings: Settings, component: str) -> EngineInfo:
    """The schema's recorded engine, checked against the server; on a mismatch the
    component does not start (exit 3) and says what to do."""
    deadline = time.monotonic() + DATABASE_WAIT_SECONDS
    while True:
        try:
            with connect(settings, autocommit=True) as conn:
                info = current(conn, settings.db_engine)
            log.info("%s: storage engine %s", component, info.describe())
            return info
        except EngineError as error:
            typer.echo(f"{component}: not starting: {error}", err=True)
            raise typer.Exit(3) from error
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                typer.echo(f"{component}: database unreachable: {error}", err=True)
                raise typer.Exit(3) from error
            time.sleep(2)
