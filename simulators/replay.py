"""`ioc simulate --scenario`: replay a scenario's timeline through the real brokers.

The timeline (timeline.py) fixes every message's offset and event time; this module only
registers the participants, sends each message when the wall clock reaches
`replay start + offset / speed`, shows progress, and hands over to verify.py. Kafka
topics follow the deployment's routes file (the topics routed to the syslog and
suricata formats), so a test stack with its own topics is fed like production.
"""

from __future__ import annotations

import getpass
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from config.secrets import MQTT_FRIGATE_USER, load_secrets
from config.settings import Settings
from config.timezone import LOCAL_TZ
from ingest.provisioning import DeviceCredentials, register_device
from ingest.routes import load_routes
from simulators.credentials import CredentialStore
from simulators.messages import (
    KAFKA_ONVIF_TOPIC,
    KAFKA_SURICATA_TOPIC,
    KAFKA_SYSLOG_TOPIC,
    Outgoing,
)
from simulators.progress import Stats, render
from simulators.publishers import HttpSender, KafkaSender, MqttSender, send
from simulators.scenario import Scenario
from simulators.timeline import HEALTH_SENDER, Cast, Timed, with_topics
from simulators.verify import Result, Verifier, wait_for_verdict
from store.connect import connect
from store.devices import DeviceSpec, device_with_state, upsert_device
from store.epidemics import clear_commune, upsert_cases
from store.plate_audit import CLI_ROLE, Access, record
from store.plates import watch
from store.users import Role, create_user, revoke_user

DRAIN_TIMEOUT_S = 15.0
START_WAIT_S = 6.0
ROWS = ("sensors", "cameras", "syslog", "suricata", "reports")
# Cameras that report for themselves (ISAPI) or through a VMS (ONVIF) send no stats
# snapshot in a scenario: expected hourly, so a short scenario never calls them offline.
PUSH_INTERVAL_S = 3600
WATCHLIST_ACTOR = "scenario"


@dataclass(frozen=True)
class ReplayOptions:
    speed: float
    start: float  # epoch seconds of offset 0 (event time)
    verify: bool


def kafka_topics(settings: Settings) -> dict[str, str]:
    """The simulator's standard topic → the topic this deployment routes that format from."""
    config = load_routes(settings.routes_file)
    by_format = {}
    for route in config.kafka.routes:
        by_format.setdefault(route.format, route.topic)
    wanted = {KAFKA_SYSLOG_TOPIC: "syslog", KAFKA_SURICATA_TOPIC: "suricata"}
    wanted[KAFKA_ONVIF_TOPIC] = "onvif"
    return {std: by_format[fmt] for std, fmt in wanted.items() if fmt in by_format}


def latest_reading(settings: Settings, members: Cast) -> float | None:
    """The newest reading of any participant (epoch seconds), or None.

    A replay starts after it: detectors judge a station's readings in event-time order,
    so a re-run dated inside an earlier run's span would be read as late data."""
    ids = [d.id for d in members.devices] + [c.name for c in members.cameras]
    with connect(settings, autocommit=True) as conn:
        seen = [(device_with_state(conn, i) or {}).get("last_seen") for i in ids]
    times = [s.timestamp() for s in seen if s is not None]
    return max(times) if times else None


