"""QCVN 05:2023/BTNMT exceedances."""

from __future__ import annotations

import json
from datetime import date

import pytest

from processors.environment.qcvn import assess, exceedance, parse_standard, standard

ON = date(2024, 6, 1)


@pytest.mark.parametrize(
    ("pollutant", "period", "limit"),
    [
        ("so2", "1h", 350),
        ("so2", "24h", 125),
        ("so2", "annual", 50),
        ("co", "1h", 30000),
        ("co", "8h", 10000),
        ("no2", "1h", 200),
        ("no2", "24h", 100),
        ("no2", "annual", 40),
        ("o3", "1h", 200),
        ("o3", "8h", 120),
        ("tsp", "1h", 300),
        ("tsp", "24h", 200),
        ("tsp", "annual", 100),
        ("pm10", "24h", 100),
        ("pm10", "annual", 50),
        ("pm25", "24h", 50),
        ("pm25", "annual", 25),
    ],
)
def test_limits_match_the_regulation(pollutant: str, period: str, limit: float) -> None:
    assert assess(pollutant, period, 1.0, ON).limit == limit


@pytest.mark.parametrize(
    ("pollutant", "period"), [("pm10", "1h"), ("pm25", "8h"), ("co", "24h"), ("o3", "annual")]
)
def test_no_limit_gives_none(pollutant: str, period: str) -> None:
    assert assess(pollutant, period, 1e6, ON) is None


def test_unknown_pollutant_has_no_limit() -> None:
    assert assess("temperature", "1h", 40.0, ON) is None


def test_unknown_period_is_an_error() -> None:
    with pytest.raises(ValueError, match="period"):
        assess("pm25", "2h", 10.0, ON)


def test_pm25_24h_limit_tightens_on_2026_01_01() -> None:
    before = assess("pm25", "24h", 47.0, date(2025, 12, 31))
    after = assess("pm25", "24h", 47.0, date(2026, 1, 1))
    assert (before.limit, before.exceeded) == (50, False)
    assert (after.limit, after.exceeded) == (45, True)
    assert after.ratio == pytest.approx(47 / 45)
    assert after.limit_valid_from == date(2026, 1, 1)
    # The annual PM2.5 limit does not change with it.
    assert assess("pm25", "annual", 20.0, date(2026, 6, 1)).limit == 25


def test_equal_to_the_limit_complies() -> None:
    result = assess("no2", "1h", 200.0, ON)
    assert not result.exceeded
    assert result.ratio == 1.0


def test_exceedance_returns_only_exceeded() -> None:
    assert exceedance("no2", "1h", 150.0, ON) is None
    hit = exceedance("no2", "1h", 300.0, ON)
    assert (hit.limit, hit.ratio) == (200, 1.5)
    assert "QCVN 05:2023" in hit.source


def test_exceedance_is_json_serialisable() -> None:
    doc = json.loads(json.dumps(exceedance("pm25", "24h", 90.0, date(2026, 3, 1)).to_dict()))
    assert doc["limit"] == 45
    assert doc["ratio"] == 2.0
    assert doc["limit_valid_from"] == "2026-01-01"


def test_quoted_dates_and_unknown_periods_in_data() -> None:
    doc = {
        "source": "test",
        "periods": ["24h"],
        "limits": {"x": {"24h": [{"value": 10}, {"value": 5, "valid_from": "2030-01-01"}]}},
    }
    std = parse_standard(doc)
    assert std.limit("x", "24h", date(2030, 1, 1)).value == 5
    doc["limits"]["x"]["1h"] = [{"value": 1}]
    with pytest.raises(ValueError, match="unknown periods"):
        parse_standard(doc)


def test_shipped_data_loads_once() -> None:
    assert standard() is standard()
