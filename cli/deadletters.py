"""`ioc deadletters …`: find rejected messages, read why, replay them after a fix.

Runs on the server with the database's own access, so it sees every letter (the API
narrows integrators to equipment letters). Replays go through ingest/replay.py, the
same engine as `POST /api/v1/dead-letters/replay`, recorded as `cli:<os user>`.
"""

from __future__ import annotations

import base64
import getpass
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from config.settings import get_settings

deadletters_app = typer.Typer(
    help="Dead letters: messages that could not be stored, and replaying them.",
    no_args_is_help=True,
)

MAX_REPLAY = 1000
# What a table shows of a reason or payload; `show` prints them whole.
REASON_CHARS = 90
_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Shown as \xNN: terminal controls (rich strips only BEL, BS, VT, FF and CR, not ESC, so a
# payload could otherwise drive the terminal) and bidirectional overrides.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

Transport = Annotated[str | None, typer.Option("--transport", help="mqtt, kafka or http")]
Topic = Annotated[str | None, typer.Option("--topic", help="Exact topic")]
TopicPrefix = Annotated[str | None, typer.Option("--topic-prefix", help="Topic starts with")]
Reason = Annotated[str | None, typer.Option("--reason", help="Reason contains (any case)")]
Since = Annotated[
    str | None, typer.Option("--since", help="Received at or after: ISO time with offset, or 2h")
]
Until = Annotated[str | None, typer.Option("--until", help="Received before (as --since)")]


def instant(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time with its offset, or a duration ago (30m, 2h, 7d)."""
    if text is None:
        return None
    from events.bounds import bounded_instant

    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: amount})
    try:
        return bounded_instant(datetime.fromisoformat(text))
    except ValueError as error:
        raise typer.BadParameter(
            f"{error}; e.g. 2026-11-24T08:00:00+07:00 or 2h", param_hint=option
        ) from None


def _filters(
    transport: str | None,
    topic: str | None,
    topic_prefix: str | None,
    reason: str | None,
    since: str | None,
    until: str | None,
    resolved: bool | None,
) -> Any:
    from store.dead_letters import Filters

    if transport is not None and transport not in ("mqtt", "kafka", "http"):
        raise typer.BadParameter("mqtt, kafka or http", param_hint="--transport")
    return Filters(
        transport, topic, topic_prefix, reason,
        instant(since, "--since"), instant(until, "--until"), resolved,
    )  # fmt: skip


def safe(text: str) -> str:
    """Letter text (topic, reason, payload) for a terminal: controls made visible, and
    rich markup escaped."""
    return escape(_UNSAFE.sub(_visible, text))


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"


@deadletters_app.command("list")
def list_letters(
    transport: Transport = None,
    topic: Topic = None,
    topic_prefix: TopicPrefix = None,
    reason: Reason = None,
    since: Since = None,
    until: Until = None,
    resolved: Annotated[
        bool | None,
        typer.Option("--resolved/--unresolved", help="Only letters a replay stored / not"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
) -> None:
    """Newest first, as a table."""
    from store.connect import connect
    from store.dead_letters import Scope, page

    filters = _filters(transport, topic, topic_prefix, reason, since, until, resolved)
    with connect(get_settings()) as conn:
        rows = page(conn, filters, Scope.ALL, None, limit)
    table = Table(title=f"dead letters ({len(rows)} newest{' shown' if rows else ''})")
    for column in ("id", "received (UTC)", "transport", "topic", "bytes", "replays", "state"):
        table.add_column(column, no_wrap=column != "topic")
    table.add_column("reason")
    for row in rows:
        cut = " (cut)" if row["payload_size"] > row["stored_size"] else ""
        state = "resolved" if row["resolved_at"] else "open"
        table.add_row(
            row["id"], _when(row["received_at"]), row["transport"], safe(row["topic"]),
            f"{row['payload_size']}{cut}", str(row["replay_count"]), state,
            safe(_cut(row["reason"], REASON_CHARS)),
        )  # fmt: skip
    Console().print(table)


@deadletters_app.command("show")
def show(
    letter_id: Annotated[str, typer.Argument(metavar="ID")],
    raw: Annotated[bool, typer.Option("--raw", help="Write the kept bytes to stdout")] = False,
) -> None:
    """One letter: where it came from, why, its bytes, the replays it took part in."""
    from store.connect import connect
    from store.dead_letters import Scope, get, replays_of

    with connect(get_settings()) as conn:
        row = get(conn, letter_id, Scope.ALL)
        replays = replays_of(conn, letter_id) if row else []
    if row is None:
        typer.echo(f"error: no dead letter {letter_id!r}", err=True)
        raise typer.Exit(1)
    payload = bytes(row["payload"])
    if raw:
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
        return
    console = Console()
    details = Table.grid(padding=(0, 2))
    details.add_column(style="bold")
    details.add_column()
    kept = row["stored_size"]
    size = f"{row['payload_size']} bytes" + (
        f", only the first {kept} kept: cannot be replayed" if row["payload_size"] > kept else ""
    )
    position = (
        f"partition {row['kafka_partition']}, offset {row['kafka_offset']}"
        if row["kafka_offset"] is not None
        else ""
    )
    resolved = (
        f"{_when(row['resolved_at'])} by replay {row['resolved_by_replay']}"
        if row["resolved_at"]
        else "no"
    )
    for label, value in (
        ("id", row["id"]), ("received", _when(row["received_at"])),
        ("transport", row["transport"]), ("topic", row["topic"]), ("kafka", position),
        ("format", row["format"] or "(none: no route)"), ("reason", row["reason"]),
        ("size", size), ("sha256", row["payload_sha256"]),
        ("replays", f"{row['replay_count']} (last {_when(row['last_replayed_at']) or 'never'})"),
        ("resolved", resolved),
    ):  # fmt: skip
        if value:
            details.add_row(label, safe(str(value)))
    console.print(details)
    try:
        console.rule("payload (UTF-8)")
        console.print(safe(payload.decode("utf-8")), highlight=False)
    except UnicodeDecodeError:
        console.rule("payload (not UTF-8: base64; --raw for the bytes)")
        console.print(base64.b64encode(payload).decode(), highlight=False)
    if replays:
        console.rule("replays")
        table = Table("replay", "by", "at (UTC)", "outcome", "reason")
        for r in replays:
            table.add_row(
                str(r["replay_id"]), safe(r["requested_by"]), _when(r["requested_at"]),
                r["outcome"], safe(r["reason"] or ""),
            )  # fmt: skip
        console.print(table)


@deadletters_app.command("replay")
def replay_letters(
    ids: Annotated[list[str] | None, typer.Argument(metavar="[ID]...")] = None,
    transport: Transport = None,
    topic: Topic = None,
    topic_prefix: TopicPrefix = None,
    reason: Reason = None,
    since: Since = None,
    until: Until = None,
    include_resolved: Annotated[
        bool, typer.Option("--include-resolved", help="Filters take resolved letters too")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_REPLAY)] = MAX_REPLAY,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
) -> None:
    """Replay letters (by id, or those the filters select) with today's routes file.

    What decodes is stored and resolved; the rest keeps its new reason."""
    from ingest.replay import ReplayConfigError, replay
    from store.connect import connect
    from store.dead_letters import Scope, select_ids, visible_ids

    by_filter = any(v is not None for v in (transport, topic, topic_prefix, reason, since, until))
    if bool(ids) == by_filter:
        typer.echo("error: give dead letter ids or filters (--topic, --reason, …)", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    with connect(settings) as conn:
        if ids:
            chosen = visible_ids(conn, ids, Scope.ALL)
            unknown = sorted(set(ids) - set(chosen))
            if unknown:
                typer.echo(f"error: no dead letter {', '.join(unknown[:10])}", err=True)
                raise typer.Exit(1)
            selection: dict[str, Any] = {"ids": list(dict.fromkeys(ids))}
        else:
            resolved = None if include_resolved else False
            filters = _filters(transport, topic, topic_prefix, reason, since, until, resolved)
            chosen = select_ids(conn, filters, Scope.ALL, limit + 1)
            if len(chosen) > limit:
                typer.echo(
                    f"error: the filters select more than {limit} dead letters;"
                    " narrow them (--since/--until) or raise --limit", err=True,
                )  # fmt: skip
                raise typer.Exit(2)
            selection = {"filter": filters.as_json(), "limit": limit}
    if not chosen:
        typer.echo("nothing to replay: no dead letter matches")
        return
    if not yes and not typer.confirm(f"replay {len(chosen)} dead letter(s)?"):
        raise typer.Exit(1)
    actor = f"cli:{getpass.getuser()}"
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, transient=True) as progress:
            task = progress.add_task("replay", total=len(chosen))
            report = replay(
                settings, chosen, actor=actor, selection=selection,
                progress=lambda done, _total: progress.update(task, completed=done),
            )  # fmt: skip
    except ReplayConfigError as error:
        typer.echo(f"error: nothing replayed: the configuration does not load: {error}", err=True)
        raise typer.Exit(1) from None
    _print_report(report)


def _print_report(report: Any) -> None:
    console = Console()
    failing = [i for i in report.items if i.outcome != "stored"]
    console.print(
        f"replay {report.replay_id}: {report.selected} selected, {report.stored} stored,"
        f" {report.still_failing} still failing"
    )
    if failing:
        table = Table("dead letter", "still failing because")
        for item in failing[:200]:
            table.add_row(item.dead_letter_id, safe(_cut(item.reason or "", 160)))
        console.print(table)
        if len(failing) > 200:
            console.print(f"… and {len(failing) - 200} more (ioc deadletters list --unresolved)")
