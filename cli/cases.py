"""`ioc cases …`: CSIRT cases from the command line (the API is the main way in)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from config.settings import get_settings

cases_app = typer.Typer(help="CSIRT cases: list them, run the grouping job.", no_args_is_help=True)

STATUSES = ("open", "new", "investigating", "contained", "closed")


@cases_app.command("list")
def list_cases(
    status: Annotated[str, typer.Option(help="open (not closed), new, investigating, …")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """Cases as JSON lines, newest change first."""
    from store.cases import list_cases as rows
    from store.connect import connect

    if status not in STATUSES:
        typer.echo(f"error: status must be one of {', '.join(STATUSES)}", err=True)
        raise typer.Exit(2)
    statuses = ["new", "investigating", "contained"] if status == "open" else [status]
    with connect(get_settings(), autocommit=True) as conn:
        for row in rows(conn, statuses=statuses, limit=limit):
            shown = {
                k: row[k]
                for k in ("id", "title", "severity", "status", "tlp", "shared", "assignee",
                          "alert_count", "created", "updated")
            }  # fmt: skip
            typer.echo(json.dumps(shown, ensure_ascii=False, default=str))


@cases_app.command("group")
def group() -> None:
    """Run the alert service's grouping job once now; prints how many alerts went into
    cases (0 while an alert service runs it: it takes the job's lock)."""
    from processors.cases.job import JOB, CaseGroupingJob
    from processors.jobs.base import run_exclusive
    from store.connect import connect

    job = CaseGroupingJob()
    with connect(get_settings(), autocommit=True) as conn:
        grouped = run_exclusive(conn, JOB, job, datetime.now(UTC))
    typer.echo(f"{grouped or 0} alert(s) put into cases")
