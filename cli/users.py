"""`ioc users …`: API accounts and their bearer tokens."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from config.settings import get_settings

users_app = typer.Typer(help="API users (bearer tokens) and their roles.", no_args_is_help=True)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Option("--name", help="Account name; shown as the actor")],
    role: Annotated[str, typer.Option("--role", help="admin, operator, csirt or viewer")],
) -> None:
    """Create a user; prints JSON with the token. The token is shown only this once."""
    from store.connect import connect
    from store.users import create_user

    try:
        with connect(get_settings()) as conn:
            user, token = create_user(conn, name, role)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(
        json.dumps({"name": user.name, "role": user.role.value, "token": token}, ensure_ascii=False)
    )


@users_app.command("list")
def users_list() -> None:
    """List users as JSON lines (never tokens: only their digests are kept)."""
    from store.connect import connect
    from store.users import list_users

    with connect(get_settings()) as conn:
        for user in list_users(conn):
            typer.echo(json.dumps(user, ensure_ascii=False, default=str))


@users_app.command("revoke")
def users_revoke(name: Annotated[str, typer.Option("--name")]) -> None:
    """Revoke a user's token at once; the name stays reserved."""
    from store.connect import connect
    from store.users import revoke_user

    with connect(get_settings()) as conn:
        revoked = revoke_user(conn, name)
    if not revoked:
        typer.echo(f"error: no active user named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"user {name} revoked")
