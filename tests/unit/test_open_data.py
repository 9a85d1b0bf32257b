"""Open data's pure parts: the configuration, ranges and limits, rendering (JSON, CSV,
the Link header), ETag matching, the answer cache, the catalogue page's escaping and the
public OpenAPI (nothing of the private API in it, and nothing public in the private one)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from fastapi.testclient import TestClient

from api.errors import ApiProblem
from api.public.app import create_public_app
from api.public.catalogue import render_page
from api.public.config import CONFIG_FILE, load_config
from api.public.delivery import (
    Answer,
    AnswerCache,
    PublicLimits,
    _matches,
    link_header,
    make_answer,
    render_csv,
)
from api.public.opendata import daily_range, hourly_range
from config.settings import Settings
from config.yaml_loader import ConfigErrors

CONFIG = load_config()
NOW = datetime(2026, 12, 3, 10, 25, tzinfo=UTC)


def _variant(tmp_path: Path, change: Any) -> Path:
    data = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "open_data.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_config_opens_environment_stations_only() -> None:
    assert set(CONFIG.stations.types) == {"air_quality", "water_level", "salinity"}
    assert [d.id for d in CONFIG.datasets] == [
        "stations", "aqi-hourly", "aqi-daily", "water-hourly", "warnings"
    ]  # fmt: skip
    assert CONFIG.licence.id == "CC-BY-4.0"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["limits"].update(requests="lots"), "limits.requests"),
        (lambda d: d["datasets"][3].update(metrics=["pm25"]), "datasets[3].metrics"),
        (lambda d: d["datasets"].append(d["datasets"][0]), "datasets"),
        (lambda d: d["datasets"][0].update(id="plates"), "datasets[0].id"),
        (lambda d: d["limits"].update(default_rows=10**6), "limits"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_a_wrong_config_names_its_line(tmp_path: Path, change: Any, message: str) -> None:
    with pytest.raises(ConfigErrors) as caught:
        load_config(_variant(tmp_path, change))
    assert f": {message}: " in str(caught.value)


def test_hourly_range_defaults_to_the_last_day_up_to_this_hour_end() -> None:
    start, end = hourly_range(CONFIG, None, None, NOW)
    assert end == datetime(2026, 12, 3, 11, tzinfo=UTC)
    assert end - start == timedelta(hours=24)
    # The same key all hour long.
    assert hourly_range(CONFIG, None, None, NOW + timedelta(minutes=30)) == (start, end)


def test_hourly_range_refuses_reversed_and_wide_ranges() -> None:
    with pytest.raises(ApiProblem) as reversed_:
        hourly_range(CONFIG, NOW, NOW - timedelta(hours=1), NOW)
    assert reversed_.value.code == "open_range_reversed"
    with pytest.raises(ApiProblem) as wide:
        hourly_range(CONFIG, NOW - timedelta(days=32), NOW, NOW)
    assert wide.value.code == "open_range_too_wide" and wide.value.params == {"days": 31}


def test_daily_range_is_local_days() -> None:
    late = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)  # 01:30 on the 4th in Vietnam
    start, end = daily_range(CONFIG, None, None, late)
    assert end == date(2026, 12, 4) and (end - start).days + 1 == 30
    with pytest.raises(ApiProblem) as old:
        daily_range(CONFIG, date(1900, 1, 1), None, late)
    assert old.value.code == "open_date_out_of_range"


def test_csv_has_a_header_and_empty_cells_for_nulls() -> None:
    rows = [{"station": "a", "hour": datetime(2026, 1, 1, tzinfo=UTC), "aqi": None}]
    text = render_csv(["station", "hour", "aqi"], rows).decode()
    assert list(csv.reader(io.StringIO(text))) == [
        ["station", "hour", "aqi"], ["a", "2026-01-01T00:00:00+00:00", ""]
    ]  # fmt: skip


def test_json_carries_licence_and_attribution() -> None:
    answer = make_answer(
        CONFIG, dataset="stations", fmt="json", query={"province": None}, columns=["id"],
        rows=[{"id": "x"}], truncated=False, max_age=60,
    )  # fmt: skip
    body = orjson.loads(answer.body)
    assert body["licence"]["url"] == "https://creativecommons.org/licenses/by/4.0/"
    assert body["attribution"].startswith("Nguồn:") and body["data"] == [{"id": "x"}]
    assert body["query"] == {} and answer.etag.startswith('"')


def test_the_link_header_is_ascii_and_names_the_licence() -> None:
    link = link_header(CONFIG)
    link.encode("ascii")
    assert link.startswith('<https://creativecommons.org/licenses/by/4.0/>; rel="license"')
    assert 'rel="describedby"' in link


def test_if_none_match() -> None:
    assert _matches('"a", "b"', '"b"') and _matches("*", '"x"') and _matches('W/"b"', '"b"')
    assert not _matches(None, '"b"') and not _matches('"c"', '"b"')


def test_the_cache_keeps_an_answer_for_its_seconds_and_a_bounded_number() -> None:
    clock = [0.0]
    cache = AnswerCache(2, clock=lambda: clock[0])
    made: list[str] = []

    def maker(name: str, max_age: int = 10) -> Any:
        return lambda: made.append(name) or Answer(name.encode(), "x", name, max_age, name)

    assert cache.get_or_make(("a",), maker("a")).body == b"a"
    assert cache.get_or_make(("a",), maker("a2")).body == b"a"
    clock[0] = 11
    assert cache.get_or_make(("a",), maker("a3")).body == b"a3"
    cache.get_or_make(("b",), maker("b"))
    cache.get_or_make(("c",), maker("c"))
    cache.get_or_make(("a",), maker("a4"))  # evicted by b and c
    cache.get_or_make(("n",), maker("n", max_age=0))
    cache.get_or_make(("n",), maker("n2", max_age=0))  # never kept
    assert made == ["a", "a3", "b", "c", "a4", "n", "n2"]


def test_the_cache_is_bounded_in_bytes_too() -> None:
    cache = AnswerCache(100, max_bytes=10)
    for name in ("aaaa", "bbbb", "cccc"):
        cache.get_or_make((name,), lambda n=name: Answer(n.encode(), "x", n, 60, n))
    assert cache.bytes == 8
    cache.get_or_make(("big",), lambda: Answer(b"x" * 11, "x", "big", 60, "big"))
    assert cache.bytes == 8  # too big to keep at all
    made: list[str] = []
    cache.get_or_make(("aaaa",), lambda: made.append("again") or Answer(b"aaaa", "x", "", 60, ""))
    assert made == ["again"]  # the oldest went to make room


def test_the_public_limit_refuses_past_its_rate() -> None:
    limits = PublicLimits.around(None, "2/minute")
    limits.check_public("192.0.2.1")
    limits.check_public("192.0.2.1")
    limits.check_public("192.0.2.2")
    with pytest.raises(ApiProblem) as refused:
        limits.check_public("192.0.2.1")
    assert refused.value.status == 429 and "Retry-After" in refused.value.headers


def test_the_catalogue_escapes_what_the_config_says(tmp_path: Path) -> None:
    def evil(data: dict[str, Any]) -> None:
        data["datasets"][0]["title_vi"] = "<script>alert(1)</script>"
        data["attribution_vi"] = 'Nguồn "<b>"'

    page = render_page(load_config(_variant(tmp_path, evil)))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Nguồn &quot;&lt;b&gt;&quot;" in page
    assert page.count("<tr>") == 1 + len(CONFIG.datasets)


def test_the_public_openapi_holds_the_public_operations_only() -> None:
    client = TestClient(create_public_app(Settings()))
    document = client.get("/openapi.json").json()
    paths = set(document["paths"])
    assert "/v1/stations" in paths and "/v1/aqi/hourly.csv" in paths
    assert not any(p.startswith("/api/") for p in paths)
    assert "securitySchemes" not in document.get("components", {})
    text = orjson.dumps(document).decode().lower()
    assert [w for w in ("bearer", "plate", "dead_letter", "admin", "csirt") if w in text] == []


def test_the_private_openapi_does_not_list_the_public_app() -> None:
    from api.app import create_app

    document = create_app(Settings()).openapi()
    assert not any(p.startswith("/public") for p in document["paths"])
