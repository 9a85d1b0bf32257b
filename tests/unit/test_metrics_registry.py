"""The metric registry: names, aliases, units, physical ranges, and the YAML checks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from events.metrics import (
    DEFAULT_METRICS_FILE,
    METRIC_NAME,
    MetricError,
    get_registry,
    load_registry,
)
from events.models import MetricName, Quality

FIWARE_NAMES = [
    "pm25", "pm10", "no2", "so2", "o3", "co", "temperature", "relativeHumidity",
    "waterLevel", "salinity", "conductivity", "pH", "rainfall", "intensity", "occupancy",
    "averageVehicleSpeed", "batteryLevel",
]  # fmt: skip


@pytest.fixture(scope="module")
def registry():
    return load_registry(DEFAULT_METRICS_FILE)


def test_get_registry_reads_the_configured_file_once() -> None:
    assert get_registry() is get_registry()
    assert "pm25" in get_registry().metrics


@pytest.mark.parametrize("name", FIWARE_NAMES)
def test_fiware_metrics_have_unit_and_physical_range(registry, name: str) -> None:
    spec = registry.metrics[name]
    assert spec.unit
    assert math.isfinite(spec.minimum) and math.isfinite(spec.maximum)
    assert spec.minimum < spec.maximum


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("temp", "temperature"),
        ("humidity", "relativeHumidity"),
        ("SDS_P1", "pm10"),
        ("SDS_P2", "pm25"),
        ("water_level", "waterLevel"),
        ("PM2.5", "pm25"),
        ("sds_p2", "pm25"),  # aliases match case-insensitively
        ("Temperature", "temperature"),
        ("PH", "pH"),
        ("pm25", "pm25"),
    ],
)
def test_aliases_resolve_to_canonical_names(registry, alias: str, canonical: str) -> None:
    assert registry.resolve(alias).name == canonical


def test_unknown_valid_name_is_accepted_as_is(registry) -> None:
    spec = registry.resolve("soilMoisture_3")
    assert (spec.name, spec.unit, spec.known) == ("soilMoisture_3", None, False)
    assert spec.quality(-1e300) is Quality.GOOD


@pytest.mark.parametrize("name", ["bad name", "1abc", "", "a" * 65, "pm-25", "x/y"])
def test_invalid_names_are_rejected_with_reason(registry, name: str) -> None:
    with pytest.raises(MetricError, match="is not a valid metric name"):
        registry.resolve(name)


@pytest.mark.parametrize(
    "name", ["pm25", "a", "A_1", "x" * 64, "x" * 65, "1a", "a-b", "a b", "_a", "é"]
)
def test_metric_name_rule_matches_the_canonical_model(name: str) -> None:
    adapter = TypeAdapter(MetricName)
    try:
        adapter.validate_python(name)
        model_ok = True
    except ValidationError:
        model_ok = False
    assert bool(METRIC_NAME.fullmatch(name)) is model_ok


@pytest.mark.parametrize(
    ("metric", "value", "quality"),
    [
        ("pm25", 0.0, Quality.GOOD),
        ("pm25", 1000.0, Quality.GOOD),
        ("pm25", -0.5, Quality.BAD),
        ("pm25", 5000.0, Quality.BAD),
        ("relativeHumidity", 101.0, Quality.BAD),
        ("pH", 14.5, Quality.BAD),
        ("temperature", -40.0, Quality.GOOD),
        ("waterLevel", -2.1, Quality.GOOD),  # below the national datum at low tide
    ],
)
def test_out_of_physical_range_is_bad_not_rejected(registry, metric, value, quality) -> None:
    assert registry.resolve(metric).quality(value) is quality


@pytest.mark.parametrize(
    ("metric", "unit", "value", "expected"),
    [
        ("waterLevel", "cm", 125.0, 1.25),
        ("waterLevel", "mm", 800.0, 0.8),
        ("waterLevel", "m", 2.0, 2.0),
        ("temperature", "K", 300.15, 27.0),
        ("temperature", "degF", 86.0, 30.0),
        ("temperature", "°C", 29.0, 29.0),
        ("relativeHumidity", "%", 80.0, 80.0),
        ("relativeHumidity", "/", 0.8, 80.0),
        ("salinity", "/1000", 4.0, 4.0),
        ("salinity", "‰", 4.0, 4.0),
        ("salinity", "g/L", 1.0, 1.0),
        ("no2", "ppb", 100.0, 188.162),
        ("co", "mg/m3", 10.0, 10000.0),
        ("conductivity", "mS/cm", 1.5, 1500.0),
        ("averageVehicleSpeed", "m/s", 10.0, 36.0),
        ("rainfall", "mm/h", 12.0, 12.0),
        ("batteryLevel", "/", 0.5, 50.0),
    ],
)
def test_unit_conversion_to_canonical(registry, metric, unit, value, expected) -> None:
    spec = registry.resolve(metric)
    assert registry.conversion(spec, unit).apply(value) == pytest.approx(expected)


def test_incompatible_unit_names_both_units(registry) -> None:
    with pytest.raises(MetricError, match=r"unit 'Cel' cannot be converted to 'ug/m3'.*pm25"):
        registry.conversion(registry.resolve("pm25"), "Cel")
    with pytest.raises(MetricError, match="'mm' cannot be converted to 'mm/h'"):
        registry.conversion(registry.resolve("rainfall"), "mm")  # an amount is not a rate


def test_unknown_metric_takes_any_unit(registry) -> None:
    spec = registry.resolve("leafWetness")
    assert registry.conversion(spec, "furlong").apply(3.0) == 3.0


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "metrics.yaml"
    path.write_text(text)
    return path


def test_alias_claimed_twice_is_a_load_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "metrics:\n"
        "  a: {unit: m, min: 0, max: 1, aliases: [x]}\n"
        "  b: {unit: m, min: 0, max: 1, aliases: [X]}\n",
    )
    with pytest.raises(ValueError, match="claimed by both"):
        load_registry(path)


def test_inverted_range_is_a_load_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "metrics:\n  a: {unit: m, min: 5, max: 1}\n")
    with pytest.raises(ValueError, match=r"(?s)metrics\.yaml.*must be below max"):
        load_registry(path)


def test_invalid_metric_name_in_yaml_is_a_load_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "metrics:\n  'pm 2.5': {unit: m, min: 0, max: 1}\n")
    with pytest.raises(ValueError, match="not a valid metric name"):
        load_registry(path)


def test_unknown_yaml_key_is_a_load_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "metrics:\n  a: {unit: m, min: 0, max: 1, maximum: 3}\n")
    with pytest.raises(ValueError, match="maximum"):
        load_registry(path)
