"""The camera registry and the camera rule pack: the shipped files load, schedules cross
midnight in local time, aliases resolve, and every mistake is reported as
file:line: field: message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.timezone import LOCAL_TZ
from processors.cameras import load_camera_detectors
from processors.cameras.registry import RegistryError, load_registry
from processors.cameras.rules import CameraRulesError, load_camera_rules

GOOD = """\
timezone: Asia/Ho_Chi_Minh
cameras:
  gate:
    site: Cảng Cam Ranh
    frame: {width: 1280, height: 720}
    zones:
      cong:
        aliases: ["1"]
        restricted: {labels: [person, truck], closed: ["22:00-05:00"]}
      bai:
        restricted: {labels: [person], closed: ["00:00-24:00"]}
      ngay:
        restricted: {labels: [person], closed: ["08:00-17:30"]}
    lines:
      vach:
        points: [[0.1, 0.6], [0.9, 0.6]]
        in: right_to_left
        aliases: ["1"]
  anpr1: {site: QL1A, source: hikvision}
  anpr2: {site: QL1A, source: hikvision}
segments:
  ql1: {from: anpr1, to: anpr2, distance_m: 1800}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def local(hour: int, minute: int = 0) -> datetime:
    """Today at hour:minute in Vietnam (UTC+7), as UTC."""
    return datetime(2026, 12, 3, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)


def test_shipped_registry_and_pack_load() -> None:
    registry = load_registry()
    assert registry.cameras and registry.segments
    assert "camranh_port_gate:gate_line" in registry.counting_points()
    names = [d.name for d in load_camera_detectors()]
    assert names == [
        "camera.intrusion",
        "camera.loitering",
        "camera.crowding",
        "camera.crossing",
        "camera.plates",
        "camera.health",
    ]
    load_camera_rules()


def test_closed_hours_cross_midnight_in_local_time(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, GOOD))
    camera = registry.camera("gate")
    assert camera is not None
    cong = camera.zones["cong"]
    for hour, minute, closed in [
        (21, 59, False),
        (22, 0, True),
        (23, 30, True),
        (0, 0, True),
        (4, 59, True),
        (5, 0, False),
        (12, 0, False),
    ]:
        assert registry.closed(cong, local(hour, minute)) is closed, (hour, minute)
    always = camera.zones["bai"]
    assert all(registry.closed(always, local(h)) for h in range(24))
    day = camera.zones["ngay"]
    assert registry.closed(day, local(8)) and registry.closed(day, local(17, 29))
    assert not registry.closed(day, local(17, 30)) and not registry.closed(day, local(7, 59))


def test_zones_and_lines_by_name_or_alias(tmp_path: Path) -> None:
    camera = load_registry(write(tmp_path, GOOD)).camera("gate")
    assert camera is not None
    assert camera.zone("1") == camera.zone("cong") == ("cong", camera.zones["cong"])
    assert camera.zone("2") is None
    found = camera.line("1")
    assert found is not None and found[0] == "vach"
    assert [k for k, _ in camera.zones_of(("1", "cong", "bai", "nowhere"))] == ["cong", "bai"]


def test_line_direction_words(tmp_path: Path) -> None:
    text = GOOD.replace(
        'aliases: ["1"]\n  anpr1',
        'aliases: ["1"]\n        directions: {"B->A": in, default: out}\n  anpr1',
    )
    camera = load_registry(write(tmp_path, text)).camera("gate")
    assert camera is not None
    line = camera.lines["vach"]
    assert line.direction_of("B->A") == "in"  # the line's own words win
    assert line.direction_of("A->B") == "in"
    assert line.direction_of("exit") == "out"
    assert line.direction_of(None) == "out"  # default
    assert line.direction_of("sideways") is None


