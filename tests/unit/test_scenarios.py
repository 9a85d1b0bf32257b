"""Scenarios as data and their timelines (pure): shipped files load and name real fleet
members and real rule ids; the same seed and start give the same bytes; event time is
start + offset; faults do what they say, as the real decoders see them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from config.timezone import LOCAL_TZ
from config.yaml_loader import ConfigErrors
from ingest.decode import decode
from ingest.http import isapi as isapi_push
from ingest.message import RawMessage
from ingest.routes import RoutesConfig, kafka_router, load_routes, mqtt_router
from processors.cameras import load_camera_detectors
from processors.environment.engine import RuleBook
from processors.epidemics.cases import parse_report
from processors.epidemics.communes import load_communes
from simulators.fleet import load_fleet
from simulators.messages import Outgoing
from simulators.scenario import (
    Scenario,
    last_local_time,
    load_scenario,
    pick_actors,
    resolve,
    shipped_scenarios,
)
from simulators.seclogs import load_catalog
from simulators.timeline import (
    CASES_PATH,
    Timed,
    build,
    cast,
    curve_level,
    dump_lines,
    iso_week_of,
)

REPO = Path(__file__).resolve().parents[2]
ROUTES = REPO / "deploy" / "ingest" / "routes.yaml"
FLEET = load_fleet()
CATALOG = load_catalog()
T0 = 1_795_482_000.0  # 2026-11-24T01:00:00Z


def _rule_ids() -> set[str]:
    ids = {r.id for r in RuleBook.load().rules}
    detections = yaml.safe_load((REPO / "processors/security/rules/detections.yaml").read_text())
    ids |= {d["id"] for d in detections["detections"]}
    for path in (REPO / "processors/security/rules/sigma").glob("*.yml"):
        ids.add("sigma." + yaml.safe_load(path.read_text())["id"])
    ids |= {d.name for d in load_camera_detectors()}
    ids.add(yaml.safe_load((REPO / "processors/cameras/plate_watch.yaml").read_text())["rule"])
    return ids


def _dump(scenario: Scenario, seed: int, start: float = T0) -> bytes:
    return b"".join(dump_lines(build(scenario, FLEET, CATALOG, start, seed)))


def test_at_least_six_scenarios_ship_across_environment_security_and_cameras() -> None:
    scenarios = [load_scenario(p) for p in shipped_scenarios()]
    assert len(scenarios) >= 6
    assert {"environment", "security", "cameras"} <= {s.domain for s in scenarios}


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_shipped_scenario_names_real_rules_and_fleet_members(path: Path) -> None:
    scenario = load_scenario(path)
    cast(scenario, FLEET)  # raises for a device or camera not in the fleet
    known = _rule_ids()
    for item in (*scenario.expect, *scenario.absent):
        assert item.rule in known, f"{path.name}: unknown rule {item.rule}"
    assert build(scenario, FLEET, CATALOG, T0, seed=1)


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_same_seed_same_bytes_other_seed_other_bytes(path: Path) -> None:
    scenario = load_scenario(path)
    first, again = _dump(scenario, seed=11), _dump(scenario, seed=11)
    assert first == again
    # Case reports are the health department's numbers: nothing in them is drawn.
    drawn = scenario.participants.devices or scenario.participants.cameras or scenario.logs
    assert (_dump(scenario, seed=12) != first) == bool(drawn)


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_every_message_decodes_with_event_time_start_plus_offset(
    path: Path, config: RoutesConfig
) -> None:
    scenario = load_scenario(path)
    bad = {f.device for f in scenario.faults if f.kind in ("malformed", "clock_skew", "spike")}
    for timed in build(scenario, FLEET, CATALOG, T0, seed=3):
        if timed.message.sender in bad:
            continue
        if timed.message.topic == CASES_PATH:
            _check_case_report(scenario, timed)
            continue
        decoded = _decoded(config, timed.message)
        assert decoded.dead_letter is None, (timed.message.payload, decoded.dead_letter)
        expected = datetime.fromtimestamp(T0 + timed.offset, UTC)
        assert {_time(e) for e in decoded.events} == {expected}, timed.message.payload[:200]


def _check_case_report(scenario: Scenario, timed: Timed) -> None:
    """A case report is read by the epidemics route, every row good, each week the ISO
    week of its `week` offset."""
    communes = load_communes().by_id.keys()
    rows, bad = parse_report(timed.message.payload, "csv", communes, {"dengue", "hfmd"})
    assert not bad and rows, timed.message.payload
    sent = [r for r in scenario.case_reports if r.at == timed.offset]
    weeks = [iso_week_of(T0 + r.week) for r in sent]
    assert [(r.commune, r.disease, r.week, r.cases) for r in rows] == [
        (r.commune, r.disease, w, r.cases) for r, w in zip(sent, weeks, strict=True)
    ]


def _time(event: Any) -> datetime:
    # A camera event's own moment is its frame time (its `time` is when it started).
    return getattr(event, "frame_time", None) or event.time


@pytest.fixture(scope="module")
def config() -> RoutesConfig:
    return load_routes(ROUTES)


def _decoded(config: RoutesConfig, message: Outgoing):  # type: ignore[no-untyped-def]
    if message.transport == "http":  # an ISAPI push, as the API hands it to the decoder
        push = isapi_push.split(message.content_type, message.payload, 1 << 20, 1 << 22)
        assert push.images or message.content_type == "application/xml"
        raw = RawMessage("http", isapi_push.topic(message.sender), push.xml)
        return decode(raw, isapi_push.router(), config.limits.max_message_bytes)
    router = mqtt_router(config) if message.transport == "mqtt" else kafka_router(config)
    raw = RawMessage(message.transport, message.topic, message.payload)
    return decode(raw, router, config.limits.max_message_bytes)


def _scenario(**extra: Any) -> Scenario:
    raw = {
        "title": "t",
        "domain": "environment",
        "duration": "1h",
        "participants": {"devices": ["kg-xeoro-wl01"], "step": "10m"},
        "curves": [
            {"device": "kg-xeoro-wl01", "metric": "waterLevel", "noise": False,
             "points": [[0, 0.5], ["30m", 0.8], ["1h", 0.2]]},
        ],
        "expect": [{"rule": "env.water_level"}],
        **extra,
    }  # fmt: skip
    return Scenario.model_validate(raw)


def _levels(scenario: Scenario) -> list[tuple[float, float | None]]:
    out = []
    for timed in build(scenario, FLEET, CATALOG, T0, seed=1):
        try:
            out.append((timed.offset, orjson.loads(timed.message.payload)["waterLevel"]))
        except orjson.JSONDecodeError:
            out.append((timed.offset, None))
    return out


def test_curves_are_linear_between_points_and_flat_outside() -> None:
    curve = _scenario().curves[0]
    assert curve_level(curve, 0) == 0.5
    assert curve_level(curve, 15 * 60) == pytest.approx(0.65)
    assert curve_level(curve, 45 * 60) == pytest.approx(0.5)
    assert curve_level(curve, 5 * 3600) == 0.2
    # [0, duration): six readings an hour at a 10-minute step.
    assert _levels(_scenario()) == [
        (0.0, 0.5), (600.0, 0.6), (1200.0, 0.7), (1800.0, 0.8), (2400.0, 0.6), (3000.0, 0.4)
    ]  # fmt: skip


def test_faults_dropout_duplicate_stuck_spike() -> None:
    device = "kg-xeoro-wl01"
    faults = [
        {"kind": "dropout", "device": device, "start": "10m", "end": "20m"},
        {"kind": "duplicate", "device": device, "start": "30m", "end": "40m"},
        {"kind": "stuck", "device": device, "metric": "waterLevel", "start": "40m", "end": "1h"},
        {"kind": "spike", "device": device, "metric": "waterLevel", "start": "25m", "value": 999},
    ]
    assert _levels(_scenario(faults=faults)) == [
        (0.0, 0.5), (1200.0, 0.7), (1800.0, 999), (1800.0, 999), (2400.0, 0.6), (3000.0, 0.6)
    ]  # fmt: skip


def test_clock_skew_and_malformed_as_the_decoders_see_them(config: RoutesConfig) -> None:
    device = "kg-xeoro-wl01"
    faults = [
        {"kind": "clock_skew", "device": device, "start": 0, "end": "20m", "skew": "-2h"},
        {"kind": "malformed", "device": device, "start": "30m", "end": "50m"},
    ]
    timeline = build(_scenario(faults=faults), FLEET, CATALOG, T0, seed=1)
    times, dead = [], []
    for timed in timeline:
        decoded = _decoded(config, timed.message)
        if decoded.dead_letter is not None:
            dead.append(timed.offset)
        else:
            times.append((timed.offset, decoded.events[0].time.timestamp() - T0))
    assert dead == [1800.0, 2400.0]
    assert times == [(0.0, -7200.0), (600.0, 600 - 7200.0), (1200.0, 1200.0), (3000.0, 3000.0)]


def test_actors_change_with_the_seed_and_fill_the_expected_labels() -> None:
    scenario = load_scenario(REPO / "simulators/scenarios/mail-ssh-bruteforce.yaml")
    one, two = pick_actors(scenario, 1), pick_actors(scenario, 2)
    assert one != two and one == pick_actors(scenario, 1)
    assert one["admin"].startswith("10.0.5.")
    concrete = resolve(scenario, 1)
    assert concrete.expect[0].labels == {"source_ip": one["attacker"]}
    assert concrete.logs[0].source == one["attacker"]
    keys = {t.message.key for t in build(scenario, FLEET, CATALOG, T0, seed=1)}
    assert keys == {one["attacker"].encode(), one["admin"].encode()}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"expect": [{"rule": "x", "labels": {"source_ip": "{nobody}"}}]}, "must name an actor"),
        (
            {"faults": [{"kind": "spike", "device": "kg-xeoro-wl01", "start": 0}]},
            "names its metric",
        ),
        ({"curves": [{"device": "elsewhere", "metric": "m", "points": [[0, 1]]}]}, "participant"),
        ({"expect": [{"rule": "x", "severity": "dire"}]}, "not one of"),
        ({"duration": "soon"}, "duration"),
    ],
)
def test_mistakes_are_named_with_their_line(tmp_path: Path, change: dict, message: str) -> None:
    raw = {
        "title": "t", "domain": "environment", "duration": "1h",
        "participants": {"devices": ["kg-xeoro-wl01"]}, "expect": [{"rule": "x"}], **change,
    }  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigErrors) as caught:
        load_scenario(path)
    assert message in str(caught.value)
    assert "s.yaml:" in str(caught.value)


def test_a_participant_outside_the_fleet_is_refused() -> None:
    scenario = _scenario(participants={"devices": ["kg-xeoro-wl01", "nowhere-wl01"]})
    with pytest.raises(ValueError, match="nowhere-wl01"):
        cast(scenario, FLEET)


# --- cameras on the timeline ------------------------------------------------------------


def _camera_scenario(*events: dict[str, Any], **extra: Any) -> Scenario:
    raw = {
        "title": "c",
        "domain": "cameras",
        "duration": "10m",
        "participants": {"cameras": ["camranh_port_gate", "kh-camranh-anpr01"]},
        "camera_events": list(events),
        "expect": [{"rule": "camera.intrusion"}],
        **extra,
    }
    return Scenario.model_validate(raw)


def test_a_frigate_object_is_new_updates_end_at_its_offsets() -> None:
    scenario = _camera_scenario(
        {"kind": "frigate_object", "camera": "camranh_port_gate", "at": "1m", "label": "person",
         "every": "3s", "path": [[0.1, 0.9], [0.3, 0.85], [0.4, 0.8]]}
    )  # fmt: skip
    events = [
        t for t in build(scenario, FLEET, CATALOG, T0, seed=1) if t.message.topic != "frigate/stats"
    ]
    bodies = [orjson.loads(t.message.payload) for t in events]
    assert [t.offset for t in events] == [60.0, 63.0, 66.0]
    assert [b["type"] for b in bodies] == ["new", "update", "end"]
    assert [b["after"]["frame_time"] for b in bodies] == [T0 + 60, T0 + 63, T0 + 66]
    assert bodies[-1]["after"]["entered_zones"] == ["gate_lane"]


def test_line_traffic_crosses_the_line_per_minute_from_the_side_asked() -> None:
    camera = next(c for c in FLEET.cameras if c.name == "camranh_port_gate")
    (line,) = camera.lines
    scenario = _camera_scenario(
        {"kind": "line_traffic", "camera": camera.name, "line": "gate_line", "at": "0s",
         "until": "2m", "per_minute": 12, "label": "car", "across": "left_to_right"}
    )  # fmt: skip
    tracks: dict[str, list[list[float]]] = {}
    for timed in build(scenario, FLEET, CATALOG, T0, seed=1):
        if timed.message.topic == "frigate/events":
            after = orjson.loads(timed.message.payload)["after"]
            tracks.setdefault(after["id"], []).append(after["box"])
    assert len(tracks) == 24
    width, height = camera.frame
    (ax, ay), (bx, by) = line.p1, line.p2
    for boxes in tracks.values():
        sides = []
        for x1, _, x2, y2 in boxes:
            fx, fy = (x1 + x2) / 2 / width, y2 / height
            sides.append((bx - ax) * (fy - ay) - (by - ay) * (fx - ax) > 0)
        # Image y grows downwards: the left of P1→P2 (the top for this line) is cross < 0.
        assert sides[0] is False and sides[-1] is True and sides.count(True) == 2


def test_an_isapi_read_is_an_http_push_signed_as_the_camera() -> None:
    scenario = _camera_scenario(
        {"kind": "isapi_anpr", "camera": "kh-camranh-anpr01", "at": "30s",
         "plate": "79-FI\n234.56", "picture": True}
    )  # fmt: skip
    (timed,) = [
        t for t in build(scenario, FLEET, CATALOG, T0, seed=1) if t.message.transport == "http"
    ]
    message = timed.message
    assert (timed.offset, message.sender, message.topic) == (
        30.0,
        "kh-camranh-anpr01",
        "/api/v1/ingest/isapi",
    )
    assert message.content_type is not None and message.content_type.startswith(
        "multipart/form-data"
    )
    assert b"<licensePlate>79-FI\n234.56</licensePlate>" in message.payload
    assert b"\xff\xd8\xff" in message.payload  # the JPEG part


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"camera_events": [{"kind": "isapi_anpr", "camera": "camranh_port_quay", "at": 0,
                             "plate": "51F12345"}]}, "not a participant"),
        ({"camera_events": [{"kind": "line_traffic", "camera": "camranh_port_gate",
                             "line": "gate_line", "at": "2m", "until": "1m", "per_minute": 5}]},
         "until must come after at"),
        ({"local_time": "25:00"}, "local time of day"),
        ({"max_speed": 0}, "greater than 0"),
    ],
)  # fmt: skip
def test_camera_scenario_mistakes_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _camera_scenario(**change)


def test_a_camera_event_of_the_wrong_kind_of_camera_is_refused() -> None:
    scenario = _camera_scenario(
        {"kind": "isapi_anpr", "camera": "camranh_port_gate", "at": 0, "plate": "51F12345"}
    )
    with pytest.raises(ValueError, match="does not push ISAPI"):
        build(scenario, FLEET, CATALOG, T0, seed=1)


def test_local_time_is_the_latest_such_moment_before_now() -> None:
    now = datetime(2026, 12, 3, 14, 0, tzinfo=UTC).timestamp()  # 21:00 in Viet Nam
    night = datetime.fromtimestamp(last_local_time("23:30", now), LOCAL_TZ)
    day = datetime.fromtimestamp(last_local_time("10:00", now), LOCAL_TZ)
    assert night.isoformat() == "2026-12-02T23:30:00+07:00"
    assert day.isoformat() == "2026-12-03T10:00:00+07:00"
    assert last_local_time("21:00", now) == now


def test_case_reports_post_weeks_already_over_and_scenarios_may_lie_in_the_past() -> None:
    report = {"commune": "ct-ninhkieu-tanan", "disease": "dengue", "cases": 3}
    scenario = _scenario(
        start_ago="10d", case_reports=[{**report, "at": "8d", "week": 0}], domain="epidemics"
    )
    assert scenario.start_ago == 10 * 86400
    with pytest.raises(ValueError, match="week must lie between 0 and its `at`"):
        _scenario(case_reports=[{**report, "at": "1d", "week": "7d"}])
    (timed,) = build(scenario, FLEET, CATALOG, T0, seed=1)[-1:]
    assert timed.offset == 8 * 86400 and timed.message.content_type == "text/csv"
    assert iso_week_of(T0) in timed.message.payload.decode()
