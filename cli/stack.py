"""`ioc stack …`: the local stack of services (see stack/supervisor.py)."""

from __future__ import annotations

from typing import Annotated

import psycopg
import typer
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from config.settings import Settings, get_settings

stack_app = typer.Typer(help="Local services: PostgreSQL, mosquitto, Tansu, workers.")
console = Console()


class _Progress:
    """One spinner line while a step runs, one ✓ line when it is done."""

    def __init__(self) -> None:
        self.spinner: Status | None = None

    def begin(self, step: str) -> None:
        self.spinner = console.status(f"{step}…")
        self.spinner.start()

    def end(self, step: str, detail: str) -> None:
        if self.spinner is not None:
            self.spinner.stop()
        console.print(f"[green]✓[/] {step:<14} {detail}")

    def fail(self) -> None:
        if self.spinner is not None:
            self.spinner.stop()


def _fail(progress: _Progress, error: Exception) -> typer.Exit:
    progress.fail()
    console.print(f"[red]✗ {error}[/]", highlight=False)
    return typer.Exit(1)


@stack_app.command("up")
def up(
    services_only: Annotated[
        bool, typer.Option("--services-only", help="Only the servers, no ingest worker or API")
    ] = False,
) -> None:
    """Start the stack (idempotent); returns when every part is healthy."""
    from stack.processes import StackError
    from stack.supervisor import up as stack_up

    settings = get_settings()
    progress = _Progress()
    console.print(f"stack in {settings.run_dir}")
    try:
        stack_up(settings, services_only, progress)
    except StackError as error:
        failure = _fail(progress, error)
        console.print("parts already started keep running: `ioc stack down` stops them")
        raise failure from error
    console.print(f"logs: {settings.run_dir / 'logs'}   status: ioc stack status")


@stack_app.command("down")
def down() -> None:
    """Stop every part of the stack, in reverse order."""
    from stack.processes import StackError
    from stack.supervisor import down as stack_down

    progress = _Progress()
    try:
        stack_down(get_settings(), progress)
    except StackError as error:
        raise _fail(progress, error) from error


@stack_app.command("status")
def status() -> None:
    """A table of the parts: pid, port, health. Exit 1 if a running part is unhealthy."""
    from stack.supervisor import status as stack_status

    table = Table("part", "pid", "port", "healthy")
    rows = stack_status(get_settings())
    for row in rows:
        health = {True: "[green]yes[/]", False: "[red]no[/]", None: "[dim]not running[/]"}
        table.add_row(row.name, str(row.pid or "-"), str(row.port or "-"), health[row.healthy])
    console.print(table)
    if any(row.healthy is False for row in rows):
        raise typer.Exit(1)


@stack_app.command("sync-accounts")
def sync_accounts() -> None:
    """Rewrite the broker's password file from the device registry and reload it."""
    from stack.supervisor import sync_mqtt_accounts

    console.print(sync_mqtt_accounts(get_settings()))


@stack_app.command("init")
def init() -> None:
    """One-shot production setup: migrations, MQTT password file, Kafka topics."""
    from stack.processes import StackError
    from stack.supervisor import init as stack_init

    progress = _Progress()
    try:
        stack_init(get_settings(), progress)
    except StackError as error:
        raise _fail(progress, error) from error


def _engine_line(settings: Settings) -> str:
    from store.connect import connect
    from store.engine import Engine, EngineError, current

    try:
        with connect(settings, autocommit=True) as conn:
            info = current(conn, settings.db_engine)
    except (EngineError, psycopg.Error) as error:
        return f"[red]{escape(str(error))}[/]"
    colour = "green" if info.engine is Engine.TIMESCALE else "yellow"
    return f"[bold {colour}]{info.describe()}[/]"


def masked(dsn: str) -> str:
    """The DSN with its password replaced: `ioc stack info` output lands in terminals,
    screen shares and tickets."""
    params = conninfo_to_dict(dsn)
    if params.get("password"):
        params["password"] = "***"
    return make_conninfo("", **params)


@stack_app.command("info")
def info(
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print the database password too.")
    ] = False,
) -> None:
    """Where to look: database DSN, a query to try, metrics and API URLs, logs."""
    settings = get_settings()
    host = settings.bind_host
    dsn = settings.dsn() if show_secrets else masked(settings.dsn())
    lines = [
        ("engine", _engine_line(settings)),
        ("database", dsn if show_secrets else f"{dsn}  (password: --show-secrets)"),
        ("query rows", "psql \"$(ioc db url)\" -c 'SELECT count(*) FROM measurements'"),
        ("metrics", f"http://{host}:{settings.metrics_port}/metrics"),
        ("api", f"http://{host}:{settings.api_port}/docs"),
        (
            "console",
            f"http://{host}:{settings.api_port}/console/"
            " (token: ioc users add --name N --role operator)",
        ),
        (
            "alerts",
            'psql "$(ioc db url)" -c \'SELECT status, severity, title_vi FROM alerts'
            " ORDER BY updated_at DESC LIMIT 20'",
        ),
        ("mqtt", f"{settings.mqtt_host}:{settings.mqtt_port} (ioc devices add … gives a login)"),
        ("kafka", settings.kafka_bootstrap),
        ("logs", str(settings.run_dir / "logs")),
    ]
    for label, value in lines:
        console.print(f"[bold]{label:<11}[/] {value}", highlight=False, soft_wrap=True)
