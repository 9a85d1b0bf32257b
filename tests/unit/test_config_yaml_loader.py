"""One YAML loader for every config file: each problem as file:line: field: message, the
line being the one a person has to edit."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from config.yaml_loader import ConfigErrors, load_data, load_model
from ingest.routes import load_routes
from processors.alerts.channels import load_channels
from processors.security.detectors.rules import RulePackError, load_rule_pack


def _errors(error: ConfigErrors) -> list[str]:
    return str(error).splitlines()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


ROUTES = """\
mqtt:
  share_group: ioc-ingest
  routes:
    - filter: ioc/v1/+/telemetry
      format: native_json
    - filter: frigate/events
      format: no_such_format
kafka:
  routes:
    - topic: seclog.syslog
      format: syslog
      partitions: 4
batching:
  max_messages: 0
"""


def test_broken_routes_file_names_each_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "routes.yaml", ROUTES)
    with pytest.raises(ConfigErrors) as caught:
        load_routes(path)
    lines = _errors(caught.value)
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"{path}:7: mqtt.routes[1].format: unknown format 'no_such_format'")
    assert lines[1] == f"{path}:12: kafka.routes[0].partitions: unknown field"
    assert lines[2] == (f"{path}:14: batching.max_messages: input should be greater than 0, got 0")


def test_shipped_routes_and_an_empty_routes_file_load(tmp_path: Path) -> None:
    shipped = load_routes(Path(__file__).resolve().parents[2] / "deploy/ingest/routes.yaml")
    assert shipped.mqtt.routes
    assert load_routes(_write(tmp_path, "routes.yaml", "")).batching.max_messages == 2000


CHANNELS = """\
max_attempts: 3
channels:
  - name: hook
    type: webhook
    settings:
      url: http://127.0.0.1:9/alerts
      secret: {env: H1_TEST_SECRET}
      timeout_seconds: soon
  - name: mail
    type: email
    min_severity: severe
    settings:
      host: 127.0.0.1
      sender: duty@localhost
      to: [duty@localhost]
"""


def test_broken_channels_file_names_each_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "channels.yaml", CHANNELS)
    with pytest.raises(ConfigErrors) as caught:
        load_channels(path)
    assert _errors(caught.value) == [
        f"{path}:8: channels[0].settings.timeout_seconds: input should be a valid number,"
        " unable to parse string as a number, got 'soon'",
        f"{path}:11: channels[1].min_severity: severity 'severe' is not one of info, low,"
        " medium, high, critical",
    ]


DETECTIONS = """\
version: 1
detections:
  - id: sec.bruteforce
    type: bruteforce
    severity: high
    window_seconds: 300
    threshold: 10
    title: {vi: "Dò mật khẩu", en: "Brute force"}
    summary: {vi: "{count} lần", en: "{count} tries"}
  - id: sec.portscan
    type: portscan
    severity: medium
    window_seconds: -5
    distinct_ports: 20
    distinct_hosts: 10
    title: {vi: "Quét cổng", en: "Port scan"}
    summary: {vi: "{attacker}", en: "{ports}"}
  - id: sec.other
    type: guesswork
    severity: low
"""


def test_broken_detections_file_names_each_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "detections.yaml", DETECTIONS)
    with pytest.raises(RulePackError) as caught:
        load_rule_pack(path)
    lines = _errors(caught.value)
    assert lines[0] == (
        f"{path}:13: detections[1].window_seconds: input should be greater than 0, got -5"
    )
    assert lines[1].startswith(f"{path}:17: detections[1].summary: vi: unknown placeholder")
    assert lines[2].startswith(f"{path}:19: detections[2].type: unknown kind 'guesswork'")
    assert len(lines) == 3, lines


def test_syntax_errors_and_duplicate_keys_have_lines(tmp_path: Path) -> None:
    broken = _write(tmp_path, "a.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigErrors, match=rf"^{broken}:3: YAML syntax error"):
        load_data(broken)
    doubled = _write(tmp_path, "b.yaml", "a: 1\nb:\n  c: 1\n  c: 2\n")
    with pytest.raises(ConfigErrors) as caught:
        load_data(doubled)
    assert str(caught.value) == f"{doubled}:4: b.c: duplicate key"


class _Nested(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int


class _Top(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[_Nested]


def test_load_model_points_into_lists(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.yaml", "items:\n  - port: 1\n  - port: x\n  -\n    portt: 2\n")
    with pytest.raises(ConfigErrors) as caught:
        load_model(path, _Top)
    assert _errors(caught.value) == [
        f"{path}:3: items[1].port: input should be a valid integer, unable to parse string"
        " as an integer, got 'x'",
        f"{path}:5: items[2].port: missing required field",
        f"{path}:5: items[2].portt: unknown field",
    ]


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match="cannot read"):
        load_model(tmp_path / "nope.yaml", _Top)
    with pytest.raises(ConfigErrors, match="the file is empty"):
        load_model(_write(tmp_path, "e.yaml", ""), _Top)
