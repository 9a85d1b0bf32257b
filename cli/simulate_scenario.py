"""`ioc simulate --scenario S [--speed X] [--seed N] [--start T] [--verify|--dump F|--dry-run]`."""

from __future__ import annotations

import secrets
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import typer

from config.yaml_loader import ConfigErrors

if TYPE_CHECKING:
    from simulators.scenario import Scenario
    from simulators.timeline import Cast, Timed


# Readings are refused more than a day ahead (events/models.py); keep an hour's margin.
MAX_AHEAD_S = 23 * 3600


def _start(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("an ISO 8601 time", param_hint="--start") from None
    if when.tzinfo is None:
        raise typer.BadParameter("give a UTC offset, e.g. +07:00", param_hint="--start")
    return when.timestamp()


def _now() -> float:
    # Milliseconds: the readings' timestamps carry no finer part.
    return round(datetime.now(UTC).timestamp(), 3)


def _write(lines: list[bytes], target: str) -> None:
    if target == "-":
        for line in lines:
            sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
        return
    Path(target).write_bytes(b"".join(lines))


def run_scenario(
    name: str,
    speed: float,
    seed: int | None,
    verify: bool,
    start_text: str | None,
    dump: str | None,
    dry_run: bool,
) -> int:
    from simulators.fleet import load_fleet
    from simulators.scenario import load_scenario, resolve, scenario_path, shipped_scenarios
    from simulators.seclogs import load_catalog
    from simulators.timeline import build, cast, dump_lines

    path = scenario_path(name)
    if not path.exists():
        known = ", ".join(p.stem for p in shipped_scenarios())
        typer.echo(f"no scenario {name!r} (shipped: {known})", err=True)
        return 2
    try:
        scenario = load_scenario(path)
    except ConfigErrors as errors:
        typer.echo(str(errors), err=True)
        return 2
    if seed is None:
        seed = secrets.randbelow(1_000_000)
    fleet = load_fleet()
    try:
        members = cast(scenario, fleet)
    except ValueError as error:
        typer.echo(f"{path}: {error}", err=True)
        return 2
    start = _start(start_text)
    if start is None and scenario.local_time is not None:
        from simulators.scenario import last_local_time

        start = last_local_time(scenario.local_time, _now())
    if scenario.start_ago is not None and not start_text:
        start = (start or _now()) - scenario.start_ago
        if not (dump is not None or dry_run):
            try:
                start = _after_earlier_runs(members, start)
            except (OSError, psycopg.Error) as error:
                typer.echo(f"cannot read the stations' newest readings: {error}", err=True)
                return 2
    if start is None and (dump is not None or dry_run):
        start = _now()
    elif start is None:
        try:
            start = _live_start(members)
        except (OSError, psycopg.Error) as error:
            typer.echo(f"cannot read the stations' newest readings: {error}", err=True)
            return 2
    try:
        timeline = build(scenario, fleet, load_catalog(), start, seed)
    except ValueError as error:
        typer.echo(f"{path}: {error}", err=True)
        return 2
    if not (dump is not None or dry_run) and start + scenario.duration > _now() + MAX_AHEAD_S:
        typer.echo(
            "this run would date readings more than a day ahead of the clock, which the "
            "service refuses (earlier runs of these stations ran ahead); wait, give "
            "--start, or use a fresh stack",
            err=True,
        )
        return 2
    if scenario.max_speed is not None and speed > scenario.max_speed:
        typer.echo(f"--speed {speed:g} → {scenario.max_speed:g}: {path.name} is judged by the "
                   "service's clock", err=True)  # fmt: skip
        speed = scenario.max_speed
    stamp = datetime.fromtimestamp(start, UTC).isoformat(timespec="milliseconds")
    typer.echo(f"seed {seed}, start {stamp} (same bytes: --seed {seed} --start {stamp})", err=True)
    if dump is not None:
        _write(list(dump_lines(timeline)), dump)
    if dump is not None or dry_run:
        if dump != "-":
            typer.echo(
                f"{scenario.title}: {len(timeline):,} messages over "
                f"{scenario.duration / 60:g} min of scenario time, seed {seed}",
                err=True,
            )
        return 0
    return _replay(resolve(scenario, seed), members, timeline, speed, start, verify)


def _after_earlier_runs(members: Cast, start: float) -> float:
    """`start`, or just after the participants' newest reading if an earlier run of a
    past-dated scenario left one later (readings go forward in time only)."""
    from config.settings import get_settings
    from simulators.replay import latest_reading

    if not members.devices:
        return start
    latest = latest_reading(get_settings(), members)
    return start if latest is None else max(start, round(latest + 1, 3))


def _live_start(members: Cast) -> float:
    """Now, or just after the participants' newest reading when an earlier run (whose
    timeline ran ahead of the clock) left one later than now."""
    from config.settings import get_settings
    from simulators.replay import latest_reading

    latest = latest_reading(get_settings(), members)
    start = _now() if latest is None else max(_now(), round(latest + 1, 3))
    ahead_h = (start - _now()) / 3600
    if ahead_h > 1:
        typer.echo(
            f"an earlier run left readings {ahead_h:.1f} h ahead of the clock: this run "
            "starts after them (readings more than a day ahead are refused)",
            err=True,
        )
    return start


def _replay(
    scenario: Scenario,
    members: Cast,
    timeline: list[Timed],
    speed: float,
    start: float,
    verify: bool,
) -> int:
    from config.settings import get_settings
    from simulators.replay import Replay, ReplayOptions
    from simulators.runner import stop_on_signals

    stop = threading.Event()
    options = ReplayOptions(speed=speed, start=start, verify=verify)
    with stop_on_signals(stop):
        replay = Replay(get_settings(), scenario, members, timeline, options)
        try:
            result = replay.run(stop)
        except (OSError, psycopg.Error) as error:
            # No stack secrets yet, the database or a broker unreachable: say which.
            typer.echo(f"cannot run the scenario: {type(error).__name__}: {error}", err=True)
            return 2
    counts = replay.stats.snapshot()
    failed = sum(c.failed for c in counts.values())
    acked = sum(c.acked for c in counts.values())
    typer.echo(f"\nacknowledged {acked:,}, failed {failed:,}")
    if stop.is_set():
        return 130
    if result is None:
        return 1 if failed else 0
    for line in result.missing():
        typer.echo(f"MISSING  {line}", err=True)
    for line in result.unexpected:
        typer.echo(f"UNEXPECTED  {line}", err=True)
    if result.ok:
        typer.echo(f"verified: {len(result.verdicts)} expected alert(s), none unexpected")
        return 0
    return 1
