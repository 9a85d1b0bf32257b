"""Channels config: validation that names the file and field, routing, group keys,
retry timing, and the notifier registry finding a new folder on its own."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

import processors.alerts.notify as notify
from config.settings import Settings
from events.alerts import Domain, Severity
from processors.alerts.channels import (
    DEFAULT_CHANNELS_FILE,
    ChannelsConfig,
    channels_path,
    expand_env,
    load_channels,
)
from processors.alerts.dispatch import Failure, OutboxRow, after_failure, group_rows

HOOK = {"url": "http://127.0.0.1:9/alerts", "secret": "s"}


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _load_error(tmp_path: Path, data: dict[str, Any]) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(ValueError) as caught:
        load_channels(path)
    message = str(caught.value)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", message), message
    return message


def _config(*channels: dict[str, Any], **top: Any) -> ChannelsConfig:
    return ChannelsConfig.model_validate({"channels": list(channels), **top})


# --- validation -------------------------------------------------------------------------


def test_default_file_loads_with_the_four_channel_types() -> None:
    config = load_channels(DEFAULT_CHANNELS_FILE)
    assert {c.type for c in config.channels} == {"webhook", "mqtt", "kafka", "email"}
    email = config.channel("duty-email")
    assert email is not None
    assert email.settings.port == 2525  # ${IOC_SMTP_PORT:-2525} expanded and typed


def test_unknown_type_names_channel_and_known_types(tmp_path: Path) -> None:
    message = _load_error(tmp_path, {"channels": [{"name": "pager", "type": "pagr"}]})
    assert "channels[0].type" in message
    assert "unknown channel type 'pagr'" in message
    assert "email, kafka, mqtt, webhook" in message


def test_bad_settings_name_the_nested_field(tmp_path: Path) -> None:
    data = {"channels": [{"name": "hook", "type": "webhook", "settings": {"ur": "x"}}]}
    message = _load_error(tmp_path, data)
    assert "channels[0].settings.url: missing required field" in message
    assert "channels[0].settings.ur: unknown field" in message


def test_bad_email_address_and_empty_recipients(tmp_path: Path) -> None:
    settings = {"host": "127.0.0.1", "sender": "not an address", "to": []}
    message = _load_error(
        tmp_path, {"channels": [{"name": "mail", "type": "email", "settings": settings}]}
    )
    assert "sender: 'not an address' is not an e-mail address" in message
    assert "settings.to: " in message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("min_severity", "severe", "severity 'severe' is not one of"),
        ("domains", ["sea"], "channels[0].domains[0]"),
        ("domains", [], "at least one domain"),
        ("group_wait_seconds", -1, "channels[0].group_wait_seconds"),
        ("colour", "red", "channels[0].colour: unknown field"),
    ],
)
def test_channel_field_errors(tmp_path: Path, field: str, value: object, expected: str) -> None:
    channel = {"name": "hook", "type": "webhook", "settings": HOOK, field: value}
    assert expected in _load_error(tmp_path, {"channels": [channel]})


def test_top_level_errors(tmp_path: Path) -> None:
    same = {"name": "hook", "type": "webhook", "settings": HOOK}
    assert "repeated: hook" in _load_error(tmp_path, {"channels": [same, same]})
    assert "max_attempts" in _load_error(tmp_path, {"max_attempts": 0})
    assert "retries: unknown field" in _load_error(tmp_path, {"retries": 3})


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ValueError, match=r"nope\.yaml"):
        load_channels(missing)


# --- environment references -----------------------------------------------------------


def test_expand_env_defaults_values_and_nesting() -> None:
    env = {"HOST": "mail.example", "EMPTY": ""}
    data = {"a": "${HOST}:${PORT:-2525}", "b": ["${EMPTY:-fallback}", 3], "c": {"d": "$HOST"}}
    assert expand_env(data, env) == {
        "a": "mail.example:2525",
        "b": ["fallback", 3],
        "c": {"d": "$HOST"},  # only the braced form is a reference
    }


def test_unset_reference_without_default_is_an_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("IOC_TEST_NO_SUCH_VAR", raising=False)
    settings = {**HOOK, "url": "${IOC_TEST_NO_SUCH_VAR}"}
    message = _load_error(
        tmp_path, {"channels": [{"name": "hook", "type": "webhook", "settings": settings}]}
    )
    assert "IOC_TEST_NO_SUCH_VAR is not set" in message


def test_settings_take_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("IOC_TEST_HOOK_URL", "http://10.1.2.3:8080/hook")
    config = _config(
        {"name": "hook", "type": "webhook", "settings": {**HOOK, "url": "${IOC_TEST_HOOK_URL}"}}
    )
    assert str(config.channels[0].settings.url) == "http://10.1.2.3:8080/hook"


def test_channels_path_default_and_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IOC_CHANNELS_FILE", raising=False)
    assert channels_path(Settings()) == DEFAULT_CHANNELS_FILE
    other = tmp_path / "other.yaml"
    monkeypatch.setenv("IOC_CHANNELS_FILE", str(other))
    assert channels_path(Settings()) == other


# --- routing and grouping -------------------------------------------------------------


def _routing() -> ChannelsConfig:
    return _config(
        {"name": "all", "type": "webhook", "settings": HOOK},
        {"name": "soc", "type": "webhook", "settings": HOOK, "domains": ["security"]},
        {
            "name": "duty",
            "type": "webhook",
            "settings": HOOK,
            "domains": ["security", "environment"],
            "min_severity": "high",
        },
        {"name": "noisy", "type": "webhook", "settings": HOOK, "min_severity": "info"},
    )


@pytest.mark.parametrize(
    ("domain", "severity", "expected"),
    [
        (Domain.SECURITY, Severity.CRITICAL, ["all", "soc", "duty", "noisy"]),
        (Domain.SECURITY, Severity.MEDIUM, ["all", "soc", "noisy"]),
        (Domain.ENVIRONMENT, Severity.HIGH, ["all", "duty", "noisy"]),
        (Domain.CAMERA, Severity.CRITICAL, ["all", "noisy"]),
        (Domain.HEALTH, Severity.INFO, ["noisy"]),  # below the default minimum, low
    ],
)
def test_for_alert_routes_by_domain_and_severity(
    domain: Domain, severity: Severity, expected: list[str]
) -> None:
    assert [c.name for c in _routing().for_alert(domain, severity)] == expected


def test_group_key_default_is_the_rule() -> None:
    channel = _config({"name": "hook", "type": "webhook", "settings": HOOK}).channels[0]
    assert channel.group_key("aqi_high", {"station": "KG01"}) == 'rule="aqi_high"'
    assert channel.group_key("aqi_high", {"station": "KG02"}) == channel.group_key(
        "aqi_high", {"station": "KG01"}
    )


def test_group_key_by_labels_keeps_values_apart() -> None:
    channel = _config(
        {"name": "hook", "type": "webhook", "settings": HOOK, "group_by": ["rule", "a", "b"]}
    ).channels[0]
    assert channel.group_key("r", {"a": "1", "b": "2"}) == 'rule="r",a="1",b="2"'
    assert channel.group_key("r", {"b": "2"}) == 'rule="r",a="",b="2"'
    # Naive "a=x,b=y" joining would make these two equal.
    tricky = channel.group_key("r", {"a": '1",b="2', "b": ""})
    assert tricky != channel.group_key("r", {"a": "1", "b": '2",b="'})
    assert tricky != channel.group_key("r", {"a": "1", "b": "2"})


# --- retry timing (pure parts of the dispatcher) --------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    config = _config(backoff_seconds=10, backoff_max_seconds=60)
    waits = [config.backoff(n).total_seconds() for n in range(1, 7)]
    assert waits == [10, 20, 40, 60, 60, 60]
    assert config.backoff(10_000).total_seconds() == 60


def test_after_failure_retries_then_gives_up() -> None:
    config = _config(max_attempts=3, backoff_seconds=5)
    now = datetime(2025, 3, 7, 8, 0, tzinfo=UTC)
    transient = Failure("HTTP 503", retryable=True)
    assert after_failure(1, transient, config, now) == ("pending", now + timedelta(seconds=5))
    assert after_failure(2, transient, config, now) == ("pending", now + timedelta(seconds=10))
    assert after_failure(3, transient, config, now)[0] == "failed"
    assert after_failure(1, Failure("HTTP 404", retryable=False), config, now)[0] == "failed"


def test_group_rows_by_channel_and_key_in_order() -> None:
    def row(i: int, channel: str, key: str) -> OutboxRow:
        return OutboxRow(i, f"n{i}", channel, key, {}, 0)

    rows = [row(1, "a", "k1"), row(2, "b", "k1"), row(3, "a", "k2"), row(4, "a", "k1")]
    groups = group_rows(rows)
    assert {k: [r.id for r in v] for k, v in groups.items()} == {
        ("a", "k1"): [1, 4],
        ("b", "k1"): [2],
        ("a", "k2"): [3],
    }


# --- registry ---------------------------------------------------------------------------


def test_registry_finds_every_notifier_folder() -> None:
    assert notify.known_kinds() == ["email", "kafka", "mqtt", "webhook"]
    for kind in notify.known_kinds():
        cls = notify.notifier_type(kind)
        assert cls.kind == kind
        assert cls.__module__.startswith(f"processors.alerts.notify.{kind}.")


PAGER = """
from typing import ClassVar
from processors.alerts.notify.base import NotifierConfig


