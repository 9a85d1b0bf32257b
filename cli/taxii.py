"""`ioc taxii …`: the TAXII 2.1 server's consumers and collections, and pulls."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from config.settings import get_settings

taxii_app = typer.Typer(help="TAXII 2.1: consumers, collections, pulls.", no_args_is_help=True)
consumers_app = typer.Typer(help="Who may read the TAXII server.", no_args_is_help=True)
collections_app = typer.Typer(help="What the TAXII server offers.", no_args_is_help=True)
taxii_app.add_typer(consumers_app, name="consumers")
taxii_app.add_typer(collections_app, name="collections")


def _fail(error: Exception, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code)


def _echo(row: dict[str, object]) -> None:
    typer.echo(json.dumps(row, ensure_ascii=False, default=str))


@consumers_app.command("add")
def consumers_add(
    name: Annotated[str, typer.Option("--name", help="The consumer's login (HTTP Basic user)")],
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", help="Alias it may read (repeat); none: every collection"),
    ] = None,
) -> None:
    """Create a consumer; prints JSON with its secret, shown only this once."""
    from store.connect import connect
    from store.taxii import add_consumer

    try:
        with connect(get_settings()) as conn:
            consumer, secret = add_consumer(conn, name, collection)
    except ValueError as error:
        raise _fail(error) from error
    collections = sorted(consumer.collections) if consumer.collections else "all"
    _echo({"name": consumer.name, "collections": collections, "secret": secret})


@consumers_app.command("list")
def consumers_list() -> None:
    """Consumers as JSON lines (never secrets: only their digests are kept)."""
    from store.connect import connect
    from store.taxii import list_consumers

    with connect(get_settings()) as conn:
        for row in list_consumers(conn):
            _echo(row)


@consumers_app.command("revoke")
def consumers_revoke(name: Annotated[str, typer.Option("--name")]) -> None:
    """Revoke a consumer's secret at once; the name stays reserved."""
    from store.connect import connect
    from store.taxii import revoke_consumer

    with connect(get_settings()) as conn:
        if not revoke_consumer(conn, name):
            raise _fail(ValueError(f"no active consumer named {name!r}"), 1)
    _echo({"name": name, "revoked": True})


@collections_app.command("list")
def collections_list() -> None:
    """Collections as JSON lines."""
    from store.connect import connect
    from store.taxii import list_collections

    with connect(get_settings()) as conn:
        for found in list_collections(conn):
            _echo(
                {"id": found.id, "alias": found.alias, "title": found.title,
                 "tlp_ceiling": found.tlp_ceiling}
            )  # fmt: skip


@collections_app.command("add")
def collections_add(
    alias: Annotated[str, typer.Option("--alias")],
    title: Annotated[str, typer.Option("--title")],
    tlp_ceiling: Annotated[
        str, typer.Option("--tlp-ceiling", help="clear, green, amber, amber+strict or red")
    ],
    description: Annotated[str, typer.Option("--description")] = "",
) -> None:
    """A collection: cases whose TLP is above its ceiling never appear in it."""
    from processors.taxii import tlp
    from store.connect import connect
    from store.taxii import add_collection

    try:
        level = tlp.level(tlp_ceiling)
        with connect(get_settings()) as conn:
            found = add_collection(conn, alias, title, level, description)
    except ValueError as error:
        raise _fail(error) from error
    _echo({"id": found.id, "alias": found.alias, "tlp_ceiling": found.tlp_ceiling})


@taxii_app.command("pull")
def pull_now(
    source: Annotated[str | None, typer.Option("--source", help="One source of taxii.yaml")] = None,
) -> None:
    """Pull the configured sources now (all, or one), whatever their interval."""
    from config.yaml_loader import ConfigErrors
    from processors.jobs.taxii import pull_source
    from processors.taxii.config import config_path, load_config
    from store.connect import connect

    settings = get_settings()
    try:
        config = load_config(config_path(settings))
    except ConfigErrors as error:
        raise _fail(error) from error
    sources = [s for s in config.pull if source in (None, s.name)]
    if not sources:
        raise _fail(ValueError(f"no pull source {source or ''} in {config_path(settings)}"), 1)
    failed = 0
    with connect(settings) as conn:
        for item in sources:
            result = pull_source(conn, settings, item, datetime.now(UTC))
            failed += result is None
            _echo(
                {"source": item.name, "ok": result is not None}
                | ({"indicators": result.indicators, "problems": result.problems,
                    "changed": result.changed, "file": str(result.path)} if result else {})
            )  # fmt: skip
    if failed:
        raise typer.Exit(1)


@taxii_app.command("publish")
def publish_now() -> None:
    """Publish the shared cases now (the server also does before every read)."""
    from processors.alerts.exports.stix import soc_identity
    from processors.taxii.publish import sync
    from store.connect import connect

    settings = get_settings()
    with connect(settings) as conn:
        report = sync(conn, soc_identity(settings.soc_name, settings.soc_province))
    _echo({"published": report.published, "withdrawn": report.withdrawn, "busy": report.busy})
