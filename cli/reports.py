"""`ioc reports build`: a leadership report for one period, by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from config.settings import get_settings

reports_app = typer.Typer(help="Leadership reports (PDF and HTML).", no_args_is_help=True)


@reports_app.command("build")
def build_report(
    period: Annotated[str, typer.Option(help="day | week | month")] = "day",
    on: Annotated[
        str,
        typer.Option(
            "--date", help="A local date in the period (YYYY-MM-DD); default: the last closed one"
        ),
    ] = "",
    out: Annotated[Path | None, typer.Option(help="Also write the PDF and HTML here")] = None,
    send: Annotated[bool, typer.Option(help="Mail it to reports.yaml's recipients")] = False,
) -> None:
    """Build, archive (replacing this period's report) and optionally write and mail it."""
    from config.yaml_loader import ConfigErrors
    from processors.alerts.channels import channels_path, load_channels
    from processors.alerts.notify.base import DeliveryError
    from processors.reports import delivery
    from processors.reports.build import archive, build
    from processors.reports.config import load_reports_config
    from processors.reports.period import PERIODS, PeriodKind, last_closed, period_of
    from processors.reports.security import ConfigUnusable, load_security
    from store import reports as report_store
    from store.connect import connect

    if period not in PERIODS:
        raise typer.BadParameter(f"{period!r}: one of {', '.join(PERIODS)}", param_hint="--period")
    now = datetime.now(UTC)
    try:
        day = date.fromisoformat(on) if on else None
    except ValueError as error:
        raise typer.BadParameter(f"{on!r} is not a date YYYY-MM-DD", param_hint="--date") from error
    settings = get_settings()
    try:
        config = load_reports_config(settings.reports_file)
        security = load_security(settings.security_site, settings.agencies_file)
    except (ConfigErrors, ConfigUnusable) as error:
        # A file an operator edits: its line and problem, not a traceback.
        typer.echo(f"error: {'; '.join(str(error).splitlines())}", err=True)
        raise typer.Exit(2) from None
    kind: PeriodKind = period  # type: ignore[assignment]
    chosen = period_of(kind, day) if day else last_closed(kind, now)
    with connect(settings, autocommit=True) as conn:
        report = build(conn, chosen, config, now, security)
        with conn.transaction():
            report_id = archive(conn, report)
            if not send:
                report_store.mark_delivered(
                    conn, report_id, f"{report_store.NOT_SENT} built by hand without --send"
                )
        if send:
            smtp = delivery.mail_config(load_channels(channels_path(settings)), config)
            try:
                delivery.send(smtp, settings, config, chosen, report_id, report.pdf, now)
            except DeliveryError as error:
                report_store.mark_delivered(conn, report_id, str(error)[:500])
                typer.echo(f"error: not delivered: {error}", err=True)
                raise typer.Exit(1) from error
            report_store.mark_delivered(conn, report_id, None)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"bao-cao-{chosen.slug}.pdf").write_bytes(report.pdf)
        (out / f"bao-cao-{chosen.slug}.html").write_text(report.html, encoding="utf-8")
    where = f"; written to {out}" if out else ""
    typer.echo(
        f"report {report_id}: {chosen.kind} {chosen.first}..{chosen.last},"
        f" {len(report.pdf):,} bytes of PDF{where}{'; mailed' if send else ''}"
    )
