"""`ioc dashboards publish`: the dashboards into a Grafana that already runs (see
dashboards/publish.py). Registered on the `ioc dashboards` group in cli/dashboards.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from config.settings import get_settings

PARTS_HELP = "datasource, folder, dashboards, playlist (repeat; default all)"


def publish(
    url: Annotated[
        str, typer.Option("--url", help="Grafana's base URL, e.g. https://grafana:3000")
    ],
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="GRAFANA_TOKEN", help="Service account token (Admin role)"),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Basic auth user instead of a token")
    ] = None,
    password_env: Annotated[
        str, typer.Option("--password-env", help="Variable holding --user's password")
    ] = "GRAFANA_ADMIN_PASSWORD",
    reader_password_env: Annotated[
        str,
        typer.Option("--reader-password-env", help="Variable holding grafana_reader's password"),
    ] = "GRAFANA_PG_PASSWORD",
    db_host: Annotated[
        str | None,
        typer.Option("--db-host", help="host:port of PostgreSQL as Grafana reaches it"),
    ] = None,
    db_name: Annotated[str | None, typer.Option("--db-name")] = None,
    db_user: Annotated[str, typer.Option("--db-user")] = "grafana_reader",
    db_sslmode: Annotated[str, typer.Option("--db-sslmode")] = "require",
    only: Annotated[list[str] | None, typer.Option("--only", help=PARTS_HELP)] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source", help="The repository's dashboards/ directory (json/, provisioning/)"
        ),
    ] = None,
    update_password: Annotated[
        bool,
        typer.Option(
            "--update-password", help="Send the reader's password even if nothing else changed"
        ),
    ] = False,
) -> None:
    """Push data source, folder, dashboards and the wall's playlist through Grafana's HTTP
    API. Idempotent: reads first, writes only what differs; prints one line per object."""
    from dashboards import publish as pub

    parts = only or list(pub.PARTS)
    unknown = sorted(set(parts) - set(pub.PARTS))
    if unknown:
        _fail(f"--only {', '.join(unknown)}: choose from {', '.join(pub.PARTS)}", 2)
    credential = _credential(token, user, password_env)
    reader_password = os.environ.get(reader_password_env, "")
    if "datasource" in parts and not reader_password:
        _fail(f"set {reader_password_env} to grafana_reader's database password", 2)
    settings = get_settings()
    connection = pub.Connection(
        host=db_host or f"{settings.pg_host}:{settings.pg_port}",
        database=db_name or settings.pg_database,
        user=db_user,
        password=reader_password,
        sslmode=db_sslmode,
    )
    try:
        bundle = pub.load_bundle(connection, source or pub.SOURCE)
        changes = pub.publish(pub.connect(url, credential), bundle, parts, update_password)
    except pub.PublishError as error:
        _fail(str(error), error.exit_code)
    for line in pub.report(changes):
        typer.echo(line)


def _credential(token: str | None, user: str | None, password_env: str) -> str | tuple[str, str]:
    if token and user:
        _fail("give --token or --user, not both", 2)
    if token:
        return token
    if user:
        password = os.environ.get(password_env, "")
        if not password:
            _fail(f"set {password_env} to {user}'s Grafana password", 2)
        return (user, password)
    _fail("give --token (or GRAFANA_TOKEN) or --user with --password-env", 2)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
