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
    """Validate rule packs; prints file:line: field: message per problem, exit 1 if any.
    Without paths, the camera registry and camera rule pack of the settings too."""
    from processors.environment.engine import RuleBook, RuleErrors

    problems: list[str] = []
    try:
        book = RuleBook.load(paths or None)
    except RuleErrors as errors:
        problems += [str(error) for error in errors.errors]
        book = None
    cameras = None if paths else _check_cameras(problems)
    if problems:
        for problem in problems:
            typer.echo(problem)
        typer.echo(f"{_plural(len(problems), 'problem')} found", err=True)
        raise typer.Exit(1) from None
    assert book is not None
    kinds = ", ".join(f"{kind} {n}" for kind, n in book.counts().items())
    counted = _plural(len(book.rules), "rule"), _plural(len(book.files), "file")
    typer.echo(f"ok: {counted[0]} in {counted[1]} ({kinds})")
    if cameras:
        typer.echo(f"ok: {cameras}")


def _check_cameras(problems: list[str]) -> str | None:
    """The camera registry and rule pack (processors/cameras/): a summary, or None with
    their problems added."""
    from config.settings import get_settings
    from config.yaml_loader import ConfigErrors
    from processors.cameras import load_camera_detectors
    from processors.cameras.records import CameraRecordSink
    from processors.cameras.registry import load_registry

    settings = get_settings()
    try:
        detectors = load_camera_detectors(settings.camera_registry, settings.camera_rules)
        registry = load_registry(settings.camera_registry)
        CameraRecordSink.load(registry=settings.camera_registry)  # plate_watch.yaml
    except ConfigErrors as errors:
        problems += [str(error) for error in errors.errors]
        return None
    lines = sum(len(c.lines) for c in registry.cameras.values())
    return (
        f"{_plural(len(registry.cameras), 'camera')}, {_plural(lines, 'counting line')},"
        f" {_plural(len(registry.segments), 'segment')}, {_plural(len(detectors), 'camera rule')}"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
