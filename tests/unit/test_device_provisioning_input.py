"""What integrators send about a device is checked before anything is written: ids,
provinces, coordinates, bulk files (every bad row named by its line), and the ACL block
a second login gets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.yaml_loader import ConfigErrors
from ingest.device_import import read_devices
from ingest.provisioning import DeviceChanges, DeviceInput
from stack.mosquitto_auth import render_acl

GOOD = {"id": "kg-rachgia-aq09", "type": "air_quality", "province": "Kiên Giang",
        "lat": 10.0125, "lon": 105.0809}  # fmt: skip


def _fields(error: ValidationError) -> set[str]:
    return {str(e["loc"][0]) for e in error.errors()}


def test_a_good_device_passes_and_keeps_its_fields():
    device = DeviceInput(**GOOD, metadata={"camera": "cong_chinh"})
    assert device.spec().province == "Kiên Giang"
    assert device.expected_interval_s == 60


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "a~1"}, "id"),  # a second login's separator
        ({"id": "a b"}, "id"),
        ({"id": "ioc-commands"}, "id"),  # a service account
        ({"province": "Kien Giang"}, "province"),  # without diacritics: not a name we know
        ({"province": "Atlantis"}, "province"),
        ({"lat": 105.08, "lon": 10.01}, "lat"),  # swapped
        ({"lat": 0.0, "lon": 0.0}, "lat"),  # no GPS fix
        ({"lat": float("nan")}, "lat"),
        ({"type": "Air Quality"}, "type"),
        ({"expected_interval_s": 0}, "expected_interval_s"),
        ({"metadata": {"x": "y" * 20_000}}, "metadata"),
        ({"name": "a\x00b"}, "name"),
        ({"metadata": {"a": ["b\x00"]}}, "metadata"),  # jsonb refuses \u0000
        ({"metadata": {"a\x00": 1}}, "metadata"),
        ({"password": "chosen"}, "password"),  # unknown fields are refused, not ignored
    ],
)
def test_bad_fields_are_named(change, field):
    with pytest.raises(ValidationError) as caught:
        DeviceInput(**{**GOOD, **change})
    assert field in _fields(caught.value)


def test_every_2025_and_former_province_name_is_accepted():
    for province in ("An Giang", "Cần Thơ", "Hậu Giang", "Khánh Hòa", "Thành phố Hồ Chí Minh"):
        assert DeviceInput(**{**GOOD, "province": province}).province == province


def test_a_patch_may_clear_a_name_but_not_a_required_field():
    assert DeviceChanges(name=None).changes() == {"name": None}
    with pytest.raises(ValueError, match="province cannot be null"):
        DeviceChanges(province=None).changes()


def test_csv_errors_name_every_bad_line(tmp_path: Path):
    path = tmp_path / "fleet.csv"
    path.write_text(
        "id,type,province,lat,lon,name,metadata\n"
        "ag-a,air_quality,An Giang,10.70,105.11,Châu Đốc,\n"
        "ag b,air_quality,An Giang,10.70,105.11,,\n"
        "ag-c,air_quality,Nowhere,10.70,105.11,,\n"
        'ag-d,camera,An Giang,10.70,105.11,,"{""frigate"": ""cam1""}"\n'
        "ag-a,air_quality,An Giang,10.70,105.11,,\n"
        "ag-e,air_quality,An Giang,10.70,105.11,,{not json\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigErrors) as caught:
        read_devices(path)
    where = {(e.line, e.field) for e in caught.value.errors}
    assert where == {(3, "id"), (4, "province"), (7, "metadata")}


def test_csv_repeated_ids_name_both_lines(tmp_path: Path):
    path = tmp_path / "fleet.csv"
    path.write_text(
        "id,type,province,lat,lon\nag-a,air_quality,An Giang,10.7,105.1\n"
        "ag-a,air_quality,An Giang,10.7,105.1\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigErrors, match=r"fleet.csv:3: id: device id ag-a repeats line 2"):
        read_devices(path)


def test_yaml_rows_and_their_lines(tmp_path: Path):
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "devices:\n"
        "  - {id: kh-cam-01, type: camera, province: Khánh Hòa, lat: 11.92, lon: 109.16,\n"
        "     metadata: {frigate_camera: cang_cam_ranh}}\n"
        "  - id: kh-aq-01\n"
        "    type: air_quality\n"
        "    province: Khánh Hòa\n"
        "    lat: 12.24\n"
        "    lon: 190.19\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigErrors) as caught:
        read_devices(path)
    assert [(e.line, e.field) for e in caught.value.errors] == [(8, "devices[1].lon")]
    path.write_text(path.read_text().replace("190.19", "109.19"), encoding="utf-8")
    rows = read_devices(path)
    assert [(line, d.id) for line, d in rows] == [(2, "kh-cam-01"), (4, "kh-aq-01")]
    assert rows[0][1].metadata == {"frigate_camera": "cang_cam_ranh"}


def test_second_logins_get_their_devices_topics_by_name():
    static = "pattern write ioc/v1/%u/telemetry\n"
    assert render_acl(static, ["dev-1", "ioc-ingest"]) == static
    acl = render_acl(static, ["dev-1", "dev-1~2", "ioc-ingest"])
    assert acl.startswith(static)
    block = acl.split("user dev-1~2\n", 1)[1].splitlines()[:3]
    assert block == [
        "topic write ioc/v1/dev-1/telemetry",
        "topic read ioc/v1/dev-1/commands",
        "topic write ioc/v1/dev-1/commands/ack",
    ]
