"""`ioc rules …`: check alert rule packs before they are loaded (or reloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from cli.config_check import Report

rules_app = typer.Typer(help="Alert rule packs (YAML): check them.", no_args_is_help=True)


@rules_app.callback()
def rules() -> None:
    """Alert rule packs: processors/environment/rules/*.yaml by default."""


@rules_app.command("check")
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Rule files or folders of *.yaml (default: the shipped packs)"),
    ] = None,
) -> None:
    """Validate rule packs; prints file:line: field: message per problem, exit 1 if any.
    Without paths, every other file the services load at start or reload too: cameras,
    security site and agencies, detections and Sigma rules, TAXII, case grouping and
    playbooks."""
    from cli.config_check import Report, check_configuration, plural
    from config.settings import get_settings
    from processors.environment.engine import RuleBook, RuleErrors

    report = Report()
    try:
        book = RuleBook.load(paths or None)
        kinds = ", ".join(f"{kind} {n}" for kind, n in book.counts().items())
        counted = plural(len(book.rules), "rule"), plural(len(book.files), "file")
        report.summaries.append(f"{counted[0]} in {counted[1]} ({kinds})")
    except RuleErrors as errors:
        report.problems += [str(error) for error in errors.errors]
    if not paths:
        check_configuration(get_settings(), report)
    _print(report)


def _print(report: Report) -> None:
    from cli.config_check import plural

    for warning in report.warnings:
        typer.echo(f"warning: {warning}")
    if report.problems:
        # One file's problems can reach two groups (a site both read): each once.
        problems = list(dict.fromkeys(report.problems))
        for problem in problems:
            typer.echo(problem)
        typer.echo(f"{plural(len(problems), 'problem')} found", err=True)
        raise typer.Exit(1) from None
    for summary in report.summaries:
        typer.echo(f"ok: {summary}")
