"""The allowed-commands catalog (control/commands.yaml), the command wire format and
the broker expiry, and how a simulated device applies commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.yaml_loader import ConfigErrors
from control.catalog import Refused, load_catalog
from control.dispatcher import broker_expiry
from control.messages import AckRejected, ack_device, parse_ack
from simulators.commands import DeviceControl, relay_readings


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog()


def test_shipped_catalog_per_device_type(catalog) -> None:  # type: ignore[no-untyped-def]
    assert catalog.allowed("water_level") == ["reboot", "relay", "set_interval"]
    assert catalog.allowed("air_quality") == ["reboot", "set_interval"]
    assert catalog.allowed("camera") == []
    for spec in catalog.commands.values():
        assert spec.description.vi and spec.description.en
        assert spec.expiry_seconds <= spec.max_expiry_seconds


def test_accepted_command_gets_default_or_asked_expiry(catalog) -> None:  # type: ignore[no-untyped-def]
    assert catalog.check("salinity", "set_interval", {"seconds": 10}, None) == 600
    assert catalog.check("salinity", "set_interval", {"seconds": 86400}, 30) == 30
    assert catalog.check("water_level", "relay", {"channel": 8, "state": "off"}, None) == 120
    assert catalog.check("traffic", "reboot", {}, 3600) == 3600


@pytest.mark.parametrize(
    ("device_type", "command", "params", "expiry", "code", "errors"),
    [
        ("salinity", "open_everything", {}, None, "command_unknown", []),
        ("air_quality", "relay", {"channel": 1, "state": "on"}, None, "command_not_allowed", []),
        ("camera", "reboot", {}, None, "command_not_allowed", []),
        ("salinity", "set_interval", {"seconds": 9}, None, "command_params_invalid",
         [(("params", "seconds"), "must satisfy minimum: 10", "minimum")]),
        ("salinity", "set_interval", {"seconds": 86401}, None, "command_params_invalid",
         [(("params", "seconds"), "must satisfy maximum: 86400", "maximum")]),
        ("salinity", "set_interval", {"seconds": "60"}, None, "command_params_invalid",
         [(("params", "seconds"), "must satisfy type: 'integer'", "type")]),
        ("salinity", "set_interval", {"seconds": True}, None, "command_params_invalid",
         [(("params", "seconds"), "must satisfy type: 'integer'", "type")]),
        ("salinity", "set_interval", {}, None, "command_params_invalid",
         [(("params", "seconds"), "missing required field", "required")]),
        ("water_level", "relay", {"channel": 1, "state": "open", "pin": 1234}, None,
         "command_params_invalid",
         [(("params", "pin"), "unknown field", "additionalProperties"),
          (("params", "state"), "must satisfy enum: ['on', 'off']", "enum")]),
        ("salinity", "reboot", {}, 3601, "command_expiry_too_long", []),
    ],
)  # fmt: skip
def test_refusals(catalog, device_type, command, params, expiry, code, errors) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Refused) as refused:
        catalog.check(device_type, command, params, expiry)
    assert refused.value.code == code
    assert [(e.loc, e.msg, e.type) for e in refused.value.errors] == errors


def test_param_errors_never_quote_the_value_sent(catalog) -> None:  # type: ignore[no-untyped-def]
    secret = "hunter2-the-password"
    with pytest.raises(Refused) as refused:
        catalog.check("water_level", "relay", {"channel": 1, "state": secret}, None)
    assert secret not in repr(refused.value.errors)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "commands.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
commands:
  ping:
    description: {vi: Kiểm tra, en: Ping}
    device_types: [air_quality]
    params: {type: object}
    expiry_seconds: 60
    max_expiry_seconds: 120
"""


def test_a_good_file_loads(tmp_path: Path) -> None:
    assert load_catalog(_write(tmp_path, GOOD)).allowed("air_quality") == ["ping"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("params: {type: object}", "params: {type: objekt}"),
         ":5: commands.ping.params: not a valid JSON Schema"),
        (("params: {type: object}", "params: {type: array}"),
         ":5: commands.ping.params: the params schema must say type: object"),
        (("expiry_seconds: 60", "expiry_seconds: 600"),
         ":2: commands.ping: expiry_seconds is longer than max_expiry_seconds"),
        (("device_types: [air_quality]", "device_types: []"),
         ":4: commands.ping.device_types: list should have at least 1 item"),
        (("    expiry_seconds: 60\n", "    expiry_seconds: 60\n    colour: red\n"),
         ":7: commands.ping.colour: unknown field"),
        (("  ping:", "  Ping!:"), ":2: commands.Ping!.[key]: string should match pattern"),
    ],
)  # fmt: skip
def test_bad_files_name_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigErrors) as errors:
        load_catalog(path)
    assert f"{path}{expected}" in str(errors.value)


# --- the wire -----------------------------------------------------------------------------


def test_broker_expiry_never_outlasts_the_command() -> None:
    now = datetime(2026, 12, 3, 8, 0, 0, 300_000, tzinfo=UTC)
    assert broker_expiry(now + timedelta(seconds=5), now) == 4
    assert broker_expiry(now + timedelta(seconds=4.99), now) == 3
    assert broker_expiry(now + timedelta(seconds=1.5), now) == 0  # not worth sending


def test_ack_topic_and_payload() -> None:
    assert ack_device("ioc/v1/ag-chaudoc-wl01/commands/ack") == "ag-chaudoc-wl01"
    for topic in ("ioc/v1//commands/ack", "ioc/v1/a/commands", "x/v1/a/commands/ack"):
        assert ack_device(topic) is None
    ack = parse_ack(b'{"id": "0b9ad7e2-8f51-4c55-9d1e-0d5cb6f1d1a1", "ok": false, "error": "busy"}')
    assert not ack.ok and ack.error == "busy" and ack.result is None
    for bad in (b"not json", b'{"ok": true}', b'{"id": "x", "ok": true}',
                b'{"id": "0b9ad7e2-8f51-4c55-9d1e-0d5cb6f1d1a1", "ok": true, '
                b'"result": {"a": "\\u0000"}}'):  # fmt: skip
        with pytest.raises(AckRejected):
            parse_ack(bad)


# --- a simulated device ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_simulated_device_obeys() -> None:
    clock = Clock()
    control = DeviceControl(default_interval_s=2, clock=clock)
    assert not control.taken_over("a") and control.due() == []

    assert control.apply("a", "set_interval", {"seconds": 10}) == (True, {"interval_s": 10}, None)
    assert control.taken_over("a") and control.due() == []
    clock.now += 10
    assert control.due() == ["a"] and control.due() == []
    clock.now += 9.9
    assert control.due() == []
    clock.now += 0.1
    assert control.due() == ["a"]

    ok, result, _ = control.apply("b", "relay", {"channel": 2, "state": "on"})
    assert ok and result == {"channel": 2, "state": "on"}
    assert control.due() == ["b"]  # the new state is reported at once
    assert control.relays("b") == {2: "on"}
    assert [(r.name, r.value) for r in relay_readings(control.relays("b"))] == [
        ("relay2State", 1.0)
    ]

    control.apply("c", "reboot", {"delay_seconds": 1})
    assert control.paused("c") and not control.taken_over("c")
    clock.now += 4
    assert not control.paused("c")

    assert control.apply("a", "self_destruct", {})[0] is False
