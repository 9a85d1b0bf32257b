"""The pure layout of tools/dashboard_preview: grid positions to pixels as Grafana's grid
places them, threshold and mapping colours, Grafana's table column widths, unit text, and
the saved variable selection. The drawing itself is checked by looking at the pictures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from config.settings import REPO_ROOT
from dashboards.grafana_sql import ALL_VALUE
from dashboards.grafana_variables import Option
from tools.preview_data import saved_value, to_series
from tools.preview_layout import (
    NAMED,
    Box,
    Screen,
    column_widths,
    content_box,
    contrast_text,
    format_value,
    from_now,
    grid_bottom,
    grid_box,
    mapped,
    overlaps,
    threshold_colour,
)

KIOSK = Screen(1920, 1080, scale=2.0, chrome=0, padding=16)
AQI = {
    "mode": "absolute",
    "steps": [
        {"color": "#00e400", "value": None},
        {"color": "#ffff00", "value": 51.0},
        {"color": "#ff7e00", "value": 101.0},
    ],
}


def test_grid_cells_are_24_columns_of_30_px_rows_with_8_px_margins() -> None:
    # (1920 - 2*16 - 23*8) / 24 = 71 px per column.
    assert grid_box({"x": 0, "y": 0, "w": 1, "h": 1}, KIOSK) == Box(16, 16, 71, 30)
    assert grid_box({"x": 6, "y": 5, "w": 6, "h": 5}, KIOSK) == Box(
        16 + 6 * 79, 16 + 5 * 38, 6 * 71 + 5 * 8, 5 * 30 + 4 * 8
    )
    full = grid_box({"x": 0, "y": 0, "w": 24, "h": 28}, KIOSK)
    assert full.x + full.w == 1920 - 16  # the last column ends at the right padding
    assert full.h == 28 * 30 + 27 * 8 == 1056


def test_desk_grid_starts_below_grafanas_chrome() -> None:
    desk = Screen(1920, 1080, chrome=88)
    assert grid_box({"x": 0, "y": 2, "w": 12, "h": 9}, desk).y == 88 + 16 + 2 * 38


def test_content_leaves_the_title_bar_and_padding() -> None:
    assert content_box(Box(0, 0, 400, 300)) == Box(8, 32, 384, 260)


def test_committed_wall_panels_end_on_the_screen_and_do_not_overlap() -> None:
    wall = json.loads((REPO_ROOT / "dashboards/json/ioc-wall.json").read_text(encoding="utf-8"))
    assert overlaps(wall["panels"]) == []
    assert grid_bottom(wall["panels"], KIOSK) <= 1080


def test_overlap_and_bottom_are_found() -> None:
    panels = [
        {"title": "a", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 10}},
        {"title": "b", "gridPos": {"x": 11, "y": 9, "w": 13, "h": 20}},
    ]
    assert overlaps(panels) == [("a", "b")]
    assert grid_bottom(panels, KIOSK) == 16 + 9 * 38 + 20 * 30 + 19 * 8 > 1080


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "#00e400"),
        (0, "#00e400"),
        (50.9, "#00e400"),
        (51, "#ffff00"),
        (100, "#ffff00"),
        (101, "#ff7e00"),
        (500, "#ff7e00"),
        (float("nan"), "#00e400"),
    ],
)
def test_threshold_colour_is_the_last_step_reached(value: float | None, expected: str) -> None:
    assert threshold_colour(value, AQI) == expected


def test_named_colours_and_no_thresholds() -> None:
    steps = {"steps": [{"color": "green", "value": None}, {"color": "dark-red", "value": 1}]}
    assert threshold_colour(0, steps) == NAMED["green"] == "#73BF69"
    assert threshold_colour(3, steps) == "#C4162A"
    assert threshold_colour(3, None) == NAMED["green"]


def test_value_mapping_gives_text_and_colour() -> None:
    mappings = [
        {
            "type": "value",
            "options": {
                "bd1": {"color": "#ffff00", "text": "Báo động I"},
                "ok": {"text": "Bình thường"},
            },
        }
    ]
    assert mapped("bd1", mappings) == ("Báo động I", "#ffff00")
    assert mapped("ok", mappings) == ("Bình thường", "")
    assert mapped("bd9", mappings) is None


def test_text_on_a_colour_is_dark_on_light_and_white_on_dark() -> None:
    assert contrast_text("#ffff00") == "#000000"
    assert contrast_text("#7e0023") == "#ffffff"


def test_table_columns_share_the_width_but_not_below_150_px() -> None:
    assert column_widths([{}] * 4, 800) == [200] * 4
    assert column_widths([{}] * 6, 766) == [150] * 6  # wider than the panel: it scrolls
    fixed = column_widths([{"custom": {"width": 300}}, {}, {}], 700)
    assert fixed == [300, 200, 200]


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "expected"),
    [
        (17.2, "s", 0, "17 s"),
        (125, "s", 0, "2 min"),
        (53_687_091, "bytes", None, "51.2 MiB"),
        (1500, "short", None, "1.5 K"),
        (2.345, "lengthm", 2, "2.35 m"),
        (42, None, None, "42"),
        (16.66, "conμgm3", None, "16.7 µg/m³"),
        ("firing", None, None, "firing"),
    ],
)
def test_units_as_grafana_writes_them(
    value: object, unit: str | None, decimals: int | None, expected: str
) -> None:
    assert format_value(value, unit, decimals) == expected


def test_times_in_the_viewers_zone_and_from_now() -> None:
    from zoneinfo import ZoneInfo

    when = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert format_value(when, tz=ZoneInfo("Asia/Ho_Chi_Minh")) == "2026-12-03 15:00:00"
    assert from_now(when, when + timedelta(minutes=5)) == "5 minutes ago"
    assert from_now(when, when + timedelta(seconds=10)) == "a few seconds ago"


def test_long_rows_become_one_series_per_metric() -> None:
    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    rows = [(t1, "b", 2.0), (t0, "a", 1.0), (t1, "a", None)]
    series = to_series(["time", "metric", "value"], rows)
    assert [(s.name, s.times, s.values) for s in series] == [
        ("b", [t1], [2.0]),
        ("a", [t0, t1], [1.0, None]),
    ]
    wide = to_series(["time", "p50", "p95"], [(t0, 1, 2)])
    assert [s.name for s in wide] == ["p50", "p95"]


def test_saved_selection_is_kept_where_it_still_exists() -> None:
    found = [Option("x", "x"), Option("restricted_area", "restricted_area")]
    raw = {
        "name": "zone",
        "multi": True,
        "includeAll": False,
        "current": {"value": ["restricted_area", "border_line"]},
    }
    assert saved_value(raw, found).value == ["restricted_area"]
    raw["current"] = {"value": ["gone"]}
    assert saved_value(raw, found).value == ["x"]  # none left: the first option
    every = {"name": "s", "multi": True, "includeAll": True, "current": {"value": [ALL_VALUE]}}
    assert saved_value(every, found).is_all
