"""Simulated devices obey commands (control/commands.yaml), as a real station would.

Each simulated sensor subscribes to `ioc/v1/<id>/commands` with its own login and a
persistent session (MQTT 5, clean_start False, a session expiry), so a command sent
while the simulator is stopped waits at the broker until the device is back, unless it
expires first. It acts on a command once per id, and answers on
`ioc/v1/<id>/commands/ack` with `{"id", "ok", "result" | "error"}`:

- set_interval: the device sends every `seconds` from now on (its own clock, outside
  the round-robin of the --rate split);
- reboot: the device goes quiet for REBOOT_S (+ delay_seconds), then answers;
- relay: the device records the relay's state and reports it with its readings
  (`relay<channel>State`, 1 on / 0 off), at once and then at its interval.

A device a command changed is "taken over": the round-robin skips it and a thread here
sends its readings at its own interval. The connection for commands is a second client
of the device's login (client id `<id>-commands`): the sender's client stays as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from config.timezone import LOCAL_TZ
from ingest.provisioning import DeviceCredentials
from simulators.fleet import Device
from simulators.messages import Outgoing, Reading, native_json, senml
from simulators.sensors import readings

log = logging.getLogger(__name__)

REBOOT_S = 3.0
SESSION_EXPIRY_S = 86400
SEEN_IDS = 1000  # commands remembered per device, to act on a re-delivery only once
TICK_S = 0.1

Result = tuple[bool, dict[str, Any], str | None]
Send = Callable[[Outgoing], None]


class Source(Protocol):
    def next(self, t: float) -> Outgoing | None: ...


@dataclass
class _DeviceState:
    interval_s: float
    next_due: float
    relays: dict[int, str] = field(default_factory=dict)


class DeviceControl:
    """What commands changed, per device. Thread-safe; the clock is monotonic seconds."""

    def __init__(self, default_interval_s: float, clock: Callable[[], float] = time.monotonic):
        self._default = default_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._taken: dict[str, _DeviceState] = {}
        self._paused_until: dict[str, float] = {}

    def apply(self, device_id: str, command: str, params: Mapping[str, Any]) -> Result:
        now = self._clock()
        with self._lock:
            if command == "set_interval":
                seconds = float(params["seconds"])
                state = self._take(device_id, now)
                state.interval_s, state.next_due = seconds, now + seconds
                return True, {"interval_s": params["seconds"]}, None
            if command == "relay":
                channel, wanted = int(params["channel"]), str(params["state"])
                state = self._take(device_id, now)
                state.relays[channel] = wanted
                state.next_due = now  # report the new state at once
                return True, {"channel": channel, "state": wanted}, None
            if command == "reboot":
                down = REBOOT_S + float(params.get("delay_seconds", 0))
                self._paused_until[device_id] = now + down
                return True, {"rebooted": True, "down_s": down}, None
        return False, {}, f"unsupported command {command}"

    def _take(self, device_id: str, now: float) -> _DeviceState:
        if device_id not in self._taken:
            self._taken[device_id] = _DeviceState(self._default, now + self._default)
        return self._taken[device_id]

    def taken_over(self, device_id: str) -> bool:
        with self._lock:
            return device_id in self._taken

    def paused(self, device_id: str) -> bool:
        with self._lock:
            return self._clock() < self._paused_until.get(device_id, float("-inf"))

    def relays(self, device_id: str) -> dict[int, str]:
        with self._lock:
            state = self._taken.get(device_id)
            return dict(state.relays) if state else {}

    def due(self) -> list[str]:
        """Taken-over devices whose reading is due now (their next time moves on)."""
        now = self._clock()
        out = []
        with self._lock:
            for device_id, state in self._taken.items():
                if state.next_due <= now:
                    state.next_due = max(state.next_due + state.interval_s, now)
                    out.append(device_id)
        return out


def relay_readings(relays: Mapping[int, str]) -> list[Reading]:
    return [Reading(f"relay{c}State", "/", 1.0 if s == "on" else 0.0) for c, s in relays.items()]


def telemetry(device: Device, t: float, seed: int, relays: Mapping[int, str]) -> bytes:
    """The device's readings as sensors.telemetry_payload writes them, plus its relays."""
    when = datetime.fromtimestamp(t, LOCAL_TZ)
    values = readings(device, t, seed) + relay_readings(relays)
    if device.format == "senml":
        return senml(device.id, values, when)
    return native_json(values, when)


def command_topic(device_id: str) -> str:
    return f"ioc/v1/{device_id}/commands"


