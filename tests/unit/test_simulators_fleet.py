"""fleet.yaml: real places, sound device ids, each station's own alarm levels."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ingest.provisioning import DEVICE_ID_PATTERN
from simulators.fleet import STREAMS, load_fleet
from store.devices import DeviceSpec

FLEET = load_fleet()

# Vietnam's mainland and islands (Phú Quốc at the west, Móng Cái/Lũng Cú at the north).
VIETNAM_LAT = (8.18, 23.39)
VIETNAM_LON = (102.14, 109.47)
# Ids keep the prefix of the province a device belonged to before the 2025 merger.
PROVINCE_PREFIX = {
    "Kiên Giang": "kg", "Khánh Hòa": "kh", "Hậu Giang": "hg", "An Giang": "ag", "Cần Thơ": "ct",
}  # fmt: skip
# The merged provinces (2025) and the former ones they took in.
MERGED = {"Kiên Giang": "An Giang", "Hậu Giang": "Cần Thơ"}
PROVINCES_2025 = {"An Giang", "Cần Thơ", "Khánh Hòa"}
# The reference coordinates each place must stay close to (places.md, WGS 84).
PLACES = {
    "Rạch Giá": (10.0125, 105.0809),
    "Hà Tiên": (10.3831, 104.4880),
    "Phú Quốc": (10.2270, 103.9637),
    "Kiên Lương": (10.25, 104.60),
    "Nha Trang": (12.2388, 109.1967),
    "Cam Ranh": (11.9214, 109.1591),
    "Vị Thanh": (9.7788, 105.4636),
    "Ngã Bảy": (9.8156, 105.8136),
    "Xẻo Rô": (9.864, 105.113),
    "Tân Châu": (10.80, 105.24),
    "Châu Đốc": (10.7011, 105.1119),
    # Light traps (issue 15): a paddy area near the district town, APPROXIMATE (0.02°).
    "Thoại Sơn": (10.27, 105.25),
    "Tri Tôn": (10.40, 105.05),
    "Châu Thành": (10.43, 105.38),
    "Giồng Riềng": (9.91, 105.32),
    "Phụng Hiệp": (9.82, 105.70),
    "Cờ Đỏ": (10.10, 105.43),
}
PLACE_SLUG = {
    "rachgia": "Rạch Giá",
    "hatien": "Hà Tiên",
    "phuquoc": "Phú Quốc",
    "kienluong": "Kiên Lương",
    "nhatrang": "Nha Trang",
    "camranh": "Cam Ranh",
    "vithanh": "Vị Thanh",
    "ngabay": "Ngã Bảy",
    "xeoro": "Xẻo Rô",
    "tanchau": "Tân Châu",
    "chaudoc": "Châu Đốc",
    "thoaison": "Thoại Sơn",
    "triton": "Tri Tôn",
    "chauthanh": "Châu Thành",
    "giongrieng": "Giồng Riềng",
    "phunghiep": "Phụng Hiệp",
    "codo": "Cờ Đỏ",
}
DEVICE_ID = re.compile(r"^(kg|kh|hg|ag|ct)-([a-z]+)-(aq|wl|sal|tf|ld|lt)(\d\d)$")
TYPE_SUFFIX = {
    "air_quality": "aq",
    "water_level": "wl",
    "salinity": "sal",
    "traffic": "tf",
    "traffic_counter": "ld",  # inductive loop detector
    "light_trap": "lt",
}
# Frigate cameras are named as the NVR names them (place_what); cameras that report as
# themselves (ISAPI, ONVIF through a VMS) carry a device id like the stations'.
CAMERA_ID = re.compile(r"^(kg|kh|hg|ag)-([a-z]+)-(cam|anpr)(\d\d)$")
REGISTRY_FILE = Path(__file__).resolve().parents[2] / "deploy" / "cameras" / "registry.yaml"
REGISTRY = yaml.safe_load(REGISTRY_FILE.read_text(encoding="utf-8"))
AIR_METRICS = {"pm25", "pm10", "no2", "so2", "o3", "co", "temperature", "relativeHumidity"}


def _near(place: str, lat: float, lon: float) -> bool:
    ref_lat, ref_lon = PLACES[place]
    return abs(lat - ref_lat) < 0.02 and abs(lon - ref_lon) < 0.02


@pytest.mark.parametrize("device", FLEET.devices, ids=lambda d: d.id)
def test_device_sits_at_its_real_place_in_vietnam(device) -> None:
    assert VIETNAM_LAT[0] < device.lat < VIETNAM_LAT[1]
    assert VIETNAM_LON[0] < device.lon < VIETNAM_LON[1]
    match = DEVICE_ID.fullmatch(device.id)
    assert match, device.id
    prefix, slug, suffix, _ = match.groups()
    assert PROVINCE_PREFIX[device.former_province or device.province] == prefix
    assert device.province in PROVINCES_2025
    if device.former_province:
        assert MERGED[device.former_province] == device.province
    assert TYPE_SUFFIX[device.type] == suffix
    assert _near(PLACE_SLUG[slug], device.lat, device.lon)
    assert DEVICE_ID_PATTERN.fullmatch(device.id)  # provisioning accepts it


@pytest.mark.parametrize("camera", FLEET.cameras, ids=lambda c: c.name)
def test_camera_sits_at_its_real_place_and_its_zones_fit_the_frame(camera) -> None:
    match = CAMERA_ID.fullmatch(camera.name)
    assert (camera.source == "frigate") == (match is None), camera.name
    slug = match.group(2) if match else camera.name.split("_")[0]
    assert _near(PLACE_SLUG[slug], camera.lat, camera.lon)
    assert camera.province in PROVINCES_2025
    assert camera.zones or camera.lpr
    for zone in camera.zones:
        assert 0 <= zone.x[0] < zone.x[1] <= 1 and 0 <= zone.y[0] < zone.y[1] <= 1
    for line in camera.lines:
        assert all(0 <= v <= 1 for v in (*line.p1, *line.p2)) and line.p1 != line.p2
    assert set(camera.labels) <= {"person", "car", "motorcycle", "truck"}


@pytest.mark.parametrize("camera", FLEET.cameras, ids=lambda c: c.name)
def test_camera_matches_the_camera_registry(camera) -> None:
    """The rules know the simulated cameras: same id, source, zones and counting lines
    (with the registry's points, which line crossing is computed from)."""
    entry = REGISTRY["cameras"][camera.name]
    assert entry["source"] == camera.source
    assert {z.name for z in camera.zones} == set(entry.get("zones") or {})
    lines = entry.get("lines") or {}
    assert {line.name for line in camera.lines} == set(lines)
    for line in camera.lines:
        if "points" in lines[line.name]:
            assert [list(line.p1), list(line.p2)] == lines[line.name]["points"]


def test_cameras_cover_the_border_crossing_the_port_and_the_capital() -> None:
    places = {c.name.split("_")[0] for c in FLEET.cameras}
    assert {"hatien", "camranh", "rachgia"} <= places


def test_fleet_has_every_station_kind_in_every_province() -> None:
    kinds = {(d.type, d.province) for d in FLEET.devices}
    assert {p for t, p in kinds if t == "air_quality"} == PROVINCES_2025
    assert {p for t, p in kinds if t == "water_level"} == {"An Giang"}
    salinity = {d.id.split("-")[1] for d in FLEET.devices if d.type == "salinity"}
    assert salinity == {"xeoro", "vithanh", "ngabay"}
    assert {d.format for d in FLEET.devices} == {"native", "senml"}


def test_air_quality_stations_report_all_airqualityobserved_metrics() -> None:
    for device in FLEET.devices:
        if device.type == "air_quality":
            assert {m.name for m in device.metrics} == AIR_METRICS
            assert {m.unit for m in device.metrics if m.name not in ("temperature",)} <= {
                "ug/m3",
                "%RH",
            }


def test_each_water_level_station_carries_its_own_alarm_levels() -> None:
    levels = {d.id: d.metadata["alarm_levels"] for d in FLEET.devices if d.type == "water_level"}
    assert levels["ag-tanchau-wl01"] == {"bd1": 3.5, "bd2": 4.0, "bd3": 4.5}
    assert levels["ag-chaudoc-wl01"] == {"bd1": 3.0, "bd2": 3.5, "bd3": 4.0}
    assert levels["kg-xeoro-wl01"]["bd2"] == 0.9
    for station in levels.values():
        assert station["bd1"] < station["bd2"] < station["bd3"]
    xeo_ro = next(d for d in FLEET.devices if d.id == "kg-xeoro-wl01")
    assert xeo_ro.metadata["alarm_levels_assumed"] == ["bd1", "bd3"]
    for device in FLEET.devices:
        if device.type == "water_level":
            assert [(m.name, m.unit) for m in device.metrics] == [("waterLevel", "m")]
        if device.type == "salinity":
            assert [(m.name, m.unit) for m in device.metrics] == [("salinity", "/1000")]


def test_spec_fields_make_a_device_spec_that_says_it_is_simulated() -> None:
    device = next(d for d in FLEET.devices if d.id == "ag-tanchau-wl01")
    spec = DeviceSpec(**device.spec_fields(expected_interval_s=30))
    assert (spec.id, spec.type, spec.province) == ("ag-tanchau-wl01", "water_level", "An Giang")
    assert spec.expected_interval_s == 30
    assert spec.metadata["simulated"] is True
    assert spec.metadata["payload_format"] == "senml"
    assert spec.metadata["metrics"] == {"waterLevel": "m"}
    assert spec.metadata["alarm_levels"]["bd3"] == 4.5


def test_a_camera_is_registered_as_a_device_of_type_camera_under_its_frigate_name() -> None:
    camera = next(c for c in FLEET.cameras if c.name == "hatien_xaxia_gate_in")
    spec = DeviceSpec(**camera.spec_fields(expected_interval_s=60))
    assert (spec.id, spec.type, spec.province) == ("hatien_xaxia_gate_in", "camera", "An Giang")
    assert spec.metadata["former_province"] == "Kiên Giang"
    assert spec.name == "Cửa khẩu quốc tế Hà Tiên – làn nhập cảnh"
    assert (spec.lat, spec.lon, spec.expected_interval_s) == (10.3831, 104.4880, 60)
    assert spec.metadata["simulated"] is True
    assert spec.metadata["lpr"] is True
    ids = [c.name for c in FLEET.cameras] + [d.id for d in FLEET.devices]
    assert len(set(ids)) == len(ids)
    assert all(DEVICE_ID_PATTERN.fullmatch(c.name) for c in FLEET.cameras)


def test_stream_shares_cover_every_stream() -> None:
    assert set(FLEET.stream_shares) == set(STREAMS)
    assert all(share > 0 for share in FLEET.stream_shares.values())


def test_load_fleet_rejects_duplicate_ids_and_unknown_patterns(tmp_path) -> None:
    text = """
streams: {sensors: 1, cameras: 1, logs: 1}
cameras: []
devices:
  - {id: a-b-aq01, type: air_quality, province: X, lat: 10, lon: 105, format: native,
     metrics: {pm25: {pattern: %s, unit: ug/m3, base: 1}}}
  - {id: a-b-aq01, type: air_quality, province: X, lat: 10, lon: 105, format: native,
     metrics: {pm25: {pattern: traffic, unit: ug/m3, base: 1}}}
"""
    path = tmp_path / "fleet.yaml"
    path.write_text(text % "traffic")
    with pytest.raises(ValueError, match="duplicate"):
        load_fleet(path)
    path.write_text(text % "sawtooth")
    with pytest.raises(ValueError, match="sawtooth"):
        load_fleet(path)


def test_names_operators_read_do_not_say_approximate() -> None:
    """A coordinate known to 0.01° only is said in the metadata, not in the station name."""
    names = [d.name or "" for d in FLEET.devices] + [c.title for c in FLEET.cameras]
    assert not [n for n in names if re.search(r"approx|gần đúng|\(\?\)", n, re.IGNORECASE)]
    approximate = {d.id for d in FLEET.devices if d.metadata.get("location_approximate")}
    traps = {d.id for d in FLEET.devices if d.type == "light_trap"}
    assert approximate == {"kg-kienluong-aq01", "ag-tanchau-wl01"} | traps
