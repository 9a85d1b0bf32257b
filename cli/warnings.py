"""`ioc warnings list|issue|cancel|test`: public CAP warnings by hand, on the server with
the database's own access (the API's /api/v1/warnings does the same for operators).
Who acted is recorded as cli:<os user>, with the reason given."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from config.settings import get_settings

warnings_app = typer.Typer(
    help="Public warnings (CAP feed): list, issue, cancel, test.", no_args_is_help=True
)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@warnings_app.command("list")
def list_(
    active: Annotated[bool, typer.Option("--active", help="Only warnings in force")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 30,
) -> None:
    """Issued messages, newest first (or the warnings in force with --active)."""
    from store import public_warnings as store
    from store.connect import connect

    with connect(get_settings(), autocommit=True) as conn:
        if active:
            rows = store.active_public_warnings(conn)[:limit]
        else:
            rows = store.list_messages(conn, limit=limit)
    table = Table("sent", "type", "status", "kind", "severity", "headline", "incident", "by")
    for row in rows:
        table.add_row(
            row["sent"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ"), row["msg_type"],
            row["status"], row["kind"], row["severity"], row["headline_vi"], row["incident"],
            row.get("issued_by") or "",
        )  # fmt: skip
    Console().print(table)


@warnings_app.command("issue")
def issue(
    headline_vi: Annotated[str, typer.Option("--headline-vi")],
    headline_en: Annotated[str, typer.Option("--headline-en")],
    description_vi: Annotated[str, typer.Option("--description-vi")],
    description_en: Annotated[str, typer.Option("--description-en")],
    instruction_vi: Annotated[str, typer.Option("--instruction-vi")],
    instruction_en: Annotated[str, typer.Option("--instruction-en")],
    area: Annotated[str, typer.Option("--area", help="Where, in words")],
    lat: Annotated[float, typer.Option("--lat", min=-89.9, max=89.9)],
    lon: Annotated[float, typer.Option("--lon", min=-180, max=180)],
    reason: Annotated[str, typer.Option("--reason", help="Recorded with the message")],
    radius_km: Annotated[float, typer.Option("--radius-km", min=0.1, max=200)] = 10,
    province: Annotated[str, typer.Option("--province")] = "",
    district: Annotated[str, typer.Option("--district")] = "",
    severity: Annotated[str, typer.Option("--severity")] = "Moderate",
    expires_hours: Annotated[float | None, typer.Option("--expires-hours")] = None,
    incident: Annotated[
        str | None, typer.Option("--update", help="Update this incident (issued by hand)")
    ] = None,
) -> None:
    """Issue a warning by hand (or --update one issued by hand)."""
    from processors.alerts.exports.cap import CapError
    from processors.alerts.public import issuer
    from processors.alerts.public.compose import ManualWarning
    from processors.alerts.public.message import Area
    from store.connect import connect

    if severity not in ("Extreme", "Severe", "Moderate", "Minor"):
        raise typer.BadParameter("Extreme, Severe, Moderate or Minor", param_hint="--severity")
    settings = get_settings()
    try:
        warning = ManualWarning(
            headline_vi, headline_en, description_vi, description_en, instruction_vi,
            instruction_en, Area(area, lat, lon, radius_km), severity, None, expires_hours,
        )  # fmt: skip
        with connect(settings) as conn, conn.transaction():
            issued = issuer.issue_manual(
                conn, warning, province=province, district=district, reason=reason,
                user=_actor(), now=datetime.now(UTC), sender=settings.cap_sender,
                key=issuer.signing_key(settings), incident=incident,
            )  # fmt: skip
    except (CapError, LookupError, ValueError) as error:
        typer.echo(f"not issued: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{issued.message.msg_type} {issued.message.identifier}")


@warnings_app.command("cancel")
def cancel(
    incident: Annotated[str, typer.Argument(help="The incident (its first message's id)")],
    reason: Annotated[str, typer.Option("--reason", help="Recorded with the Cancel")],
) -> None:
    """Cancel a warning (issued by hand or made from an alert), with the reason."""
    from processors.alerts.exports.cap import CapError
    from processors.alerts.public import issuer
    from store.connect import connect

    settings = get_settings()
    try:
        with connect(settings) as conn, conn.transaction():
            issued = issuer.cancel_incident(
                conn, incident, reason=reason, user=_actor(), now=datetime.now(UTC),
                sender=settings.cap_sender, key=issuer.signing_key(settings),
            )  # fmt: skip
    except (CapError, LookupError, ValueError) as error:
        typer.echo(f"not cancelled: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Cancel {issued.message.identifier}")


@warnings_app.command("test")
def test() -> None:
    """Send a Test message (<status>Test</status>) to the feed."""
    from processors.alerts.public import issuer
    from store.connect import connect

    settings = get_settings()
    with connect(settings) as conn, conn.transaction():
        issued = issuer.issue_test(
            conn, user=_actor(), now=datetime.now(UTC), sender=settings.cap_sender,
            key=issuer.signing_key(settings),
        )  # fmt: skip
    typer.echo(f"Test {issued.message.identifier}")