class CommandClient:
    """One device's command subscription, with its own login."""

    def __init__(
        self, host: str, port: int, creds: DeviceCredentials, control: DeviceControl
    ) -> None:
        self.device_id = creds.device_id
        self._host, self._port = host, port
        self._control = control
        self._seen: deque[str] = deque(maxlen=SEEN_IDS)
        self._answers: dict[str, bytes] = {}
        self.received: list[str] = []  # command ids as delivered, repeats included
        self.subscribed = threading.Event()
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{creds.device_id}-commands",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.username_pw_set(creds.username or creds.device_id, creds.password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(
            self._host, self._port, keepalive=30, clean_start=False, properties=properties
        )
        self._client.loop_start()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: Any, properties: Any) -> None:  # fmt: skip
        if reason_code.is_failure:
            log.warning("%s: command connection refused: %s", self.device_id, reason_code)
            return
        client.subscribe(command_topic(self.device_id), qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: Any, properties: Any) -> None:  # fmt: skip
        if all(not code.is_failure for code in reason_codes):
            self.subscribed.set()
        else:
            log.warning("%s: command subscription refused: %s", self.device_id, reason_codes)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            command = orjson.loads(message.payload)
            command_id = str(command["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("%s: unreadable command dropped", self.device_id)
            return
        self.received.append(command_id)
        if command_id in self._seen:  # a re-delivery: answer again, do not act again
            if command_id in self._answers:
                self._publish(self._answers[command_id])
            return
        self._seen.append(command_id)
        ok, result, error = self._obey(command)
        delay = float(result.get("down_s", 0)) if ok else 0.0
        answer = orjson.dumps(
            {"id": command_id, "ok": ok, "result": result} | ({"error": error} if error else {})
        )
        # A rebooting device answers once it is back.
        threading.Timer(delay, self._answer, (command_id, answer)).start()

    def _obey(self, command: Mapping[str, Any]) -> Result:
        try:
            expires_at = datetime.fromisoformat(str(command["expires_at"]))
            if expires_at <= datetime.now(UTC):
                return False, {}, "expired before it arrived"
            params = command.get("params") or {}
            return self._control.apply(self.device_id, str(command["command"]), params)
        except (KeyError, TypeError, ValueError) as error:
            return False, {}, f"bad command: {type(error).__name__}"

    def _answer(self, command_id: str, answer: bytes) -> None:
        self._answers[command_id] = answer
        if len(self._answers) > SEEN_IDS:
            self._answers.pop(next(iter(self._answers)))
        self._publish(answer)

    def _publish(self, answer: bytes) -> None:
        self._client.publish(f"{command_topic(self.device_id)}/ack", answer, qos=1)


class Obeying:
    """The sensor stream without the devices a command took over or that are rebooting:
    their turn in the round-robin passes with nothing sent, so the others keep their rate."""

    def __init__(self, inner: Source, control: DeviceControl) -> None:
        self._inner = inner
        self._control = control
        self.stream = getattr(inner, "stream", "sensors")

    def next(self, t: float) -> Outgoing | None:
        message = self._inner.next(t)
        if message is None:
            return None
        if self._control.taken_over(message.sender) or self._control.paused(message.sender):
            return None
        return message


class DeviceCommands:
    """Every simulated sensor's command client, and the sender of taken-over devices."""

    def __init__(
        self,
        host: str,
        port: int,
        devices: tuple[Device, ...],
        credentials: Mapping[str, DeviceCredentials],
        default_interval_s: float,
        seed: int,
        send: Send,
    ) -> None:
        self.control = DeviceControl(default_interval_s)
        self._devices = {d.id: d for d in devices}
        self._topics = {device_id: c.topic for device_id, c in credentials.items()}
        self._seed = seed
        self._send = send
        self.clients = [
            CommandClient(host, port, creds, self.control)
            for device_id, creds in credentials.items()
            if device_id in self._devices and creds.password
        ]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="obeying-devices", daemon=True)

    def start(self, wait_s: float) -> None:
        for client in self.clients:
            client.start()
        deadline = time.monotonic() + wait_s
        for client in self.clients:
            client.subscribed.wait(max(0.0, deadline - time.monotonic()))
        self._thread.start()

    def obey(self, stream: Source) -> Obeying:
        return Obeying(stream, self.control)

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            for device_id in self.control.due():
                if self.control.paused(device_id):
                    continue
                device = self._devices[device_id]
                payload = telemetry(device, time.time(), self._seed, self.control.relays(device_id))
                topic = self._topics[device_id]
                self._send(Outgoing("sensors", "mqtt", topic, payload, device_id))

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for client in self.clients:
            client.close()
