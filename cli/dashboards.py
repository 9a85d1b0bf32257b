"""`ioc dashboards`: the Grafana dashboards as code (dashboards/). Each command is a plain
function registered on `dashboards_app`, so another command is one more line here."""

from __future__ import annotations

import typer

from cli.dashboards_publish import publish

dashboards_app = typer.Typer(
    help="Grafana dashboards: generate the committed JSON, check it.", no_args_is_help=True
)


@dashboards_app.command("build")
def build() -> None:
    """Write dashboards/json/<uid>.json from the generator (commit the result)."""
    from dashboards.generate import write_all

    for path in write_all():
        typer.echo(f"wrote {path}")


@dashboards_app.command("check")
def check() -> None:
    """Exit 1 with a diff summary when the committed JSON is not what the generator makes."""
    from dashboards.generate import JSON_DIR, differences

    problems = differences()
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        typer.echo(
            f"{len(problems)} dashboard file(s) out of date in {JSON_DIR};"
            " run `ioc dashboards build` and commit",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo("dashboards: committed JSON matches the generator")


# Pushing to a Grafana that already runs (owned beside dashboards/publish.py).
dashboards_app.command("publish")(publish)
