"""`ioc simulate`: pace the streams, send through the real brokers, show progress.

Everything that talks to a server lives here and in publishers.py; what is sent comes
from the pure stream generators (sensors, cameras, seclogs), so those are tested alone.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from rich.console import Console
from rich.live import Live

from config.secrets import MQTT_FRIGATE_USER, Secrets, load_secrets
from config.settings import Settings
from ingest.provisioning import DeviceCredentials, register_device
from simulators.camera_stats import STATS_INTERVAL_S, CameraHeartbeat
from simulators.cameras import CameraStream
from simulators.commands import DeviceCommands
from simulators.credentials import CredentialStore
from simulators.fleet import Camera, Device, Fleet, load_fleet
from simulators.isapi import IsapiStream
from simulators.malformed import Spoiler
from simulators.messages import Outgoing
from simulators.onvif import OnvifStream
from simulators.pacing import Pacer, backfill_rates, simulated_schedule, split_rate
from simulators.progress import Stats, StreamCounts, render
from simulators.publishers import HttpSender, KafkaSender, MqttSender, send
from simulators.seclogs import LogCatalog, LogStream, load_catalog
from simulators.sensors import SensorStream
from store.connect import connect
from store.devices import DeviceSpec, upsert_device

DRAIN_TIMEOUT_S = 10.0
KAFKA_START_WAIT_S = 6.0  # a little over the producer's own bootstrap timeout
# All MQTT accounts together: a healthy start fails no message (before its CONNACK a
# client queues one window, then refuses), an absent broker delays start-up this long.
MQTT_START_WAIT_S = 6.0
# Camera pushes besides Frigate's events, as shares of the cameras' rate.
ISAPI_SHARE = 0.25
ONVIF_SHARE = 0.15


class Source(Protocol):
    def next(self, t: float) -> Outgoing | None: ...


@dataclass(frozen=True)
class RunOptions:
    rate: float  # messages per second, all chosen streams together
    duration: float  # seconds; 0 = until stopped
    streams: tuple[str, ...]
    seed: int
    backfill_s: float = 0.0  # replay this much of the past first; 0 = live only
    backfill_step_s: float = 300.0  # each device's cadence in the replayed past
    bad_share: float = 0.0  # fraction of messages malformed on purpose (dead letters)
    isapi: bool = True  # with cameras: Hikvision cameras push to the API over HTTP


def display_rows(streams: tuple[str, ...]) -> list[str]:
    """Progress rows: the logs stream shows its two Kafka topics apart."""
    rows = {"sensors": ["sensors"], "cameras": ["cameras"], "logs": ["syslog", "suricata"]}
    return [row for stream in streams for row in rows[stream]]


def row_rates(rates: dict[str, float], suricata_share: float) -> dict[str, float]:
    shown = dict(rates)
    if "logs" in shown:
        logs = shown.pop("logs")
        shown.update(syslog=logs * (1 - suricata_share), suricata=logs * suricata_share)
    return shown


def sensor_interval_s(device_count: int, sensor_rate: float) -> int:
    """How often each device speaks at this rate: what the registry should expect."""
    return max(1, math.ceil(device_count / sensor_rate))


class Simulation:
    def __init__(
        self,
        settings: Settings,
        options: RunOptions,
        console: Console | None = None,
        fleet: Fleet | None = None,
        catalog: LogCatalog | None = None,
    ) -> None:
        self._settings = settings
        self._options = options
        self._console = console or Console()
        self._fleet = fleet or load_fleet()
        self._catalog = catalog or load_catalog()
        self._rates = split_rate(options.rate, self._fleet.stream_shares, list(options.streams))
        self.stats = Stats(display_rows(options.streams))
        self._sources: dict[str, Source] = {}
        # Sources on a fixed cadence of simulated time, outside the --rate split.
        self._timed: dict[str, float] = {}
        self._live_only: dict[str, float] = {}
        self._http: HttpSender | None = None
        self._mqtt: dict[str, MqttSender] = {}
        self._kafka: KafkaSender | None = None
        self.spoiler = Spoiler(options.bad_share, options.seed)
        self.commands: DeviceCommands | None = None  # simulated devices obeying commands

    # --- setup -------------------------------------------------------------------------

    def _setup(self) -> None:
        seed = self._options.seed
        secrets = self._secrets()
        if "sensors" in self._rates:
            credentials = self._provision(self._fleet.devices) if secrets else {}
            for creds in credentials.values():
                self._add_mqtt("sensors", creds.username, creds.password)
            topics = {device_id: c.topic for device_id, c in credentials.items()}
            self.commands = self._device_commands(credentials)
            stream = SensorStream(self._fleet.devices, seed, topics)
            self._sources["sensors"] = self.commands.obey(stream)
        if "cameras" in self._rates:
            if secrets:
                self._add_mqtt("cameras", MQTT_FRIGATE_USER, secrets.mqtt_frigate_password)
            frigate = tuple(c for c in self._fleet.cameras if c.source == "frigate")
            self._sources["cameras"] = CameraStream(frigate, seed, reviews=True)
            self._register_cameras(self._fleet.cameras)
            self._sources["camera_stats"] = CameraHeartbeat(frigate, seed)
            self._timed["camera_stats"] = 1.0 / STATS_INTERVAL_S
            self._camera_pushes(seed)
        if "logs" in self._rates or "onvif" in self._sources:
            self._kafka = KafkaSender(self._settings.kafka_bootstrap, self._log_error)
            self._kafka.start(wait_s=KAFKA_START_WAIT_S)
        if "logs" in self._rates:
            self._sources["logs"] = LogStream(self._catalog, seed)
        self._wait_for_mqtt()
        if self.commands is not None:
            self.commands.start(MQTT_START_WAIT_S)

    def _camera_pushes(self, seed: int) -> None:
        """Hikvision cameras push ISAPI over HTTP and ONVIF cameras come through a VMS on
        Kafka, live only (a camera does not re-push its past): shares of the cameras'
        rate on top of the Frigate events."""
        rate = self._rates["cameras"]
        sources = {c.source for c in self._fleet.cameras}
        if "hikvision" in sources and self._options.isapi:
            self._sources["isapi"] = IsapiStream(self._fleet.cameras, seed)
            self._live_only["isapi"] = rate * ISAPI_SHARE
        if "onvif" in sources:
            self._sources["onvif"] = OnvifStream(self._fleet.cameras, seed)
            self._live_only["onvif"] = rate * ONVIF_SHARE

    def _device_commands(self, credentials: dict[str, DeviceCredentials]) -> DeviceCommands:
        interval = sensor_interval_s(len(self._fleet.devices), self._rates["sensors"])
        return DeviceCommands(
            self._settings.mqtt_host, self._settings.mqtt_port, self._fleet.devices,
            credentials, interval, self._options.seed, self._send,
        )  # fmt: skip

    def _add_mqtt(self, row: str, username: str, password: str) -> None:
        sender = MqttSender(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            username,
            password,
            report=partial(self.stats.broker_error, row),
        )
        sender.start()
        self._mqtt[username] = sender

    def _wait_for_mqtt(self) -> None:
        deadline = time.monotonic() + MQTT_START_WAIT_S
        for sender in self._mqtt.values():
            sender.wait_connected(max(0.0, deadline - time.monotonic()))

    def _log_error(self, reason: str) -> None:
        # Kafka trouble concerns both log topics alike; show it on the first log row.
        self.stats.broker_error("syslog", reason)

    def _secrets(self) -> Secrets | None:
        """The stack's secrets, or None before its first start. Never created here:
        secrets made by a client would not be the ones the brokers and database use."""
        try:
            return load_secrets(self._settings, create=False)
        except FileNotFoundError as error:
            for stream in ("sensors", "cameras"):  # the streams that log in to MQTT
                if stream in self._rates:
                    self.stats.broker_error(stream, str(error))
            return None

    def _provision(self, devices: tuple[Device, ...]) -> dict[str, DeviceCredentials]:
        """Register every device (re-using stored passwords) and keep what we got."""
        store = CredentialStore(self._settings.run_dir)
        stored = store.load()
        interval = sensor_interval_s(len(devices), self._rates["sensors"])
        got: dict[str, DeviceCredentials] = {}
        for device in devices:
            previous = stored.get(device.id)
            spec = DeviceSpec(**device.spec_fields(interval))
            try:
                got[device.id] = register_device(
                    self._settings, spec, password=previous.password if previous else None
                )
            except Exception as error:  # database or broker sync down: report, carry on
                fallback = "using stored credentials" if previous else "cannot publish"
                self.stats.broker_error("sensors", f"{device.id}: register: {error}; {fallback}")
                if previous:
                    got[device.id] = previous
        store.save({**stored, **got})
        return got

    def _register_cameras(self, cameras: tuple[Camera, ...]) -> None:
        """Each camera is a device of type camera expected once per stats snapshot.
        Frigate publishes for its cameras (no account of their own); a Hikvision camera
        pushes as itself, with its own HTTP token."""
        try:
            with connect(self._settings) as conn:
                for camera in cameras:
                    if camera.source != "hikvision":
                        upsert_device(conn, DeviceSpec(**camera.spec_fields(STATS_INTERVAL_S)))
                conn.commit()
            pushing = [c for c in cameras if c.source == "hikvision"]
            if pushing:
                self._http = HttpSender(self._settings.api_base_url)
            for camera in pushing:
                spec = DeviceSpec(**camera.spec_fields(STATS_INTERVAL_S))
                token = register_device(self._settings, spec).http_token
                if token:
                    self._http.add(camera.name, token)  # type: ignore[union-attr]
        except Exception as error:  # database down: the events still flow, say so
            self.stats.broker_error("cameras", f"register cameras: {error}")

    # --- the loop ------------------------------------------------------------------------

    def _send(self, message: Outgoing) -> None:
        send(message, self.stats, self._mqtt, self._kafka, self._http)

    def _backfill(self, stop: threading.Event) -> None:
        """Replay the past with its own timestamps, as fast as the brokers take it: what
        an integrator's gateway uploads after an outage, and how a fresh stack gets the
        hours of history hourly and daily views need. Then the live loop takes over."""
        end = time.time()
        rates = backfill_rates(
            self._fleet.stream_shares,
            list(self._rates),
            len(self._fleet.devices),
            self._options.backfill_step_s,
        )
        rates.update(self._timed)
        for stream, t in simulated_schedule(rates, end - self._options.backfill_s, end):
            if stop.is_set():
                return
            message = self._sources[stream].next(t)
            if message is not None:  # None: a device obeying a command skipped its turn
                self._send(self.spoiler(message))

    def _loop(self, stop: threading.Event) -> None:
        start = time.monotonic()
        end = start + self._options.duration if self._options.duration > 0 else math.inf
        pacer = Pacer({**self._rates, **self._timed, **self._live_only}, start)
        self.stats.start_clock()
        while not stop.is_set():
            stream, due = pacer.next(time.monotonic())
            if due >= end or stop.wait(max(0.0, due - time.monotonic())):
                return
            message = self._sources[stream].next(time.time())
            if message is not None:
                self._send(self.spoiler(message))

    def _close(self) -> None:
        # Stop producing first (the loop has returned), then let every sender drain in
        # parallel so shutdown takes one timeout, not one per device.
        if self.commands is not None:
            self.commands.close()
        closers = [partial(s.close, DRAIN_TIMEOUT_S) for s in self._mqtt.values()]
        if self._kafka is not None:
            closers.append(partial(self._kafka.close, DRAIN_TIMEOUT_S))
        if self._http is not None:
            closers.append(self._http.close)
        threads = [threading.Thread(target=close, daemon=True) for close in closers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DRAIN_TIMEOUT_S + 5)

    def run(self, stop: threading.Event) -> dict[str, StreamCounts]:
        shown_rates = row_rates(self._rates, self._catalog.suricata_share)
        title = f"ioc simulate — {self._options.rate:g} msg/s, seed {self._options.seed}"
        if self._options.backfill_s:
            title += f", {self._options.backfill_s / 3600:g} h replayed first"
        if self._options.bad_share:
            title += f", {self._options.bad_share:.1%} malformed on purpose"
        with Live(
            get_renderable=lambda: render(self.stats, shown_rates, title),
            console=self._console,
            refresh_per_second=4,
        ):
            try:
                self._setup()
                if self._options.backfill_s > 0:
                    self._backfill(stop)
                self._loop(stop)
            finally:
                self.stats.stop_clock()
                self._close()
        return self.stats.snapshot()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM ask the loop to stop, so the shutdown path drains the brokers
    instead of a KeyboardInterrupt tearing through paho's and kafka-python's threads."""

    def handler(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
