"""The simulator's run-time pieces that need no server: pacing, credentials kept between
runs, the MQTT in-flight window, the CLI's stream option."""

from __future__ import annotations

import stat
import threading
from collections import Counter
from types import SimpleNamespace

import pytest
import typer
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from cli.simulate import parse_streams
from ingest.provisioning import DeviceCredentials
from simulators import publishers
from simulators.credentials import CredentialStore
from simulators.pacing import Pacer, split_rate
from simulators.publishers import MqttSender
from simulators.runner import display_rows, row_rates, sensor_interval_s

SHARES = {"sensors": 0.5, "cameras": 0.2, "logs": 0.3}

# --- pacing -----------------------------------------------------------------------------


def test_split_rate_keeps_the_total_and_shares_out_unchosen_streams() -> None:
    assert split_rate(100, SHARES, ["sensors", "cameras", "logs"]) == pytest.approx(
        {"sensors": 50, "cameras": 20, "logs": 30}
    )
    only_two = split_rate(70, SHARES, ["sensors", "cameras"])
    assert only_two == pytest.approx({"sensors": 50, "cameras": 20})
    assert split_rate(10, SHARES, ["logs"]) == pytest.approx({"logs": 10})
    with pytest.raises(ValueError, match="unknown"):
        split_rate(10, SHARES, ["weather"])
    with pytest.raises(ValueError):
        split_rate(0, SHARES, ["logs"])


def test_pacer_interleaves_streams_at_their_rates() -> None:
    rates = split_rate(20, SHARES, list(SHARES))
    pacer = Pacer(rates, start=0.0)
    counts: Counter[str] = Counter()
    due = 0.0
    while True:
        stream, due = pacer.next(now=due)  # a sender that keeps up exactly
        if due >= 100:
            break
        counts[stream] += 1
    expected = {"sensors": 1000, "cameras": 400, "logs": 600}
    assert all(abs(counts[s] - n) <= 1 for s, n in expected.items()), counts  # float rounding


def test_pacer_drops_a_backlog_instead_of_bursting() -> None:
    pacer = Pacer({"logs": 10}, start=0.0, max_lag_s=1.0)
    pacer.next(now=0.0)
    # The sender stalled for 30 s: the next message is due at most 1 s in the past.
    _, due = pacer.next(now=30.0)
    assert due == pytest.approx(29.0)
    _, due = pacer.next(now=30.0)
    assert due == pytest.approx(29.1)


def test_display_rows_show_the_two_log_topics_apart() -> None:
    assert display_rows(("sensors", "logs")) == ["sensors", "syslog", "suricata"]
    assert row_rates({"cameras": 4.0, "logs": 10.0}, 0.4) == pytest.approx(
        {"cameras": 4.0, "syslog": 6.0, "suricata": 4.0}
    )


def test_sensor_interval_is_what_each_device_will_really_do() -> None:
    assert sensor_interval_s(12, sensor_rate=10) == 2
    assert sensor_interval_s(12, sensor_rate=0.2) == 60
    assert sensor_interval_s(12, sensor_rate=500) == 1


# --- credentials ------------------------------------------------------------------------


def test_credentials_round_trip_in_a_file_only_the_owner_can_read(tmp_path) -> None:
    store = CredentialStore(tmp_path)
    assert store.load() == {}
    creds = DeviceCredentials("kg-rachgia-aq01", "kg-rachgia-aq01", "s3cret", "ioc/v1/x/t")
    store.save({creds.device_id: creds})
    assert store.load() == {creds.device_id: creds}
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.path == tmp_path / "simulator" / "credentials.json"


# --- MQTT in-flight window (the paho client is replaced; the broker path is run live) ----


class _FakePaho:
    def __init__(self, on_publish_now: bool = False) -> None:
        self.mid = 0
        self.sender: MqttSender | None = None
        self.on_publish_now = on_publish_now

    def publish(self, topic: str, payload: bytes, qos: int) -> SimpleNamespace:
        self.mid += 1
        if self.on_publish_now and self.sender:  # PUBACK arrives before publish() returns
            self.sender._on_publish(None, None, self.mid, _puback(0), None)  # type: ignore[arg-type]
        return SimpleNamespace(rc=MQTTErrorCode.MQTT_ERR_SUCCESS, mid=self.mid)


def _puback(code: int) -> ReasonCode:
    return ReasonCode(PacketTypes.PUBACK, identifier=code)


def _sender(fake: _FakePaho, connected: bool = True, window: int = 3) -> MqttSender:
    reports: list[str] = []
    sender = MqttSender("127.0.0.1", 1, "dev-1", "pw", report=reports.append, max_inflight=window)
    sender._client = fake  # type: ignore[assignment]
    sender._connected = connected
    fake.sender = sender
    return sender


def test_window_waits_for_pubacks_then_gives_up_with_a_reason(monkeypatch) -> None:
    monkeypatch.setattr(publishers, "ACK_WAIT_S", 0.05)
    results: list[str | None] = []
    sender = _sender(_FakePaho())
    for _ in range(3):
        assert sender.publish("t", b"x", results.append) is None
    refused = sender.publish("t", b"x", results.append)
    assert refused and "no PUBACK" in refused
    sender._on_publish(None, None, 2, _puback(0), None)  # type: ignore[arg-type]
    assert results == [None]
    assert sender.publish("t", b"x", results.append) is None  # room again


def test_window_full_while_disconnected_refuses_at_once() -> None:
    sender = _sender(_FakePaho(), connected=False, window=1)
    assert sender.publish("t", b"x", lambda _: None) is None  # queued for reconnect
    refused = sender.publish("t", b"x", lambda _: None)
    assert refused and "not connected" in refused


def test_a_refused_puback_fails_the_message_with_the_brokers_reason() -> None:
    results: list[str | None] = []
    sender = _sender(_FakePaho())
    sender.publish("t", b"x", results.append)
    sender._on_publish(None, None, 1, _puback(0x87), None)  # type: ignore[arg-type]
    assert results == ["PUBACK Not authorized"]


def test_a_puback_that_beats_publish_is_not_lost() -> None:
    results: list[str | None] = []
    sender = _sender(_FakePaho(on_publish_now=True), window=1)
    for _ in range(5):
        assert sender.publish("t", b"x", results.append) is None
    assert results == [None] * 5


# --- CLI --------------------------------------------------------------------------------


def test_streams_option_accepts_known_names_once_each() -> None:
    assert parse_streams("sensors,cameras,logs") == ("sensors", "cameras", "logs")
    assert parse_streams(" logs , sensors,logs") == ("logs", "sensors")
    for bad in ("", "sensors,weather", ","):
        with pytest.raises(typer.BadParameter):
            parse_streams(bad)


def test_wait_connected_returns_once_the_connack_arrives() -> None:
    sender = _sender(_FakePaho(), connected=False)
    assert sender.wait_connected(0.05) is False
    connack = ReasonCode(PacketTypes.CONNACK, identifier=0)
    threading.Timer(0.05, sender._on_connect, (None, None, None, connack, None)).start()
    assert sender.wait_connected(5) is True