class PagerConfig(NotifierConfig):
    number: str


class Pager:
    kind: ClassVar[str] = "pager"
    Config: ClassVar[type[NotifierConfig]] = PagerConfig
    sent: ClassVar[list] = []

    def __init__(self, name, config, app):
        self.name, self.config = name, config

    def send(self, notification):
        Pager.sent.append((self.config.number, notification))

    def close(self):
        pass


NOTIFIER = Pager
"""


@pytest.fixture
def pager_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "pager"
    folder.mkdir()
    (folder / "__init__.py").write_text(PAGER)
    monkeypatch.setattr(notify, "__path__", [*notify.__path__, str(tmp_path)])
    notify._registry.cache_clear()
    yield
    notify._registry.cache_clear()
    sys.modules.pop("processors.alerts.notify.pager", None)


def test_a_new_folder_is_a_new_channel_type(pager_folder: None) -> None:
    assert "pager" in notify.known_kinds()
    config = _config({"name": "on-call", "type": "pager", "settings": {"number": "113"}})
    notifier = notify.build_notifier(config.channels[0], Settings())
    notification = notify.Notification("on-call", "k", [], [])
    notifier.send(notification)
    assert type(notifier).sent == [("113", notification)]
    with pytest.raises(ValueError, match="number"):
        _config({"name": "on-call", "type": "pager", "settings": {}})


def test_a_folder_without_notifier_is_refused(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "__init__.py").write_text("X = 1\n")
    monkeypatch.setattr(notify, "__path__", [*notify.__path__, str(tmp_path)])
    try:
        with pytest.raises(ImportError, match="broken has no NOTIFIER"):
            notify.discover(notify.__name__, notify.__path__)
    finally:
        sys.modules.pop("processors.alerts.notify.broken", None)
