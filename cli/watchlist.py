"""`ioc watchlist …`: the plates whose reads raise a `camera.plate_watch` alert.

Runs on the server with the database's own access, like `ioc deadletters`; entries it
adds are recorded as added by `cli:<os user>`, and each add, remove and list leaves a
row of that actor in the access record of plate data (store/plate_audit.py; `ioc plates
audit` reads it), in the same transaction. Plates are kept under their normalised form
(processors/cameras/plates.py), so any spelling names the same entry.
"""

from __future__ import annotations

import getpass
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.deadletters import safe
from config.settings import get_settings

if TYPE_CHECKING:
    import psycopg

    from store.plate_audit import Action

watchlist_app = typer.Typer(
    help="The plate watch list (plates are personal data: keep reasons factual).",
    no_args_is_help=True,
)

MAX_PLATE = 32
MAX_REASON = 500
_DURATION = re.compile(r"(\d+)([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def expiry(text: str | None, now: datetime) -> datetime | None:
    """An ISO 8601 time with its offset, or a duration from now (12h, 30d, 8w); in the
    future."""
    if text is None:
        return None
    from events.bounds import bounded_instant

    duration = _DURATION.fullmatch(text.strip())
    try:
        if duration:
            amount, unit = int(duration.group(1)), _UNITS[duration.group(2)]
            when = bounded_instant(now + timedelta(**{unit: amount}))
        else:
            when = bounded_instant(datetime.fromisoformat(text))
    except (ValueError, OverflowError) as error:
        raise typer.BadParameter(
            f"{error}; e.g. 2026-12-31T23:59:00+07:00 or 30d", param_hint="--expires"
        ) from None
    if when <= now:
        raise typer.BadParameter("must lie in the future", param_hint="--expires")
    return when


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M}Z"


def _checked(text: str, name: str, limit: int) -> str:
    from events.bounds import storable_text

    text = text.strip()
    if not text or len(text) > limit:
        raise typer.BadParameter(f"1 to {limit} characters", param_hint=name)
    try:
        return storable_text(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=name) from None


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _record(
    conn: psycopg.Connection, action: Action, plate_norm: str | None, **detail: Any
) -> None:
    from store.plate_audit import CLI_ROLE, Access, record

    record(conn, Access(_actor(), CLI_ROLE, action, plate_norm, detail))


def _describe(entry: dict[str, Any]) -> str:
    until = f", until {_when(entry['expires_at'])}" if entry["expires_at"] else ""
    return f"{safe(entry['plate'])} (matched as {entry['plate_norm']}{until})"


@watchlist_app.command("add")
def add(
    plate: Annotated[str, typer.Argument(metavar="PLATE", help="Any spelling, e.g. 51F-123.45")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is watched (in the alert)")],
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="ISO time with offset, or a duration: 12h, 30d, 8w"),
    ] = None,
) -> None:
    """Watch a plate; a plate listed already (in any spelling) gets this entry instead."""
    from store.connect import connect
    from store.plates import UnreadablePlate, watch

    plate = _checked(plate, "PLATE", MAX_PLATE)
    reason = _checked(reason, "--reason", MAX_REASON)
    until = expiry(expires, datetime.now(UTC))
    try:
        with connect(get_settings()) as conn:  # one transaction, committed on leaving
            entry, created = watch(conn, plate, reason, _actor(), until)
            _record(
                conn, "watchlist_add", entry["plate_norm"], created=created, reason=reason,
                expires_at=until,
            )  # fmt: skip
    except UnreadablePlate as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    verb = "added" if created else "replaced the entry of"
    typer.echo(f"{verb} {_describe(entry)}")


@watchlist_app.command("remove")
def remove(plate: Annotated[str, typer.Argument(metavar="PLATE", help="Any spelling")]) -> None:
    """Stop watching a plate."""
    from store.connect import connect
    from store.plate_audit import removal
    from store.plates import UnreadablePlate, plate_key, unwatch

    plate = _checked(plate, "PLATE", MAX_PLATE)
    try:
        with connect(get_settings()) as conn:  # one transaction, committed on leaving
            entry = unwatch(conn, plate)
            _record(conn, "watchlist_remove", plate_key(plate), **removal(entry))
    except UnreadablePlate as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    if entry is None:
        typer.echo(f"error: {safe(plate)} is not on the watch list", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed {_describe(entry)}")


@watchlist_app.command("list")
def list_entries(
    active: Annotated[
        bool | None,
        typer.Option("--active/--expired", help="Only unexpired / only expired entries"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 1000,
) -> None:
    """The entries by normalised plate, as a table."""
    from store.connect import connect
    from store.plates import watch_page

    with connect(get_settings()) as conn:  # one transaction, committed on leaving
        rows = watch_page(conn, active, None, limit)
        _record(conn, "watchlist_read", None, list=True, active=active, results=len(rows))
    table = Table(title=f"watch list ({len(rows)} entr{'y' if len(rows) == 1 else 'ies'})")
    for column in ("plate", "matched as", "state", "added (UTC)", "by", "expires (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason")
    for row in rows:
        table.add_row(
            safe(row["plate"]), row["plate_norm"], "active" if row["active"] else "expired",
            _when(row["added_at"]), safe(row["added_by"] or ""), _when(row["expires_at"]),
            safe(row["reason"]),
        )  # fmt: skip
    Console().print(table)
