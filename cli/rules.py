"""`ioc rules …`: check alert rule packs before they are loaded (or reloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    """Validate rule packs; prints file:line: field: message per problem, exit 1 if any."""
    from processors.environment.engine import RuleBook, RuleErrors

    try:
        book = RuleBook.load(paths or None)
    except RuleErrors as errors:
        for error in errors.errors:
            typer.echo(str(error))
        typer.echo(f"{_plural(len(errors.errors), 'problem')} found", err=True)
        raise typer.Exit(1) from None
    kinds = ", ".join(f"{kind} {n}" for kind, n in book.counts().items())
    counted = _plural(len(book.rules), "rule"), _plural(len(book.files), "file")
    typer.echo(f"ok: {counted[0]} in {counted[1]} ({kinds})")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
