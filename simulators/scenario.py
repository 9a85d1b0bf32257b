"""A scenario: a timeline of what happens at real places, and the alerts it must raise.

Scenario files (simulators/scenarios/*.yaml) are data: which fleet devices and cameras
take part, how their signals move (piecewise-linear curves over the scenario's offsets),
the faults to inject, the security logs to emit, and what the service must answer
(`expect`) or must not (`absent`). Times are offsets from the scenario's start, written
like durations ("90s", "10m", "1h30m"). Loading goes through config.yaml_loader, so a
mistake is reported as file:line: field: message.
"""

from __future__ import annotations

import ipaddress
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from config.timezone import LOCAL_TZ
from config.yaml_loader import load_model
from events.alerts import Severity
from simulators.pacing import parse_duration

SCENARIO_DIR = Path(__file__).with_name("scenarios")


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a duration like 90s, 10m or 1h30m")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-"):  # a clock that lost time: -2h
            return -parse_duration(text[1:])
        return parse_duration(text)
    raise ValueError("a duration like 90s, 10m or 1h30m")


Offset = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]
Span = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]
SignedSpan = Annotated[float, BeforeValidator(_seconds)]


def _network(value: Any) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(str(value))


Network = Annotated[ipaddress.IPv4Network, BeforeValidator(_network)]
# An address, or the name of one of the scenario's actors (replaced by its address).
Address = Annotated[str, Field(min_length=1, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Participants(_Strict):
    devices: tuple[str, ...] = ()  # fleet device ids
    cameras: tuple[str, ...] = ()  # fleet camera names
    step: Span = 300.0  # each device reports this often
    # Frigate's mqtt.stats_interval for the cameras here (15 s is Frigate's minimum);
    # the registry expects them at this cadence.
    heartbeat: Span = 60.0


class Curve(_Strict):
    """A metric's level over the scenario: linear between points, flat outside them.
    The device's own noise model is added on top, so the readings look measured."""

    device: str
    metric: str
    points: tuple[tuple[Offset, float], ...] = Field(min_length=1)
    noise: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> Curve:
        times = [t for t, _ in self.points]
        if times != sorted(times):
            raise ValueError("points must be in time order")
        return self


FaultKind = Literal["stuck", "spike", "dropout", "clock_skew", "duplicate", "malformed"]


class Fault(_Strict):
    """Faults on demand, each on one device (or camera, for dropout) over [start, end):
    stuck    the metric repeats the value it had at `start`
    spike    one reading of the metric at `start` is `value`
    dropout  nothing is sent
    clock_skew  readings carry times shifted by `skew` (e.g. -2h: a clock that lost time)
    duplicate   every message is sent twice
    malformed   messages are made unusable (dead letters with a reason)"""

    kind: FaultKind
    device: str
    metric: str | None = None
    start: Offset
    end: Offset | None = None
    value: float | None = None
    skew: SignedSpan = 0.0

    @model_validator(mode="after")
    def _complete(self) -> Fault:
        if self.kind in ("stuck", "spike") and self.metric is None:
            raise ValueError(f"a {self.kind} fault names its metric")
        if self.kind == "spike" and self.value is None:
            raise ValueError("a spike fault gives its value")
        if self.kind == "clock_skew" and not self.skew:
            raise ValueError("a clock_skew fault gives a non-zero skew")
        if self.kind != "spike" and self.end is None:
            raise ValueError(f"a {self.kind} fault gives its end")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must come after start")
        return self

    def covers(self, offset: float) -> bool:
        if self.end is None:
            return offset == self.start
        return self.start <= offset < self.end


class SshFailures(_Strict):
    """Failed SSH passwords from one address against one agency server."""

    kind: Literal["ssh_failures"]
    at: Offset
    source: Address
    server: str  # a host of seclog.yaml's servers
    count: int = Field(gt=0, le=10_000)
    every: Span = 2.0
    users: tuple[str, ...] = ("root",)


class SshLogin(_Strict):
    kind: Literal["ssh_login"]
    at: Offset
    source: Address
    server: str
    user: str
    method: Literal["password", "publickey"] = "password"


class PortScan(_Strict):
    """Suricata flow records: one address probing `ports` consecutive ports of a host."""

    kind: Literal["port_scan"]
    at: Offset
    source: Address
    target: Address
    first_port: int = Field(default=1, ge=1, le=65535)
    ports: int = Field(gt=0, le=65535)
    every: Span = 0.5
    sensor: str = "kg-ids01"


LogEvent = Annotated[SshFailures | SshLogin | PortScan, Field(discriminator="kind")]

Fraction = Annotated[float, Field(ge=0, le=1)]
Point = tuple[Fraction, Fraction]
ObjectLabel = Literal["person", "bicycle", "motorcycle", "car", "bus", "truck"]


class FrigateObject(_Strict):
    """One object Frigate tracks on a set path: the bottom centre of its box, as
    fractions of the frame, for `new`, each update and `end` in turn, `every` apart."""

    kind: Literal["frigate_object"]
    camera: str
    at: Offset
    label: ObjectLabel
    path: tuple[Point, ...] = Field(min_length=2, max_length=500)
    every: Span = 2.0
    plate: str | None = Field(default=None, max_length=32)  # what Frigate 0.16 LPR reads
    plate_score: float | None = Field(default=None, ge=0, le=1)
    # Frigate also opens a review item for it. Off by default: a review message has no
    # frame time of its own and is stamped with its arrival, which in a scenario dated in
    # the past (local_time) would move the camera's clock to now.
    review: bool = False


class LineTraffic(_Strict):
    """Objects crossing one of the camera's counting lines, `per_minute` of them from
    `at` to `until`, each a short Frigate event (new, updates, end) whose box moves
    across the line: `across` left_to_right goes from the left of P1→P2 (stand on P1
    facing P2) to its right, as the registry's `in` says."""

    kind: Literal["line_traffic"]
    camera: str
    line: str
    at: Offset
    until: Offset
    per_minute: int = Field(gt=0, le=600)
    label: ObjectLabel = "car"
    across: Literal["left_to_right", "right_to_left"] = "left_to_right"

    @model_validator(mode="after")
    def _span(self) -> LineTraffic:
        if self.until <= self.at:
            raise ValueError("until must come after at")
        return self


class IsapiAnpr(_Strict):
    """A Hikvision ANPR camera reads a plate and pushes it (ISAPI over HTTP, the
    camera's own Basic credentials); `picture`: multipart with the plate picture."""

    kind: Literal["isapi_anpr"]
    camera: str
    at: Offset
    plate: str = Field(min_length=1, max_length=32)  # as the reader spells it
    direction: Literal["forward", "reverse"] = "forward"
    confidence: int = Field(default=90, ge=0, le=100)
    vehicle: ObjectLabel = "car"
    picture: bool = True


CameraAction = Annotated[FrigateObject | LineTraffic | IsapiAnpr, Field(discriminator="kind")]


class WatchEntry(_Strict):
    plate: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=500)


class CaseHistory(_Strict):
    """Past years of one commune's weekly counts of one disease, for its seasonal
    baseline: `yearly[i]` cases in every ISO week of the i-th past year, oldest first
    (the newest is last year). Loaded as `ioc epidemics import --history` would, after
    the commune's stored weeks of that disease are cleared, so a re-run starts clean."""

    commune: str
    disease: str
    yearly: tuple[Annotated[int, Field(ge=0)], ...] = Field(min_length=1, max_length=30)


class CaseReport(_Strict):
    """A weekly case report row posted by the health department at offset `at` (over
    HTTP, as CSV): `cases` in the ISO week holding offset `week`."""

    at: Offset
    week: Offset
    commune: str
    disease: str
    cases: Annotated[int, Field(ge=0)]


class Setup(_Strict):
    """What the service must know before the timeline runs (done by the replay, in the
    database, as `ioc watchlist add` would)."""

    watchlist: tuple[WatchEntry, ...] = ()
    case_history: tuple[CaseHistory, ...] = ()


def _local_time(value: Any) -> str:
    text = str(value)
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
        raise ValueError("a local time of day like 23:30")
    return f"{int(hours):02d}:{int(minutes):02d}"


LocalTime = Annotated[str, BeforeValidator(_local_time)]


class Expectation(_Strict):
    """An alert of `rule` whose labels include `labels`, changed by this run: reaching
    `severity` (if given) by scenario offset `by` (event time), and resolved by
    `resolved_by` (if given)."""

    rule: str
    labels: dict[str, str] = Field(default_factory=dict)
    severity: str | None = None
    by: Offset | None = None
    resolved_by: Offset | None = None

    @model_validator(mode="after")
    def _known_severity(self) -> Expectation:
        if self.severity is not None:
            Severity.parse(self.severity)
        return self

    def describe(self) -> str:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        text = f"{self.rule}{{{labels}}}"
        if self.severity:
            text += f" {self.severity}"
        return text


class Absence(_Strict):
    rule: str
    labels: dict[str, str] = Field(default_factory=dict)

    def describe(self) -> str:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"{self.rule}{{{labels}}}"


class Scenario(_Strict):
    """`actors` name outside parties by the networks they come from; each run picks one
    address per actor from the seed, and `{name}` in a label of `expect`/`absent` reads
    it. So a replay with another seed is another attacker, and the service's per-source
    state (quiet periods, open alerts) from an earlier run does not mask this one."""

    title: str
    description: str = ""
    domain: Literal["environment", "security", "cameras", "health", "pests", "epidemics"]
    duration: Span
    # start: event time 0 is when the replay starts (the timeline runs ahead of the wall
    # clock by the speed-up). Timers that judge by the wall clock (offline devices) see
    # the last readings only once the wall clock gets there.
    participants: Participants = Participants()
    actors: dict[str, tuple[Network, ...]] = Field(default_factory=dict)
    curves: tuple[Curve, ...] = ()
    faults: tuple[Fault, ...] = ()
    logs: tuple[LogEvent, ...] = ()
    # What the cameras see and report (Frigate objects, line traffic, ISAPI ANPR reads).
    camera_events: tuple[CameraAction, ...] = ()
    setup: Setup = Setup()
    # Rules that judge the local time of day (a zone closed at night) need the scenario
    # at a known hour: offset 0 is then the latest moment before now at this local time
    # (Asia/Ho_Chi_Minh), so the events are in the past day, never ahead.
    local_time: LocalTime | None = None
    # Nightly light-trap counts and weekly case reports take days: offset 0 lies this
    # long before now (before the last `local_time`, if given), so every event is in the
    # past and a replay at a speed-up sends days in seconds.
    start_ago: Span | None = None
    # Weekly case reports posted over HTTP (POST /api/v1/epidemics/cases) by a user of
    # role integrator the replay makes.
    case_reports: tuple[CaseReport, ...] = ()
    # Timers judged by the service's clock (offline, recovery) need the timeline near
    # real time: a replay is never faster than this.
    max_speed: Annotated[float, Field(gt=0)] | None = None
    expect: tuple[Expectation, ...] = Field(min_length=1)
    absent: tuple[Absence, ...] = ()
    # How long, in wall seconds after the last message, verification waits at most.
    verify_timeout: Span = 60.0
    # Wall seconds to keep watching for `absent` alerts after the expected ones came.
    settle: Span = 3.0

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        known = set(self.participants.devices) | set(self.participants.cameras)
        for curve in self.curves:
            if curve.device not in self.participants.devices:
                raise ValueError(f"curve for {curve.device}, which is not a participant")
        for fault in self.faults:
            if fault.device not in known:
                raise ValueError(f"fault on {fault.device}, which is not a participant")
        for report in self.case_reports:
            if not 0 <= report.week <= report.at:
                raise ValueError("a case report's week must lie between 0 and its `at`")
        for action in self.camera_events:
            if action.camera not in self.participants.cameras:
                raise ValueError(f"camera event on {action.camera}, which is not a participant")
        for event in self.logs:
            for address in _addresses(event):
                if address not in self.actors:
                    _ip_or_actor(address)
        placeholders = dict.fromkeys(self.actors, "")
        for item in (*self.expect, *self.absent):
            for value in item.labels.values():
                try:
                    value.format_map(placeholders)
                except (KeyError, ValueError, IndexError) as error:
                    raise ValueError(f"label {value!r}: {{name}} must name an actor") from error
        return self


def _addresses(event: SshFailures | SshLogin | PortScan) -> list[str]:
    return [event.source, event.target] if isinstance(event, PortScan) else [event.source]


def _ip_or_actor(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is neither an address nor one of the actors") from None


def pick_actors(scenario: Scenario, seed: int) -> dict[str, str]:
    """One address per actor, from its networks, by the seed; distinct actors get
    distinct addresses."""
    chosen: dict[str, str] = {}
    for name, networks in sorted(scenario.actors.items()):
        # The title in the key: two scenarios run with one seed get unrelated addresses.
        rng = random.Random(f"scenario:{seed}:{scenario.title}:actor:{name}")
        while True:
            network = rng.choice(networks)
            hosts = max(1, network.num_addresses - 2)
            address = str(network.network_address + 1 + rng.randrange(hosts))
            if address not in chosen.values():
                break
        chosen[name] = address
    return chosen


def resolve(scenario: Scenario, seed: int) -> Scenario:
    """The scenario with its actors replaced by this seed's addresses."""
    actors = pick_actors(scenario, seed)

    def address(text: str) -> str:
        return actors.get(text) or _ip_or_actor(text)

    def labels(raw: dict[str, str]) -> dict[str, str]:
        return {k: v.format_map(actors) for k, v in raw.items()}

    logs = []
    for event in scenario.logs:
        changes: dict[str, str] = {"source": address(event.source)}
        if isinstance(event, PortScan):
            changes["target"] = address(event.target)
        logs.append(event.model_copy(update=changes))
    return scenario.model_copy(
        update={
            "logs": tuple(logs),
            "expect": tuple(
                e.model_copy(update={"labels": labels(e.labels)}) for e in scenario.expect
            ),
            "absent": tuple(
                a.model_copy(update={"labels": labels(a.labels)}) for a in scenario.absent
            ),
        }
    )


def last_local_time(hh_mm: str, now: float) -> float:
    """The latest moment at or before `now` whose local time (Asia/Ho_Chi_Minh) is
    hh_mm: where a scenario that needs a time of day starts."""
    hours, minutes = (int(part) for part in hh_mm.split(":"))
    local = datetime.fromtimestamp(now, LOCAL_TZ)
    at = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    if at > local:
        at -= timedelta(days=1)
    return at.timestamp()


def load_scenario(path: Path) -> Scenario:
    return load_model(path, Scenario)


def scenario_path(name_or_path: str) -> Path:
    """A shipped scenario by name (`xeoro-flood`) or any file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return SCENARIO_DIR / f"{name_or_path}.yaml"


def shipped_scenarios() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.yaml"))
