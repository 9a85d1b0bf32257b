"""The simulated fleet, loaded into typed, immutable objects: stream shares and signal
profiles from fleet.yaml, devices and cameras per province from fleets/*.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from simulators.signals import PATTERNS, MetricModel

FLEET_FILE = Path(__file__).with_name("fleet.yaml")
# One file per province (2025 names): its devices and cameras, under `province:`.
FLEETS_DIR = Path(__file__).with_name("fleets")
PayloadFormat = Literal["native", "senml"]
STREAMS = ("sensors", "cameras", "logs")


@dataclass(frozen=True)
class Device:
    id: str
    type: str
    province: str
    lat: float
    lon: float
    format: PayloadFormat
    metrics: tuple[MetricModel, ...]
    district: str | None = None
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    former_province: str | None = None  # before the 2025 merger of provinces

    def spec_fields(self, expected_interval_s: int) -> dict[str, Any]:
        """Keyword arguments for store.devices.DeviceSpec.

        The metadata says which metrics and format to expect and that the device is
        simulated, so a console can tell it apart and a clean-up can find it.
        """
        metadata = {
            **self.metadata,
            **({"former_province": self.former_province} if self.former_province else {}),
            "simulated": True,
            "payload_format": self.format,
            "metrics": {m.name: m.unit for m in self.metrics},
        }
        return {
            "id": self.id,
            "type": self.type,
            "province": self.province,
            "lat": self.lat,
            "lon": self.lon,
            "district": self.district,
            "name": self.name,
            "expected_interval_s": expected_interval_s,
            "metadata": metadata,
        }


@dataclass(frozen=True)
class Zone:
    name: str
    x: tuple[float, float]
    y: tuple[float, float]

    def contains(self, fx: float, fy: float) -> bool:
        return self.x[0] <= fx < self.x[1] and self.y[0] <= fy < self.y[1]


Point = tuple[float, float]
CameraSource = Literal["frigate", "hikvision", "onvif"]


@dataclass(frozen=True)
class Line:
    """A counting line from p1 to p2, as fractions of the frame (the registry's)."""

    name: str
    p1: Point
    p2: Point


@dataclass(frozen=True)
class Camera:
    name: str
    title: str
    province: str
    lat: float
    lon: float
    frame: tuple[int, int]
    labels: dict[str, float]
    zones: tuple[Zone, ...]
    lpr: bool = False  # Frigate 0.16+ licence plate recognition enabled on this camera
    former_province: str | None = None
    lines: tuple[Line, ...] = ()
    # Who reports for it: a Frigate NVR over MQTT, the camera itself by ISAPI push over
    # HTTP (Hikvision), or a VMS relaying ONVIF events to Kafka.
    source: CameraSource = "frigate"
    channel: int = 1  # ISAPI channelID
    ip: str | None = None  # what an ISAPI push says in ipAddress

    def spec_fields(self, expected_interval_s: int) -> dict[str, Any]:
        """Keyword arguments for store.devices.DeviceSpec: the camera as a device of type
        `camera` under its Frigate name, which its stats readings carry as device id."""
        return {
            "id": self.name,
            "type": "camera",
            "province": self.province,
            "lat": self.lat,
            "lon": self.lon,
            "name": self.title,
            "expected_interval_s": expected_interval_s,
            "metadata": {
                "simulated": True,
                "source": self.source,
                "frame": list(self.frame),
                "zones": [z.name for z in self.zones],
                "lines": [line.name for line in self.lines],
                "lpr": self.lpr,
                **({"former_province": self.former_province} if self.former_province else {}),
            },
        }


@dataclass(frozen=True)
class Fleet:
    devices: tuple[Device, ...]
    cameras: tuple[Camera, ...]
    stream_shares: dict[str, float]


def _metric(name: str, raw: dict[str, Any]) -> MetricModel:
    model = MetricModel(name=name, **raw)
    if model.pattern not in PATTERNS:
        raise ValueError(f"metric {name}: unknown pattern {model.pattern!r}")
    return model


def _device(raw: dict[str, Any], profiles: dict[str, dict[str, Any]]) -> Device:
    raw = dict(raw)
    profile = profiles[raw.pop("profile")] if "profile" in raw else {}
    # A device's own metrics override (or add to) the profile's, metric by metric.
    specs = {**profile, **raw.pop("metrics", {})}
    metrics = tuple(_metric(name, spec) for name, spec in specs.items())
    if not metrics:
        raise ValueError(f"device {raw.get('id')}: no metrics")
    return Device(metrics=metrics, **raw)


def _camera(raw: dict[str, Any]) -> Camera:
    zones = tuple(Zone(z["name"], tuple(z["x"]), tuple(z["y"])) for z in raw.get("zones", ()))
    lines = tuple(
        Line(line["name"], tuple(line["points"][0]), tuple(line["points"][1]))
        for line in raw.get("lines", ())
    )
    return Camera(**{**raw, "zones": zones, "lines": lines, "frame": tuple(raw["frame"])})


def _members(
    data: dict[str, Any], profiles: dict[str, dict[str, Any]]
) -> tuple[list[Device], list[Camera]]:
    """A file's devices and cameras; entries without a province take the file's."""
    province = data.get("province")

    def placed(raw: dict[str, Any]) -> dict[str, Any]:
        return {"province": province, **raw} if province else raw

    devices = [_device(placed(raw), profiles) for raw in data.get("devices") or ()]
    cameras = [_camera(placed(raw)) for raw in data.get("cameras") or ()]
    return devices, cameras


def load_fleet(path: Path = FLEET_FILE, provinces: Path | None = None) -> Fleet:
    """The stream shares and profiles of `path` with the devices and cameras of `path`
    and of every file in `provinces` (the shipped fleets/ when `path` is the shipped
    fleet.yaml)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    profiles = data.get("profiles", {})
    devices, cameras = _members(data, profiles)
    if provinces is None and path == FLEET_FILE:
        provinces = FLEETS_DIR
    for province_file in sorted(provinces.glob("*.yaml")) if provinces else ():
        more_devices, more_cameras = _members(
            yaml.safe_load(province_file.read_text(encoding="utf-8")), profiles
        )
        devices += more_devices
        cameras += more_cameras
    ids = [d.id for d in devices] + [c.name for c in cameras]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate device ids in {path}: {sorted(duplicates)}")
    shares = {name: float(share) for name, share in data["streams"].items()}
    if set(shares) != set(STREAMS):
        raise ValueError(f"{path}: streams must give a share to each of {STREAMS}")
    return Fleet(devices=tuple(devices), cameras=tuple(cameras), stream_shares=shares)
