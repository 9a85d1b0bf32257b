"""`ioc simulate`: registered on the main app by cli/main.py."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from simulators.fleet import STREAMS


def parse_streams(value: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip() for s in value.split(",") if s.strip()))
    unknown = [s for s in chosen if s not in STREAMS]
    if unknown or not chosen:
        raise typer.BadParameter(f"choose from {', '.join(STREAMS)} (comma-separated)")
    return chosen


def _duration(value: str, option: str) -> float:
    from simulators.pacing import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None
    if seconds < 0:
        raise typer.BadParameter("must not be negative", param_hint=option)
    return seconds


def simulate(
    rate: Annotated[
        float, typer.Option(min=0.01, help="Messages per second, all streams together.")
    ] = 20.0,
    duration: Annotated[
        float, typer.Option(min=0, help="Seconds to run; 0 runs until Ctrl-C or SIGTERM.")
    ] = 0.0,
    streams: Annotated[
        str,
        typer.Option(
            help="Comma-separated: sensors, cameras, logs. cameras: Frigate over MQTT, "
            "Hikvision ISAPI pushes to the API (IOC_PUBLIC_API_URL), ONVIF on Kafka."
        ),
    ] = "sensors,cameras,logs",
    isapi: Annotated[
        bool,
        typer.Option(
            help="With cameras: the Hikvision cameras push ISAPI to the API. --no-isapi "
            "leaves them out (no API running, or one feeding another database)."
        ),
    ] = True,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Same seed, same values and event sequences (default 2026; for a scenario, "
            "a new one each run, printed, so a re-run is a fresh attacker)."
        ),
    ] = None,
    backfill: Annotated[
        str,
        typer.Option(
            help="First replay this much of the past (e.g. 48h) with its own timestamps, "
            "as fast as the brokers take it, then go live. 0 = live only."
        ),
    ] = "0",
    backfill_step: Annotated[
        str, typer.Option(help="In the replayed past, each device reports this often.")
    ] = "5m",
    bad_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Send this fraction of messages malformed on purpose (bad JSON, invalid "
            "metric name, timestamp out of range, bad syslog header), to see dead letters "
            "arrive with their reasons. 0 = none.",
        ),
    ] = 0.0,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="Replay a scenario instead of the endless streams: a shipped one by name "
            "(simulators/scenarios/NAME.yaml, e.g. xeoro-flood) or a file path.",
        ),
    ] = None,
    speed: Annotated[
        float,
        typer.Option(min=0.001, help="Scenario only: replay this many times faster than life."),
    ] = 1.0,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Scenario only: wait for the alerts the scenario expects and fail (exit 1) "
            "naming what is missing or what appeared that must not.",
        ),
    ] = False,
    start: Annotated[
        str | None,
        typer.Option(
            help="Scenario only: event time of the scenario's start (ISO 8601 with an "
            "offset); default now, or just after the stations' newest reading if an earlier "
            "run left later ones. A fixed start and seed give the same bytes.",
        ),
    ] = None,
    dump: Annotated[
        str | None,
        typer.Option(
            help="Scenario only: write the stream as JSON lines to this file ('-' for "
            "stdout) instead of sending it."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Scenario only: build the stream, send nothing."),
    ] = False,
) -> None:
    """Stream simulated sensors, Frigate camera events and security logs through the real
    brokers (devices registered with their own MQTT accounts), with live progress; or
    replay a scenario (--scenario) and check the alerts it must raise (--verify)."""
    from config.settings import get_settings

    if scenario is not None:
        from cli.simulate_scenario import run_scenario

        code = run_scenario(scenario, speed, seed, verify, start, dump, dry_run)
        raise typer.Exit(code)
    from simulators.runner import RunOptions, Simulation, stop_on_signals

    step_s = _duration(backfill_step, "--backfill-step")
    if step_s <= 0:
        raise typer.BadParameter("must be positive", param_hint="--backfill-step")
    options = RunOptions(
        rate=rate,
        duration=duration,
        streams=parse_streams(streams),
        seed=2026 if seed is None else seed,
        backfill_s=_duration(backfill, "--backfill"),
        backfill_step_s=step_s,
        bad_share=bad_share,
        isapi=isapi,
    )
    stop = threading.Event()
    with stop_on_signals(stop):
        simulation = Simulation(get_settings(), options)
        counts = simulation.run(stop)
    acked = sum(c.acked for c in counts.values())
    failed = sum(c.failed for c in counts.values())
    spoiled = f", malformed on purpose {simulation.spoiler.spoiled:,}" if bad_share else ""
    typer.echo(f"\nacknowledged {acked:,}, failed {failed:,}{spoiled}")
