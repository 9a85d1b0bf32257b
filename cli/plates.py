"""`ioc plates audit`: the access record of plate data (store/plate_audit.py): who
searched which plate, read or changed the watch list, or downloaded a camera picture.

Runs on the server with the database's own access, like `ioc watchlist`; the API's
`GET /api/v1/plates/access-log` gives admins the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, get_args

import orjson
import typer
from rich.console import Console
from rich.table import Table

from cli.deadletters import instant, safe
from config.settings import get_settings

plates_app = typer.Typer(
    help="Plate data (personal data): the record of who accessed it.", no_args_is_help=True
)

DEFAULT_SPAN = timedelta(days=30)


@plates_app.command("audit")
def audit(
    actor: Annotated[
        str | None, typer.Option("--actor", help="api:<user> or cli:<os user>")
    ] = None,
    plate: Annotated[str | None, typer.Option("--plate", help="Any spelling")] = None,
    action: Annotated[
        str | None,
        typer.Option(
            "--action",
            help="search, watchlist_add, watchlist_remove, watchlist_read or snapshot",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="At or after: ISO time with offset, or 7d; default 30d"),
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before (as --since)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
) -> None:
    """Newest first, as a table."""
    from store.connect import connect
    from store.plate_audit import Action, LogFilter, page
    from store.plates import UnreadablePlate, plate_key

    if action is not None and action not in get_args(Action):
        raise typer.BadParameter(", ".join(get_args(Action)), param_hint="--action")
    try:
        norm = None if plate is None else plate_key(plate)
    except UnreadablePlate as error:
        raise typer.BadParameter(str(error), param_hint="--plate") from None
    end = instant(until, "--until") or datetime.now(UTC)
    start = instant(since, "--since") or end - DEFAULT_SPAN
    with connect(get_settings(), autocommit=True) as conn:
        rows = page(conn, LogFilter(start, end, actor, norm, action), None, limit)  # type: ignore[arg-type]
    table = Table(title=f"plate access record ({len(rows)} row{'' if len(rows) == 1 else 's'})")
    for column in ("at (UTC)", "actor", "role", "action", "plate"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail")
    for row in rows:
        table.add_row(
            f"{row['at'].astimezone(UTC):%Y-%m-%d %H:%M:%S}Z", safe(row["actor"]), row["role"],
            row["action"], row["plate_norm"] or "", safe(orjson.dumps(row["detail"]).decode()),
        )  # fmt: skip
    Console().print(table)