class Replay:
    def __init__(
        self,
        settings: Settings,
        scenario: Scenario,
        members: Cast,
        timeline: list[Timed],
        options: ReplayOptions,
        console: Console | None = None,
    ) -> None:
        self._settings = settings
        self._scenario = scenario
        self._members = members
        self._timeline = timeline
        self._options = options
        self._console = console or Console()
        rows = {t.message.stream for t in timeline}
        self.stats = Stats([r for r in ROWS if r in rows])
        self._mqtt: dict[str, MqttSender] = {}
        self._kafka: KafkaSender | None = None
        self._http: HttpSender | None = None
        self._health_user: str | None = None
        self._sent_offset = 0.0
        self.result: Result | None = None
        self._phase = "registering"

    # --- setup ---------------------------------------------------------------------------

    def _setup(self) -> None:
        secrets = load_secrets(self._settings, create=False)
        row = "sensors"
        for device_id, creds in self._provision().items():
            self._add_mqtt(row, creds.username, creds.password, device_id)
        if self._members.cameras:
            self._register_cameras()
            self._add_mqtt("cameras", MQTT_FRIGATE_USER, secrets.mqtt_frigate_password)
        if self._scenario.setup.watchlist:
            self._watch()
        if self._scenario.setup.case_history:
            self._case_history()
        if self._scenario.case_reports:
            self._health_department()
        if any(t.message.transport == "kafka" for t in self._timeline):
            self._kafka = KafkaSender(self._settings.kafka_bootstrap, self._kafka_error)
            self._kafka.start(wait_s=START_WAIT_S)
        deadline = time.monotonic() + START_WAIT_S
        for sender in self._mqtt.values():
            sender.wait_connected(max(0.0, deadline - time.monotonic()))

    def _provision(self) -> dict[str, DeviceCredentials]:
        """Register the scenario's devices at its cadence, re-using the simulator's stored
        passwords (so a running `ioc simulate` keeps working), and keep what we got."""
        store = CredentialStore(self._settings.run_dir)
        stored = store.load()
        got: dict[str, DeviceCredentials] = {}
        interval = max(1, round(self._scenario.participants.step))
        for device in self._members.devices:
            previous = stored.get(device.id)
            spec = DeviceSpec(**device.spec_fields(interval))
            got[device.id] = register_device(
                self._settings, spec, password=previous.password if previous else None
            )
        store.save({**stored, **got})
        return got

    def _register_cameras(self) -> None:
        """Cameras Frigate or a VMS reports for are devices without secrets; a camera
        that pushes ISAPI signs with its own HTTP token, issued here. Only Frigate's
        stats are a heartbeat in a scenario: the others are expected once an hour."""
        interval = max(1, round(self._scenario.participants.heartbeat))
        pushing = [c for c in self._members.cameras if c.source == "hikvision"]
        with connect(self._settings) as conn:
            for camera in self._members.cameras:
                if camera not in pushing:
                    quiet = camera.source != "frigate"
                    spec = camera.spec_fields(PUSH_INTERVAL_S if quiet else interval)
                    upsert_device(conn, DeviceSpec(**spec))
            conn.commit()
        if pushing:
            self._http = HttpSender(self._settings.api_base_url)
        for camera in pushing:
            spec = DeviceSpec(**camera.spec_fields(PUSH_INTERVAL_S))
            token = register_device(self._settings, spec).http_token
            if token is None:
                raise OSError(f"{camera.name}: registered without an HTTP token")
            self._http.add(camera.name, token)  # type: ignore[union-attr]

    def _watch(self) -> None:
        """The scenario's watch-list entries, as `ioc watchlist add` makes them."""
        with connect(self._settings) as conn:
            for entry in self._scenario.setup.watchlist:
                row, created = watch(conn, entry.plate, entry.reason, WATCHLIST_ACTOR)
                # A watch-list change like any other: in the plate access record.
                detail = {
                    "created": created,
                    "reason": entry.reason,
                    "scenario": self._scenario.title,
                }
                who = f"cli:{getpass.getuser()}"
                record(conn, Access(who, CLI_ROLE, "watchlist_add", row["plate_norm"], detail))
            conn.commit()

    def _case_history(self) -> None:
        """Past years of weekly counts for the seasonal baselines (no alerts), after the
        commune's stored weeks of the disease are cleared, so a re-run starts clean."""
        year = datetime.fromtimestamp(self._options.start, LOCAL_TZ).isocalendar().year
        with connect(self._settings) as conn:
            for entry in self._scenario.setup.case_history:
                clear_commune(conn, entry.commune, entry.disease)
                rows = [
                    (entry.commune, entry.disease, past, week, cases)
                    for past, cases in zip(
                        range(year - len(entry.yearly), year), entry.yearly, strict=True
                    )
                    for week in range(1, date(past, 12, 28).isocalendar().week + 1)
                ]
                upsert_cases(conn, rows, f"scenario:{self._scenario.title}"[:200])
            conn.commit()

    def _health_department(self) -> None:
        """The health department's API user (role integrator) that posts the reports;
        revoked when the replay closes."""
        name = f"scenario-health-{uuid.uuid4().hex[:8]}"
        with connect(self._settings) as conn:
            _, token = create_user(conn, name, Role.INTEGRATOR)
            conn.commit()
        self._health_user = name
        if self._http is None:
            self._http = HttpSender(self._settings.api_base_url)
        self._http.add_bearer(HEALTH_SENDER, token)

    def _add_mqtt(self, row: str, username: str, password: str, key: str | None = None) -> None:
        report = partial(self.stats.broker_error, row)
        sender = MqttSender(
            self._settings.mqtt_host, self._settings.mqtt_port, username, password, report
        )
        sender.start()
        self._mqtt[key or username] = sender

    def _kafka_error(self, reason: str) -> None:
        for row in ("syslog", "suricata"):
            if row in self.stats.snapshot():
                self.stats.broker_error(row, reason)
                return

    # --- sending -------------------------------------------------------------------------

    def _send(self, message: Outgoing) -> None:
        send(message, self.stats, self._mqtt, self._kafka, self._http)

    def _play(self, stop: threading.Event) -> None:
        topics = kafka_topics(self._settings)
        began = time.monotonic()
        self.stats.start_clock()
        for timed in self._timeline:
            due = began + timed.offset / self._options.speed
            if stop.wait(max(0.0, due - time.monotonic())):
                return
            self._sent_offset = timed.offset
            self._send(with_topics(timed, topics).message)

    def _close(self) -> None:
        closers: list[Callable[[], None]] = [
            partial(s.close, DRAIN_TIMEOUT_S) for s in self._mqtt.values()
        ]
        if self._kafka is not None:
            closers.append(partial(self._kafka.close, DRAIN_TIMEOUT_S))
        if self._http is not None:
            closers.append(self._http.close)
        if self._health_user is not None:
            closers.append(self._revoke_health_user)
        threads = [threading.Thread(target=c, daemon=True) for c in closers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DRAIN_TIMEOUT_S + 5)

    def _revoke_health_user(self) -> None:
        with connect(self._settings, autocommit=True) as conn:
            revoke_user(conn, self._health_user or "")

    # --- display -------------------------------------------------------------------------

    def _render(self) -> Group:
        speed = self._options.speed
        title = (
            f"ioc simulate --scenario — {self._scenario.title} — ×{speed:g}, "
            f"t+{self._sent_offset / 60:.1f} of {self._scenario.duration / 60:.1f} min"
        )
        parts: list[object] = [render(self.stats, {}, title), Text(self._phase, style="bold")]
        if self.result is not None:
            parts.append(verdict_table(self.result))
        return Group(*parts)  # type: ignore[arg-type]

    # --- run -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> Result | None:
        verifier = None
        with Live(get_renderable=self._render, console=self._console, refresh_per_second=4):
            try:
                self._setup()
                if self._options.verify:
                    verifier = Verifier(
                        self._scenario,
                        datetime.fromtimestamp(self._options.start, UTC),
                        datetime.now(UTC),
                    )
                    with connect(self._settings, autocommit=True) as conn:
                        verifier.snapshot(conn)
                self._phase = "sending"
                self._play(stop)
            finally:
                self.stats.stop_clock()
                self._phase = "waiting for the brokers' acknowledgements"
                self._close()
            if verifier is None or stop.is_set():
                self._phase = "sent"
                return None
            self._phase = "waiting for the expected alerts"
            self.result = wait_for_verdict(
                partial(connect, self._settings, autocommit=True),
                verifier,
                self._scenario.verify_timeout,
                self._scenario.settle,
                self._progress,
            )
            self._phase = "verified" if self.result.ok else "verification failed"
        return self.result

    def _progress(self, result: Result) -> None:
        self.result = result


def verdict_table(result: Result) -> Table:
    table = Table(title="expected alerts", title_justify="left")
    table.add_column("alert")
    table.add_column("state")
    for name, verdict in result.verdicts.items():
        mark = Text("✔ " + verdict.detail, style="green") if verdict.met else Text(verdict.detail)
        table.add_row(name, mark)
    for text in result.unexpected:
        table.add_row(Text("must not appear", style="red"), Text(text, style="red"))
    return table