@pytest.mark.parametrize(
    ("edit", "line", "field", "message"),
    [
        (
            ('closed: ["22:00-05:00"]', 'closed: ["22:00-25:00"]'),
            9,
            "cameras.gate.zones.cong.restricted.closed[0]",
            "not a time of day",
        ),
        (
            ('closed: ["22:00-05:00"]', 'closed: ["22:00-22:00"]'),
            9,
            "cameras.gate.zones.cong.restricted.closed[0]",
            "is empty",
        ),
        (
            ("labels: [person, truck]", "labels: [person, tank]"),
            9,
            "cameras.gate.zones.cong.restricted.labels",
            "'tank'",
        ),
        (("in: right_to_left", "in: upwards"), 17, "cameras.gate.lines.vach.in", "left_to_right"),
        (
            ("[[0.1, 0.6], [0.9, 0.6]]", "[[0.1, 0.6], [1.9, 0.6]]"),
            16,
            "cameras.gate.lines.vach.points[1][0]",
            "less than or equal to 1",
        ),
        (("to: anpr2", "to: anpr9"), 21, "segments", "camera 'anpr9' is not in `cameras`"),
        (
            ("timezone: Asia/Ho_Chi_Minh", "timezone: Mars/Olympus"),
            1,
            "timezone",
            "unknown time zone",
        ),
        (("    frame: {width: 1280, height: 720}\n", ""), 3, "cameras.gate", "lines need `frame`"),
        (
            ("      bai:\n", '      "1":\n'),
            3,
            "cameras.gate",
            "zone name '1' is used by 'cong' too",
        ),
    ],
)
def test_registry_errors_name_file_line_and_field(
    tmp_path: Path, edit: tuple[str, str], line: int, field: str, message: str
) -> None:
    assert edit[0] in GOOD
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(RegistryError) as raised:
        load_registry(path)
    errors = raised.value.errors
    assert len(errors) == 1, errors
    error = errors[0]
    assert error.file.endswith("registry.yaml")
    assert (error.line, error.field) == (line, field), str(error)
    assert message in error.message, str(error)


def test_registry_yaml_syntax_error_and_duplicate_key(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as raised:
        load_registry(write(tmp_path, GOOD.replace("  anpr2: {", "  anpr1: {")))
    assert any("duplicate key" in str(e) for e in raised.value.errors)
    with pytest.raises(RegistryError) as raised:
        load_registry(write(tmp_path, "cameras: [\n"))
    assert "YAML syntax error" in str(raised.value)


def test_rule_pack_errors_name_file_line_and_field(tmp_path: Path) -> None:
    from processors.cameras.rules import RULES_FILE

    text = RULES_FILE.read_text(encoding="utf-8")
    bad = text.replace(
        '{zone_name} – {camera_name}"\n      title_en: "Intrusion',
        '{zone_nam} – {camera_name}"\n      title_en: "Intrusion',
        1,
    )
    assert bad != text
    path = tmp_path / "cameras.yaml"
    path.write_text(
        bad.replace("episode_gap_seconds: 300", "episode_gap_seconds: -1"), encoding="utf-8"
    )
    with pytest.raises(CameraRulesError) as raised:
        load_camera_rules(path)
    shown = [str(e) for e in raised.value.errors]
    assert len(shown) == 2, shown
    assert any("intrusion.episode_gap_seconds" in s and "greater than 0" in s for s in shown)
    assert any("intrusion.text" in s and "unknown placeholder {zone_nam}" in s for s in shown)
    for s in shown:
        assert s.startswith(f"{path}:") or s.startswith("/"), s


def test_rules_check_covers_the_camera_registry_and_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cli.rules import rules_app
    from config.settings import get_settings

    result = CliRunner().invoke(rules_app, ["check"])
    assert result.exit_code == 0, result.output
    assert "ok: 10 cameras, 7 counting lines, 1 segment, 6 camera rules" in result.output

    bad = write(tmp_path, GOOD.replace("in: right_to_left", "in: sideways"))
    monkeypatch.setenv("IOC_CAMERA_REGISTRY", str(bad))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(rules_app, ["check"])
    finally:
        monkeypatch.delenv("IOC_CAMERA_REGISTRY")
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert f"{bad}:17: cameras.gate.lines.vach.in: input should be" in result.output
