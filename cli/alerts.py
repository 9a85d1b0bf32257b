"""`ioc alerts run` (the alert service) and `ioc rules reload`."""

from __future__ import annotations

import getpass
import logging
import sys
from typing import Annotated

import typer

from cli.startup import engine_or_exit
from config.settings import get_settings
from store import rule_generation

alerts_app = typer.Typer(help="The alert service: notifications and timed checks.")


@alerts_app.callback()
def alerts() -> None:
    """Alert service commands."""


@alerts_app.command("run")
def run(
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Prometheus port; 0 = off")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Deliver outbox notifications and run the timed jobs (offline devices, hourly AQI
    and QCVN, re-notification) until SIGTERM."""
    from processors.service import run as run_service

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    port = settings.alerts_metrics_port if metrics_port is None else metrics_port
    engine_or_exit(settings, "alerts")
    sys.exit(run_service(settings, port))


def reload() -> None:
    """Check every rule pack, then tell running workers and alert services to load them.
    If any pack has a problem nothing is reloaded and the running rules stay in force."""
    from processors.catalog import load_detectors
    from processors.environment.engine import RuleErrors
    from store.connect import connect

    settings = get_settings()
    try:
        load_detectors(settings)
    except RuleErrors as errors:
        for error in errors.errors:
            typer.echo(str(error), err=True)
        typer.echo("nothing reloaded: the running rules stay in force", err=True)
        raise typer.Exit(1) from None
    except (ValueError, OSError) as error:
        typer.echo(f"{error}\nnothing reloaded: the running rules stay in force", err=True)
        raise typer.Exit(1) from None
    with connect(settings, autocommit=True) as conn:
        generation = rule_generation.announce(conn, getpass.getuser())
    typer.echo(f"rules valid; reload {generation} announced (workers pick it up within 5 s)")
