"""The preview's data: each panel's SQL run as Grafana runs it, shaped into frames.

The variables take their saved values (All where the committed JSON says All),
each target's rawSql is expanded by dashboards.grafana_sql for the dashboard's own range
(or the panel's `timeFrom`) with the $__interval Grafana would pick for the panel's width,
and executed as the read-only role Grafana logs in as. Results become frames as Grafana's
SQL data source makes them: `table` as it is, `time_series` long-to-wide (one series per
`metric` value, or one per numeric column).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from dashboards.grafana_sql import (
    ALL_VALUE,
    QueryContext,
    Variable,
    auto_interval,
    expand,
    interval_to_ms,
)
from dashboards.grafana_variables import Option, VariableError, options

READER_ROLE = "ioc_dashboard_reader"


@dataclass
class Series:
    name: str
    times: list[datetime]
    values: list[float | None]


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass
class PanelData:
    """What a panel got: series (time_series targets), tables (table targets), and the
    error Grafana would show instead, if any."""

    series: list[Series] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    error: str | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None

    @property
    def empty(self) -> bool:
        return not any(s.times for s in self.series) and not any(t.rows for t in self.tables)


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def walk(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for panel in panels:
        yield panel
        yield from walk(panel.get("panels", []))  # a collapsed row holds its panels


class Reader:
    """One connection as Grafana's login: the reader role, autocommit, a time limit."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute(f"SET ROLE {READER_ROLE}")
        self.conn.execute("SET statement_timeout = '30s'")

    def run(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = self.conn.execute(sql)  # type: ignore[arg-type]
        names = [c.name for c in cur.description or []]
        return names, [tuple(_plain(v) for v in row) for row in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def _duration(text: str) -> timedelta:
    return timedelta(milliseconds=interval_to_ms(text.removeprefix("now-")))


def dashboard_context(
    dashboard: Mapping[str, Any], reader: Reader, now: datetime, timescaledb: bool
) -> QueryContext:
    """The dashboard as Grafana opens it: its default range (now-X .. now) and each
    variable at its saved `current` value, in order (a variable may use the ones above)."""
    span = dashboard.get("time", {})
    start = now - _duration(str(span.get("from", "now-6h")))
    end = now if span.get("to", "now") == "now" else now - _duration(str(span["to"]))
    ctx = QueryContext(start, end, timedelta(minutes=1), timescaledb=timescaledb)
    for raw in dashboard.get("templating", {}).get("list", []):
        if raw.get("type", "query") in ("datasource", "adhoc", "groupby"):
            continue
        variable = saved_value(raw, options(raw, ctx, reader.run))
        ctx = replace(ctx, variables={**ctx.variables, variable.name: variable})
    return ctx


def saved_value(raw: Mapping[str, Any], found: Sequence[Option]) -> Variable:
    """Grafana's validation of a saved selection against the options it found: All stays
    All; saved values that still exist are kept; none left means the first option."""
    name, multi, include_all = raw["name"], bool(raw.get("multi")), bool(raw.get("includeAll"))
    values = tuple(o.value for o in found)
    common: dict[str, Any] = {
        "options": values,
        "multi": multi,
        "include_all": include_all,
        "all_value": raw.get("allValue") or None,
    }
    saved = (raw.get("current") or {}).get("value", [])
    saved = list(saved) if isinstance(saved, list) else [saved]
    if include_all and ALL_VALUE in saved:
        return Variable(name, [ALL_VALUE] if multi else ALL_VALUE, text="All", **common)
    kept = [o for o in found if o.value in saved] or list(found[:1])
    if not kept:
        raise VariableError(f"variable {name}: no options")
    if multi:
        return Variable(name, [o.value for o in kept], text=[o.text for o in kept], **common)
    return Variable(name, kept[0].value, text=kept[0].text, **common)


def panel_data(
    panel: Mapping[str, Any], ctx: QueryContext, reader: Reader, width_px: int, now: datetime
) -> PanelData:
    start, end = ctx.time_from, ctx.time_to
    if panel.get("timeFrom"):
        start, end = now - _duration(str(panel["timeFrom"])), now
    if panel.get("timeShift"):
        shift = _duration(str(panel["timeShift"]))
        start, end = start - shift, end - shift
    resolution = int(panel.get("maxDataPoints") or width_px)
    interval = auto_interval(start, end, resolution, panel.get("interval") or None)
    ctx = replace(ctx, time_from=start, time_to=end, interval=interval)
    data = PanelData(time_from=start, time_to=end)
    for target in panel.get("targets", []):
        if target.get("hide") or not target.get("rawSql"):
            continue
        try:
            columns, rows = reader.run(expand(target["rawSql"], ctx))
        except (psycopg.Error, ValueError) as exc:
            data.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            continue
        if target.get("format", "time_series") == "time_series":
            data.series.extend(to_series(columns, rows))
        else:
            data.tables.append(Table(columns, rows))
    return data


def to_series(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Series]:
    """Grafana's SQL time_series shaping: the time column, a `metric` column naming the
    series (with several value columns, "<metric> <column>"), the numeric columns as
    values; without `metric`, one series per numeric column."""
    names = list(columns)
    time_i = _time_column(names, rows)
    metric_i = names.index("metric") if "metric" in names else None
    value_cols = [i for i in range(len(names)) if i not in (time_i, metric_i)]
    found: dict[str, Series] = {}
    for row in rows:
        when = _as_datetime(row[time_i])
        if when is None:
            continue
        for i in value_cols:
            if metric_i is None:
                name = names[i]
            elif len(value_cols) == 1:
                name = str(row[metric_i])
            else:
                name = f"{row[metric_i]} {names[i]}"
            series = found.setdefault(name, Series(name, [], []))
            series.times.append(when)
            value = row[i]
            series.values.append(float(value) if isinstance(value, (int, float)) else None)
    for series in found.values():
        order = sorted(range(len(series.times)), key=series.times.__getitem__)
        series.times = [series.times[i] for i in order]
        series.values = [series.values[i] for i in order]
    return list(found.values())


def _time_column(names: list[str], rows: Sequence[Sequence[Any]]) -> int:
    if "time" in names:
        return names.index("time")
    for i in range(len(names)):
        if rows and isinstance(rows[0][i], (datetime, date)):
            return i
    return 0


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None
