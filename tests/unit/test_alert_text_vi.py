"""Vietnamese alert texts write numbers the Vietnamese way (decimal comma, dot between
thousands); the English texts of the same signal keep the English way."""

from __future__ import annotations

from datetime import timedelta

import orjson

from processors.environment.engine.durations import format_duration
from processors.environment.engine.text import render, render_vi

CONTEXT = {"change": 0.8734, "count": 12345, "station": "Xẻo Rô 1.2", "flag": True}
TEMPLATE = "{station}: +{change:.2f} m, {count:,} lần, {flag}"


def test_vietnamese_numbers_use_a_decimal_comma() -> None:
    assert render_vi(TEMPLATE, CONTEXT) == "Xẻo Rô 1.2: +0,87 m, 12.345 lần, True"


def test_english_numbers_are_unchanged() -> None:
    assert render(TEMPLATE, CONTEXT) == "Xẻo Rô 1.2: +0.87 m, 12,345 lần, True"


def test_durations_in_words_for_vietnamese() -> None:
    window = format_duration(timedelta(hours=1, minutes=30))
    context = {"window": window, "silence": format_duration(timedelta(0))}
    assert render_vi("trong {window}, im lặng {silence}", context) == (
        "trong 1 giờ 30 phút, im lặng 0 giây"
    )
    assert render("within {window}", context) == "within 1h30m"
    # Stored alert values keep the compact text.
    assert orjson.loads(orjson.dumps({"window": window})) == {"window": "1h30m"}
