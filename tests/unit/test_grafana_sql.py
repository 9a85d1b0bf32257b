"""Grafana's PostgreSQL expansion, checked against what Grafana documents and tests.

Macro cases are those of Grafana's own pkg/tsdb/grafana-postgresql-datasource/
macros_test.go (same range, same expected text) and of the macro table in
https://grafana.com/docs/grafana/latest/datasources/postgres/query-editor/ ; variable
formats follow https://grafana.com/docs/grafana/latest/dashboards/variables/variable-syntax/
(servers = test1, test2) and the SQL data source's default quoting described in
https://grafana.com/docs/grafana/latest/datasources/postgres/template-variables/
("Grafana automatically creates a quoted, comma-separated string for multi-value
variables").
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboards.grafana_sql import (
    ALL_VALUE,
    Fill,
    MacroError,
    QueryContext,
    Variable,
    auto_interval,
    expand,
    expand_query,
    go_float,
    parse_interval,
    rfc3339_nano,
    seconds_to_hms,
)
from dashboards.grafana_variables import Choice, Option, VariableError, options, resolve

FROM = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
TO = FROM + timedelta(minutes=5)


def ctx(timescaledb: bool = False, interval: timedelta = timedelta(minutes=10),
        **variables: Variable) -> QueryContext:  # fmt: skip
    return QueryContext(FROM, TO, interval, variables, timescaledb=timescaledb)


# --- macros (macros_test.go, "Given a time range between 2018-04-12 00:00 and 00:05") -----


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("select $__time(time_column)", 'select time_column AS "time"'),
        ("select min($__time(time_column))", 'select min(time_column AS "time")'),
        ("select $__timeEpoch(time_column)", 'select extract(epoch from time_column) as "time"'),
        (
            "WHERE $__timeFilter(time_column)",
            "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
        ),
        ("select $__timeFrom()", "select '2018-04-12T18:00:00Z'"),
        ("select $__timeTo()", "select '2018-04-12T18:05:00Z'"),
        # pre-5.3 compatibility: a comma right after $__timeGroup means AS "time"
        (
            "SELECT $__timeGroup(time_column,'5m'), value",
            'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value',
        ),
        (
            "SELECT $__timeGroup(time_column,'5m') as time, value",
            "SELECT floor(extract(epoch from time_column)/300)*300 as time, value",
        ),
        (
            "SELECT $__timeGroup(time_column,'5m')",
            "SELECT floor(extract(epoch from time_column)/300)*300",
        ),
        (
            "SELECT $__timeGroupAlias(time_column,'5m')",
            'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"',
        ),
        ("$__timeGroup(time_column , '5m')", "floor(extract(epoch from time_column)/300)*300"),
        ("select $__unixEpochFilter(time)", "select time >= 1523556000 AND time <= 1523556300"),
        (
            "select $__unixEpochNanoFilter(time)",
            "select time >= 1523556000000000000 AND time <= 1523556300000000000",
        ),
        ("select $__unixEpochNanoFrom()", "select 1523556000000000000"),
        ("select $__unixEpochNanoTo()", "select 1523556300000000000"),
        (
            "SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')",
            "SELECT floor((time_column+time_adjustment)/300)*300",
        ),
        (
            "SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')",
            'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"',
        ),
        # sqleng.Interpolate (TestInterpolateSQLCommenter: interval 10 minutes -> "10m")
        ("SELECT $__interval", "SELECT 10m"),
        ("SELECT $__interval_ms", "SELECT 600000"),
        ("SELECT $__unixEpochFrom(), $__unixEpochTo()", "SELECT 1523556000, 1523556300"),
    ],
)
def test_macros_as_grafana_expands_them(raw: str, expected: str) -> None:
    assert expand(raw, ctx()) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("GROUP BY $__timeGroup(time_column,'5m')", "time_bucket('300.000s',time_column)"),
        ("GROUP BY $__timeGroup(time_column , '5m')", "time_bucket('300.000s',time_column)"),
        ("GROUP BY $__timeGroup(time_column , '12d')", "time_bucket('1036800.000s',time_column)"),
        ("GROUP BY $__timeGroup(time_column , '20ms')", "time_bucket('0.020s',time_column)"),
        ("$__timeGroupAlias(t, 1h)", "time_bucket('3600.000s',t) AS \"time\""),
    ],
)  # fmt: skip
def test_time_group_is_time_bucket_when_timescaledb_is_on(raw: str, expected: str) -> None:
    assert expand(raw, ctx(timescaledb=True)) == raw.split("$")[0] + expected


def test_time_filter_keeps_fractions_and_old_dates_like_rfc3339nano() -> None:
    start = datetime(1960, 2, 1, 7, 0, 0, 500_000, tzinfo=UTC)
    end = datetime(1980, 2, 3, 8, 0, 0, 500_000, tzinfo=UTC)
    context = QueryContext(start, end, timedelta(minutes=1))
    assert expand("WHERE $__timeFilter(t)", context) == (
        "WHERE t BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'"
    )
    assert expand("$__unixEpochFilter(t)", context) == "t >= -312915600 AND t <= 318412800"


def test_time_range_in_another_zone_is_printed_in_utc() -> None:
    hanoi = datetime(2026, 12, 3, 7, 0, tzinfo=UTC).astimezone()
    assert rfc3339_nano(hanoi) == "2026-12-03T07:00:00Z"


@pytest.mark.parametrize(
    ("raw", "fill"),
    [
        ("$__timeGroup(t, '5m', 0)", Fill(timedelta(minutes=5), "value", 0.0)),
        ("$__timeGroup(t, '5m', 1.5)", Fill(timedelta(minutes=5), "value", 1.5)),
        ("$__timeGroup(t, '1h', NULL)", Fill(timedelta(hours=1), "null")),
        ("$__timeGroupAlias(t, '1h', previous)", Fill(timedelta(hours=1), "previous")),
        ("$__timeGroup(t, '5m')", None),
    ],
)
def test_time_group_fill_is_recorded_for_the_result(raw: str, fill: Fill | None) -> None:
    assert expand_query(raw, ctx()).fill == fill


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("SELECT $__nosuch(t)", 'unknown macro "__nosuch"'),
        ("SELECT $__timeGroup(t)", "needs time column and interval"),
        ("SELECT $__timeGroup(t, 'fivemin')", "error parsing interval"),
        ("SELECT $__timeGroup(t, '5m', zero)", "error parsing fill value zero"),
    ],
)
def test_macro_errors_fail_the_query_like_grafana(raw: str, message: str) -> None:
    with pytest.raises(MacroError, match=message):
        expand(raw, ctx())


def test_go_float_prints_like_go_fmt_v() -> None:
    assert [go_float(x) for x in (300, 86400, 604800, 2_592_000, 0.5, 0.02, 1e-5)] == [
        "300", "86400", "604800", "2.592e+06", "0.5", "0.02", "1e-05",
    ]  # fmt: skip
    thirty_days = ctx(interval=timedelta(days=30))
    assert expand("$__timeGroup(t, '30d')", thirty_days) == (
        "floor(extract(epoch from t)/2.592e+06)*2.592e+06"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5m", timedelta(minutes=5)), ("1h30m", timedelta(minutes=90)),
     ("1.5h", timedelta(minutes=90)), ("500ms", timedelta(milliseconds=500)),
     ("2d", timedelta(days=2)), ("1w", timedelta(days=7)), ("1M", timedelta(days=30)),
     ("1y", timedelta(days=365))],
)  # fmt: skip
def test_intervals_parse_like_gtime(text: str, expected: timedelta) -> None:
    # Calendar units count from the range's end: 2018-04-12 + 1 month = 30 days.
    assert parse_interval(text, TO) == expected


# --- the browser's part: template variables -------------------------------------------------

SERVERS = Variable("servers", ["test1", "test2"], options=("test1", "test2", "test3"), multi=True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # A SQL data source quotes multi-value variables itself.
        ("host IN ($servers)", "host IN ('test1','test2')"),
        ("host IN (${servers})", "host IN ('test1','test2')"),
        ("host IN ([[servers]])", "host IN ('test1','test2')"),
        # Explicit formats replace the data source's quoting (variable-syntax page).
        ("${servers:csv}", "test1,test2"),
        ("${servers:raw}", "test1,test2"),
        ("${servers:sqlstring}", "'test1','test2'"),
        ("${servers:singlequote}", "'test1','test2'"),
        ("${servers:doublequote}", '"test1","test2"'),
        ("${servers:pipe}", "test1|test2"),
        ("${servers:glob}", "{test1,test2}"),
        ("[[servers:csv]]", "test1,test2"),
    ],
)
def test_multi_value_variable_formats(raw: str, expected: str) -> None:
    assert expand(raw, ctx(servers=SERVERS)) == expected


def test_single_value_is_escaped_but_not_quoted_unless_multi_or_include_all() -> None:
    plain = Variable("station", "O'Brien")
    multi = Variable("station", ["O'Brien"], options=("O'Brien",), multi=True)
    with_all = Variable("station", "O'Brien", options=("O'Brien",), include_all=True)
    raw = "WHERE name = '$station'"
    assert expand(raw, ctx(station=plain)) == "WHERE name = 'O''Brien'"
    assert expand("WHERE name IN ($station)", ctx(station=multi)) == "WHERE name IN ('O''Brien')"
    assert expand("WHERE name = $station", ctx(station=with_all)) == "WHERE name = 'O''Brien'"


def test_sqlstring_doubles_single_quotes_and_escapes_double_quotes() -> None:
    odd = Variable("v", ["it's", 'say "hi"'], multi=True)
    assert expand("${v:sqlstring}", ctx(v=odd)) == "'it''s','say \\\"hi\\\"'"
    assert expand("${v:singlequote}", ctx(v=odd)) == "'it\\'s','say \"hi\"'"


def test_all_without_custom_value_is_every_option_quoted() -> None:
    every = Variable("servers", ALL_VALUE, options=("test1", "test2", "test3"), multi=True,
                     include_all=True)  # fmt: skip
    assert expand("host IN ($servers)", ctx(servers=every)) == "host IN ('test1','test2','test3')"
    assert expand("${servers:csv}", ctx(servers=every)) == "test1,test2,test3"
    # A single-value variable with an All option gets the same list when All is chosen.
    single = Variable("p", [ALL_VALUE], options=("a", "b"), include_all=True)
    assert expand("p IN ($p)", ctx(p=single)) == "p IN ('a','b')"


def test_custom_all_value_goes_in_unformatted_and_is_interpolated_again() -> None:
    province = Variable("province", ["Kiên Giang"], options=("Kiên Giang",), multi=True)
    station = Variable(
        "station", ALL_VALUE, options=("a", "b"), multi=True, include_all=True,
        all_value="SELECT id FROM devices WHERE province IN ($province)",
    )  # fmt: skip
    raw = "device_id IN ($station)"
    assert expand(raw, ctx(station=station, province=province)) == (
        "device_id IN (SELECT id FROM devices WHERE province IN ('Kiên Giang'))"
    )
    wildcard = Variable("s", ALL_VALUE, options=("a",), include_all=True, all_value="%")
    assert expand("name LIKE '$s'", ctx(s=wildcard)) == "name LIKE '%'"
    assert expand("${s:sqlstring}", ctx(s=wildcard)) == "%"  # formats do not touch it
    assert expand("${s:text}", ctx(s=wildcard)) == "All"


def test_unknown_variables_and_sql_dollars_are_left_as_written() -> None:
    raw = "SELECT $1, $$body$$, $nosuch, ${other}, $__rate_interval"
    assert expand(raw, ctx()) == raw


def test_builtin_time_variables() -> None:
    raw = "$__from ${__to} ${__from:date:iso} ${__to:date:seconds} ${__from:date:ms}"
    assert expand(raw, ctx()) == (
        "1523556000000 1523556300000 2018-04-12T18:00:00.000Z 1523556300 1523556000000"
    )
    # The browser replaces $__interval before the server sees it; a word boundary of
    # Grafana's regex (\w+) keeps $__interval_ms whole.
    assert expand("$__interval/$__interval_ms", ctx(interval=timedelta(seconds=90))) == ("1m/90000")


def test_variables_feed_macros() -> None:
    bucket = Variable("bucket", "1h")
    raw = "SELECT $__timeGroupAlias(time, $bucket) FROM m WHERE $__timeFilter(time)"
    assert expand(raw, ctx(timescaledb=True, bucket=bucket)) == (
        "SELECT time_bucket('3600.000s',time) AS \"time\" FROM m"
        " WHERE time BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
    )
    auto = "SELECT $__timeGroupAlias(time, $__interval)"
    assert expand(auto, ctx(timescaledb=True, interval=timedelta(minutes=30))) == (
        "SELECT time_bucket('1800.000s',time) AS \"time\""
    )


# --- the panel's interval (rangeutil.calculateInterval) --------------------------------------


@pytest.mark.parametrize(
    ("span", "resolution", "minimum", "expected"),
    [
        (timedelta(hours=6), 1000, None, timedelta(seconds=20)),
        (timedelta(hours=24), 1000, None, timedelta(minutes=1)),
        (timedelta(days=30), 1000, None, timedelta(minutes=30)),
        (timedelta(hours=6), 1000, "1m", timedelta(minutes=1)),
        (timedelta(days=30), 100, None, timedelta(hours=6)),
    ],
)
def test_auto_interval(span: timedelta, resolution: int, minimum: str | None,
                       expected: timedelta) -> None:  # fmt: skip
    assert auto_interval(TO - span, TO, resolution, minimum) == expected


def test_seconds_to_hms_keeps_the_largest_unit() -> None:
    assert [seconds_to_hms(s) for s in (0.02, 20, 90, 3600, 5400, 86400 * 30, 86400 * 400)] == [
        "20ms", "20s", "1m", "1h", "1h", "30d", "1y",
    ]  # fmt: skip


def test_time_range_needs_a_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        QueryContext(datetime(2026, 1, 1), datetime(2026, 1, 2), timedelta(minutes=1))


# --- dashboard variables (dashboards/grafana_variables.py), on a hand-made dashboard ---


def _dashboard(tmp_path: Path) -> dict[str, Any]:
    """A small dashboard in the shape Grafana stores, written and read back as a file."""
    model = {
        "uid": "t",
        "templating": {
            "list": [
                {"name": "province", "type": "query", "multi": True, "includeAll": True,
                 "query": "SELECT DISTINCT province FROM devices WHERE $__timeFilter(created_at)"},
                {"name": "station", "type": "query", "multi": True, "includeAll": True,
                 "allValue": "SELECT id FROM devices WHERE province IN ($province)",
                 "query": {"rawSql": "SELECT name AS __text, id AS __value FROM devices"
                                     " WHERE province IN ($province)", "refId": "A"}},
                {"name": "bucket", "type": "custom", "query": "1 giờ : 1h,1 ngày : 1d"},
                {"name": "ds", "type": "datasource", "query": "grafana-postgresql-datasource"},
            ]
        },
    }  # fmt: skip
    path = tmp_path / "t.json"
    path.write_text(json.dumps(model, ensure_ascii=False), encoding="utf-8")
    return json.loads(path.read_text(encoding="utf-8"))


class FakeDb:
    """Answers the two variable queries from a table in memory and records what ran."""

    DEVICES = (("kg-1", "Rạch Giá", "Kiên Giang"), ("kh-1", "Nha Trang", "Khánh Hòa"),
               ("kg-2", "Phú Quốc", "Kiên Giang"))  # fmt: skip

    def __init__(self) -> None:
        self.ran: list[str] = []

    def __call__(self, sql: str) -> tuple[list[str], list[tuple[str, ...]]]:
        self.ran.append(sql)
        if sql.startswith("SELECT DISTINCT province"):
            return ["province"], [("Kiên Giang",), ("Khánh Hòa",), ("Kiên Giang",)]
        chosen = re.search(r"IN \((.*)\)", sql)
        assert chosen is not None
        wanted = {v.strip("'") for v in chosen.group(1).split(",")}
        rows = [(name, id_) for id_, name, province in self.DEVICES if province in wanted]
        return ["__text", "__value"], rows


def test_variables_resolve_in_order_for_each_choice(tmp_path: Path) -> None:
    dashboard, db = _dashboard(tmp_path), FakeDb()
    first = resolve(dashboard, ctx(timescaledb=True), Choice.FIRST, db)
    assert first.variables["province"].value == ["Kiên Giang"]  # unique by text
    assert first.variables["station"].value == ["kg-1"]
    assert first.variables["station"].options == ("kg-1", "kg-2")
    assert first.variables["bucket"].value == "1h"
    assert "ds" not in first.variables
    # The province query saw the time range; the station query saw the chosen province.
    assert "created_at BETWEEN '2018-04-12T18:00:00Z'" in db.ran[0]
    assert db.ran[1].endswith("WHERE province IN ('Kiên Giang')")

    multi = resolve(dashboard, ctx(), Choice.MULTI, db)
    assert multi.variables["province"].value == ["Kiên Giang", "Khánh Hòa"]
    assert multi.variables["station"].value == ["kg-1", "kh-1"]

    every = resolve(dashboard, ctx(), Choice.ALL, db)
    sql = expand("WHERE device_id IN ($station) AND province IN ($province)", every)
    assert sql == (
        "WHERE device_id IN (SELECT id FROM devices WHERE province IN"
        " ('Kiên Giang','Khánh Hòa')) AND province IN ('Kiên Giang','Khánh Hòa')"
    )


def test_custom_options_and_regex_filter() -> None:
    raw = {"name": "v", "type": "custom", "query": "a\\,b, c : 3,d", "regex": "/^(?!d)/"}
    assert options(raw, ctx(), FakeDb()) == [Option("a,b", "a,b"), Option("c", "3")]


def test_a_variable_without_options_is_an_error(tmp_path: Path) -> None:
    empty = {"templating": {"list": [{"name": "x", "type": "query", "query": "SELECT 1"}]}}
    with pytest.raises(VariableError, match="x: no options"):
        resolve(empty, ctx(), Choice.FIRST, lambda sql: (["c"], []))


def test_options_follow_the_variables_sort() -> None:
    raw = {"name": "v", "type": "custom", "query": "b10,B2,a1,b9"}
    texts = {s: [o.text for o in options({**raw, "sort": s}, ctx(), FakeDb())]
             for s in (0, 1, 2, 3, 5, 7)}  # fmt: skip
    assert texts == {
        0: ["b10", "B2", "a1", "b9"],
        1: ["B2", "a1", "b10", "b9"],
        2: ["b9", "b10", "a1", "B2"],
        3: ["a1", "B2", "b9", "b10"],
        5: ["a1", "b10", "B2", "b9"],
        7: ["a1", "B2", "b9", "b10"],
    }


def test_start_picks_later_single_values(tmp_path: Path) -> None:
    dashboard, db = _dashboard(tmp_path), FakeDb()
    second = resolve(dashboard, ctx(), Choice.FIRST, db, start=1)
    assert second.variables["province"].value == ["Khánh Hòa"]
    assert second.variables["station"].value == ["kh-1"]  # clamped to the only one
