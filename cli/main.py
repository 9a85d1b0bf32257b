"""The `ioc` command."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from cli.alerts import alerts_app, reload
from cli.cases import cases_app
from cli.dashboards import dashboards_app
from cli.deadletters import deadletters_app
from cli.devices import devices_app
from cli.epidemics import epidemics_app
from cli.plates import plates_app
from cli.reports import reports_app
from cli.rules import rules_app
from cli.simulate import simulate
from cli.stack import stack_app
from cli.startup import engine_or_exit
from cli.taxii import taxii_app
from cli.users import users_app
from cli.warnings import warnings_app
from cli.watchlist import watchlist_app
from config.settings import get_settings

app = typer.Typer(help="IOC/SOC data aggregation core.", no_args_is_help=True)
db_app = typer.Typer(help="Database: DSN, engine, migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(devices_app, name="devices")


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@db_app.command("url")
def db_url() -> None:
    """Print the DSN of the running stack."""
    typer.echo(get_settings().dsn())


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations (idempotent). The first run decides the engine."""
    from store.connect import connect
    from store.engine import EngineError
    from store.migrate import migrate

    settings = get_settings()
    try:
        with connect(settings, autocommit=True) as conn:
            report = migrate(conn, settings.db_engine)
    except EngineError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(3) from error
    decided = " (decided now, recorded in schema_engine)" if report.decided_now else ""
    typer.echo(
        f"ENGINE: {report.engine.describe()}{decided}; applied: {report.applied or 'nothing'};"
        f" schema version {report.version}"
    )


@db_app.command("info")
def db_info() -> None:
    """The engine the schema was made on (checked against the server) and its version."""
    from store.connect import connect
    from store.engine import Engine, EngineError, current
    from store.migrate import current_version

    settings = get_settings()
    try:
        with connect(settings, autocommit=True) as conn:
            info = current(conn, settings.db_engine)
            version = current_version(conn)
    except EngineError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(3) from error
    how = (
        "hypertables, continuous aggregates, compression and retention policies"
        if info.engine is Engine.TIMESCALE
        else "BRIN indexes, service-kept rollups and retention"
    )
    since = f"{info.decided_at:%Y-%m-%d %H:%M %Z}" if info.decided_at else "?"
    typer.echo(
        f"ENGINE: {info.describe()}: {how}; engine decided {since}; schema version {version}"
    )


@db_app.command("grant-reader")
def db_grant_reader(
    name: Annotated[str, typer.Option("--name", help="The login to create or update")] = (
        "grafana_reader"
    ),
    password_env: Annotated[
        str, typer.Option("--password-env", help="Environment variable holding its password")
    ] = "GRAFANA_PG_PASSWORD",
) -> None:
    """Create or update a read-only login in ioc_dashboard_reader (Grafana's; idempotent).
    The password is read from the environment, never from the command line."""
    import os

    import psycopg

    from store.connect import connect
    from store.db_roles import RoleError, ensure_reader_login

    password = os.environ.get(password_env, "")
    if not password:
        typer.echo(f"error: set {password_env} to the login's password", err=True)
        raise typer.Exit(2)
    try:
        with connect(get_settings(), autocommit=True) as conn:
            result = ensure_reader_login(conn, password, name)
    except RoleError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(3) from error
    except psycopg.OperationalError as error:
        typer.echo(f"error: cannot reach the database: {error}", err=True)
        raise typer.Exit(1) from error
    verb = "created" if result.created else "updated (password and membership re-set)"
    typer.echo(f"login {result.name}: {verb}; member of ioc_dashboard_reader")


@app.command("ingest")
def ingest(
    source: Annotated[
        list[str] | None, typer.Option("--source", help="mqtt and/or kafka (default both)")
    ] = None,
    worker_id: Annotated[
        str, typer.Option("--worker-id", help="Stable per worker: names its MQTT session")
    ] = "1",
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Prometheus port; 0 = off")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    detect: Annotated[
        bool,
        typer.Option(
            "--detect/--no-detect",
            help="Run the detectors and alert manager in each batch's transaction",
        ),
    ] = True,
) -> None:
    """Run an ingest worker until SIGTERM (which flushes the current batch)."""
    from ingest.runner import SOURCES, run

    _logging(log_level)
    settings = get_settings()
    chosen = source or list(SOURCES)
    unknown = set(chosen) - set(SOURCES)
    if unknown:
        typer.echo(f"error: unknown source {sorted(unknown)}; use {SOURCES}", err=True)
        raise typer.Exit(2)
    port = settings.metrics_port if metrics_port is None else metrics_port
    engine_or_exit(settings, "ingest")
    sys.exit(run(settings, chosen, worker_id, port, detect=detect))


@app.command("forget-worker")
def forget_worker(
    worker_id: Annotated[str, typer.Option("--worker-id", help="The retired worker's id")],
) -> None:
    """Delete a retired MQTT worker's broker session so the share group stops queuing
    messages for it. Only for a worker that will not come back: its unacknowledged
    messages go with the session."""
    from config.secrets import MQTT_INGEST_USER, load_secrets
    from ingest.transports.mqtt import forget_session

    settings = get_settings()
    password = load_secrets(settings, create=False).mqtt_ingest_password
    forget_session(
        settings.mqtt_host, settings.mqtt_port, MQTT_INGEST_USER, password,
        f"ioc-ingest-{worker_id}",
    )  # fmt: skip
    typer.echo(f"session ioc-ingest-{worker_id} deleted")


@app.command("api")
def api(
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    settings = get_settings()
    engine_or_exit(settings, "api")
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.bind_host,
        port=port or settings.api_port,
        workers=settings.api_workers,
        log_level="info",
        proxy_headers=bool(settings.api_trusted_proxies),
        forwarded_allow_ips=settings.api_trusted_proxies or None,
    )


app.add_typer(stack_app, name="stack")
app.command("simulate")(simulate)
rules_app.command("reload")(reload)
app.add_typer(rules_app, name="rules")
app.add_typer(alerts_app, name="alerts")
app.add_typer(users_app, name="users")
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(watchlist_app, name="watchlist")
app.add_typer(plates_app, name="plates")
app.add_typer(epidemics_app, name="epidemics")
app.add_typer(warnings_app, name="warnings")
app.add_typer(reports_app, name="reports")
app.add_typer(taxii_app, name="taxii")
app.add_typer(cases_app, name="cases")
