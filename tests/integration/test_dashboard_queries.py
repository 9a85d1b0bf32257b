"""Every panel of every committed dashboard, run as Grafana would run it, on a database fed
by the simulators: TimescaleDB and plain PostgreSQL (issue 11, acceptance 1).

The dashboards are read from dashboards/json (what Grafana is given). For each dashboard
the variables are resolved against the database (first option, first two, All), each
target's rawSql is expanded by dashboards.grafana_sql for the last 6 hours, 24 hours and
30 days (with the $__interval Grafana would pick for the panel's width), and executed
under the read-only role Grafana logs in as. A panel must answer without error, with the
columns its visualisation needs, and with rows; panels that legitimately stay empty in a
simulator run are listed in EXPECTED_EMPTY with the reason, and fail once they have rows.
Separately, the 30-day query of every panel reading measurements* must take no more raw
readings than the last day holds (EXPLAIN ANALYZE of the executed plan): long ranges
read the rollups.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import yaml

from config.settings import REPO_ROOT, Settings
from dashboards.grafana_sql import QueryContext, auto_interval, expand, interval_to_ms
from dashboards.grafana_variables import Choice, resolve
from tests.integration.dashboard_feed import Fed, fed_databases
from tests.integration.engines import PLAIN, TIMESCALE

pytestmark = pytest.mark.integration

DASHBOARDS = REPO_ROOT / "dashboards" / "json"
DATASOURCE_FILE = REPO_ROOT / "dashboards" / "provisioning" / "datasources" / "timescaledb.yaml"
READER = "ioc_dashboard_reader"
RANGES = {"6h": timedelta(hours=6), "24h": timedelta(hours=24), "30d": timedelta(days=30)}
SCREEN_PX = 1920  # Grafana sizes $__interval by the panel's width in pixels
NUMERIC = {"int2", "int4", "int8", "float4", "float8", "numeric"}
TIMES = {"timestamptz", "timestamp", "date"}
LATITUDE = {"lat", "latitude"}
LONGITUDE = {"lon", "lng", "longitude"}

# (dashboard uid, panel title) -> why a simulator run gives it no rows. The fleet has
# traffic counters, cameras with a heartbeat, and the feed sends a share of malformed
# messages (dead letters), so every other panel must have rows.
EXPECTED_EMPTY: dict[tuple[str, str], str] = {
    ("ioc-cameras", "Lượt đọc biển số (ANPR) theo camera"): (
        "ANPR events come from ISAPI pushes over HTTP (and ONVIF over Kafka camera.onvif);"
        " the feed routes only frigate/events and frigate/stats, whose plates arrive inside"
        " object events"
    ),
}
# Panels whose rows depend on chance in the feed: only that their SQL answers without error
# on both engines is checked.
MAY_BE_EMPTY: dict[tuple[str, str], str] = {
    ("ioc-environment", "Sâu bệnh và dịch bệnh — cảnh báo đang mở"): (
        "open pest and epidemic alerts: the feed's light traps count ordinary nights, under"
        " their lines unless two nights of its 50 hours happen to run high (a surge is the"
        " triton-planthopper-surge scenario's, tested in test_scenarios.py), and the feed"
        " posts no commune case counts"
    ),
}


@dataclass(frozen=True)
class Target:
    ref_id: str
    raw_sql: str
    format: str


@dataclass(frozen=True)
class Panel:
    uid: str
    id: int
    title: str
    type: str
    targets: tuple[Target, ...]
    width_px: int
    max_data_points: int | None
    min_interval: str | None
    time_from: str | None = None  # the panel's relative time override, e.g. "30d"
    time_shift: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.uid, self.title)

    def interval(self, start: datetime, end: datetime) -> timedelta:
        resolution = self.max_data_points or self.width_px
        return auto_interval(start, end, resolution, self.min_interval)

    def time_range(
        self, start: datetime, end: datetime, now: datetime
    ) -> tuple[datetime, datetime]:
        """Grafana's panel time overrides: `timeFrom` replaces the dashboard's range by
        now-<timeFrom>..now, `timeShift` moves the range back."""
        if self.time_from:
            start, end = now - _duration(self.time_from), now
        if self.time_shift:
            shift = _duration(self.time_shift)
            start, end = start - shift, end - shift
        return start, end


def _duration(text: str) -> timedelta:
    return timedelta(milliseconds=interval_to_ms(text.removeprefix("now-")))


def _dashboards() -> dict[str, dict[str, Any]]:
    return {
        model["uid"]: model
        for model in (
            json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))
        )
    }


def _walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _walk(panel.get("panels", []))  # a collapsed row holds its panels


def _panels() -> list[Panel]:
    found = []
    for uid, model in _dashboards().items():
        for raw in _walk(model.get("panels", [])):
            targets = tuple(
                Target(t.get("refId", "A"), t["rawSql"], t.get("format", "time_series"))
                for t in raw.get("targets", [])
                if t.get("rawSql") and not t.get("hide")  # Grafana runs no hidden target
            )
            if targets:
                width = raw.get("gridPos", {}).get("w", 24)
                found.append(Panel(uid, raw["id"], raw.get("title", ""), raw["type"], targets,
                                   round(width / 24 * SCREEN_PX), raw.get("maxDataPoints"),
                                   raw.get("interval"), raw.get("timeFrom") or None,
                                   raw.get("timeShift") or None))  # fmt: skip
    return found


PANELS = _panels()
RAW_READERS = [p for p in PANELS if any("measurements" in t.raw_sql for t in p.targets)]


def _timescaledb_flag() -> bool:
    """jsonData.timescaledb of the provisioned data source: $__timeGroup follows it."""
    config = yaml.safe_load(DATASOURCE_FILE.read_text(encoding="utf-8"))
    [source] = [d for d in config["datasources"] if d["uid"] == "ioc-timescaledb"]
    return bool(source.get("jsonData", {}).get("timescaledb"))


@pytest.fixture(scope="module")
def fed(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    with fed_databases(settings, tmp_path_factory.mktemp("dashboard-feed")) as databases:
        yield databases


@dataclass
class Reader:
    """A connection as Grafana's login: the reader role, one statement at a time."""

    conn: psycopg.Connection
    cache: dict[Any, Any] = field(default_factory=dict)

    def run(self, sql: str) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
        cur = self.conn.execute(sql)  # type: ignore[arg-type]
        names = [c.name for c in cur.description or []]
        types = [self._type(c.type_code) for c in cur.description or []]
        return names, types, cur.fetchall()

    def _type(self, oid: int) -> str:
        info = self.conn.adapters.types.get(oid)
        return info.name if info else str(oid)


@pytest.fixture(scope="module")
def readers(fed: Fed) -> Iterator[dict[str, Reader]]:
    conns = {}
    for engine, dsn in fed.dsn.items():
        conn = psycopg.connect(dsn, autocommit=True)
        conn.execute(f"SET ROLE {READER}")
        conn.execute("SET statement_timeout = '30s'")
        conns[engine] = Reader(conn)
    yield conns
    for reader in conns.values():
        reader.conn.close()


# A pick: one shift for every variable, or (name, option index) pairs.
Pick = int | tuple[tuple[str, int], ...]


def _context(
    reader: Reader, uid: str, choice: Choice, span: str, now: datetime, start: Pick = 0
) -> QueryContext:
    key = (uid, choice, span, start)
    if key not in reader.cache:
        base = QueryContext(now - RANGES[span], now, timedelta(minutes=1),
                            timescaledb=_timescaledb_flag())  # fmt: skip
        shift = start if isinstance(start, int) else dict(start)
        reader.cache[key] = resolve(
            _dashboards()[uid], base, choice, lambda sql: reader.run(sql)[::2], shift
        )
    return reader.cache[key]


def _panel_context(
    reader: Reader, panel: Panel, choice: Choice, span: str, now: datetime, start: Pick = 0
) -> QueryContext:
    ctx = _context(reader, panel.uid, choice, span, now, start)
    start, end = panel.time_range(ctx.time_from, ctx.time_to, now)
    return replace(ctx, time_from=start, time_to=end, interval=panel.interval(start, end))


@dataclass(frozen=True)
class Outcome:
    where: str
    sql: str
    names: list[str]
    types: list[str]
    rows: int
    error: str | None = None


def _outcomes(reader: Reader, panel: Panel, now: datetime) -> list[Outcome]:
    results = []
    for choice in Choice:
        for span in RANGES:
            ctx = _panel_context(reader, panel, choice, span, now)
            for target in panel.targets:
                where = f"{target.ref_id} {choice.value} {span}"
                sql = expand(target.raw_sql, ctx)
                try:
                    names, types, rows = reader.run(sql)
                except psycopg.Error as error:
                    results.append(Outcome(where, sql, [], [], 0, str(error).strip()))
                    continue
                results.append(Outcome(where, sql, names, types, len(rows)))
                problem = _shape_problem(panel.type, target.format, names, types, rows)
                if problem:
                    results[-1] = Outcome(where, sql, names, types, len(rows), problem)
    return results


def _shape_problem(panel_type: str, fmt: str, names: list[str], types: list[str],
                   rows: list[tuple[Any, ...]]) -> str | None:  # fmt: skip
    """What the visualisation needs from the data frame Grafana builds of this result."""
    numeric = [n for n, t in zip(names, types, strict=True) if t in NUMERIC]
    columns = list(zip(names, types, strict=True))
    if fmt == "time_series":
        # sqleng: a column named "time"; the others are values, strings are labels.
        if "time" not in names:
            return f"time_series without a 'time' column: {names}"
        at = names.index("time")
        if not [n for n in numeric if n != "time"]:
            return f"time_series without a numeric value: {columns}"
        if any(row[at] is None for row in rows):
            return "time_series with NULL times"
        labels = [n for n, t in zip(names, types, strict=True) if n != "time" and t not in NUMERIC]
        times = [row[at] for row in rows]
        if labels and times != sorted(times):
            return "long time_series not sorted by time: Grafana cannot turn it wide"
        return None
    times = [n for n, t in zip(names, types, strict=True) if t in TIMES]
    lower = {n.lower() for n in names}
    if panel_type in ("timeseries", "trend", "heatmap") and not (times and numeric):
        return f"{panel_type} needs a time and a numeric column: {columns}"
    if panel_type in ("state-timeline", "status-history") and not (times and len(names) > 1):
        return f"{panel_type} needs a time column and a value: {names}"
    if panel_type in ("stat", "gauge", "bargauge", "piechart", "barchart") and not numeric:
        return f"{panel_type} needs a numeric column: {columns}"
    if panel_type == "geomap" and not (lower & LATITUDE and lower & LONGITUDE):
        return f"geomap needs latitude and longitude columns: {names}"
    if not names:
        return "no columns"
    return None


def _panel_id(panel: Panel) -> str:
    return f"{panel.uid}/{panel.id}-{panel.title}"


def test_the_simulator_fed_both_engines_alike(fed: Fed) -> None:
    """Both workers stored the same run: readings of 50 hours, camera events and security
    logs, and one dead letter per message the simulator malformed on purpose, no more."""
    assert fed.counts[TIMESCALE] == fed.counts[PLAIN]
    counts = fed.counts[TIMESCALE]
    assert counts["measurements"] > 30_000 and counts["dead_letters"] == fed.malformed, counts
    assert counts["camera_events"] > 100 and counts["security_events"] > 1_000, counts


def test_the_committed_dashboards_have_panels_with_sql() -> None:
    uids = set(_dashboards())
    assert {"ioc-wall", "ioc-environment", "ioc-soc", "ioc-cameras", "ioc-platform"} <= uids
    assert {p.uid for p in PANELS} == uids, "a dashboard without one SQL panel"
    listed = (set(EXPECTED_EMPTY) | set(MAY_BE_EMPTY)) - {p.key for p in PANELS}
    assert not listed, f"EXPECTED_EMPTY/MAY_BE_EMPTY name panels that no longer exist: {listed}"


@pytest.mark.parametrize("engine", [TIMESCALE, PLAIN])
@pytest.mark.parametrize("panel", PANELS, ids=_panel_id)
def test_panel_query_answers_with_the_columns_its_panel_needs(
    fed: Fed, readers: dict[str, Reader], engine: str, panel: Panel
) -> None:
    outcomes = _outcomes(readers[engine], panel, datetime.now(UTC))
    failed = [o for o in outcomes if o.error]
    assert not failed, "\n\n".join(f"{o.where}: {o.error}\n{o.sql}" for o in failed[:3])
    if panel.key in MAY_BE_EMPTY:
        return
    empty = [o.where for o in outcomes if o.rows == 0]
    if panel.key in EXPECTED_EMPTY:
        assert len(empty) == len(outcomes), (
            f"listed as empty ({EXPECTED_EMPTY[panel.key]}) but has rows: update EXPECTED_EMPTY"
        )
        return
    # The dashboards open on All: rows in every range. A single pick may be a station the
    # panel does not draw (a tide gauge in a PM2.5 chart): it must answer without error,
    # and some single pick must have rows over 30 days.
    required = [o for o in outcomes if o.where.split()[1] == Choice.ALL.value]
    missing = [o for o in required if o.rows == 0]
    assert not missing, f"no rows in {[o.where for o in missing]}, e.g.\n{missing[0].sql}"
    assert _some_single_pick_has_rows(readers[engine], panel), "no single pick shows rows"


# Enough for every province × station of the simulated fleet; a bound, so a panel that
# never shows rows fails in seconds rather than trying every combination of a big fleet.
MAX_SINGLE_PICKS = 400


def _some_single_pick_has_rows(reader: Reader, panel: Panel) -> bool:
    """Single values, variable by variable in dashboard order (a later variable's options
    depend on the earlier picks, as the stations on the province), until one combination
    shows rows over 30 days."""
    now = datetime.now(UTC)
    names = list(_context(reader, panel.uid, Choice.ALL, "30d", now).variables)
    tried = 0

    def walk(picked: tuple[tuple[str, int], ...]) -> bool:
        nonlocal tried
        ctx = _panel_context(reader, panel, Choice.FIRST, "30d", now, picked)
        if len(picked) == len(names):
            tried += 1
            return any(reader.run(expand(t.raw_sql, ctx))[2] for t in panel.targets)
        name = names[len(picked)]
        for index in range(len(ctx.variables[name].options)):
            if tried >= MAX_SINGLE_PICKS:
                return False
            if walk((*picked, (name, index))):
                return True
        return False

    return walk(())


# --- no raw readings beyond a day for a 30-day view ----------------------------------------


def _raw_relations(dsn: str, engine: str) -> set[str]:
    """The raw readings: the table, and on TimescaleDB each of its chunks."""
    names = {"measurements"}
    if engine == TIMESCALE:
        with psycopg.connect(dsn) as conn:
            names |= {
                r[0]
                for r in conn.execute(
                    "SELECT chunk_name FROM timescaledb_information.chunks"
                    " WHERE hypertable_name = 'measurements'"
                )
            }
    return names


def _rows_read(node: dict[str, Any], raw: set[str]) -> int:
    """Raw readings the executed plan took from its scans of the raw table: rows that
    passed each scan's own conditions, i.e. what the query asks of the raw readings. Rows
    a scan looked at and dropped are the planner's choice of path (on a table this small
    plain PostgreSQL rightly reads it whole for a one-hour question), not the query's
    range. A branch pruned by its range guard never executes and takes none."""
    taken = 0
    if node.get("Relation Name") in raw:
        taken += node.get("Actual Rows", 0) * node.get("Actual Loops", 0)
    return taken + sum(_rows_read(child, raw) for child in node.get("Plans", []))


@pytest.mark.parametrize("engine", [TIMESCALE, PLAIN])
@pytest.mark.parametrize("panel", RAW_READERS, ids=_panel_id)
def test_a_30_day_view_reads_no_raw_readings_beyond_the_last_day(
    fed: Fed, readers: dict[str, Reader], engine: str, panel: Panel
) -> None:
    now = datetime.now(UTC)
    raw = _raw_relations(fed.dsn[engine], engine)
    with psycopg.connect(fed.dsn[engine]) as conn:
        last_day = conn.execute(
            "SELECT count(*) FROM measurements WHERE time > %s", (now - timedelta(days=1),)
        ).fetchone()[0]
        total = conn.execute("SELECT count(*) FROM measurements").fetchone()[0]
    assert total > last_day, "the feed must hold more than a day of readings for this test"
    reader = readers[engine]
    ctx = _panel_context(reader, panel, Choice.ALL, "30d", now)
    for target in panel.targets:
        sql = expand(target.raw_sql, ctx)
        row = reader.conn.execute("EXPLAIN (ANALYZE, COSTS OFF, FORMAT JSON) " + sql).fetchone()  # type: ignore[arg-type]
        assert row is not None
        read = _rows_read(row[0][0]["Plan"], raw)
        assert read <= last_day, (
            f"{target.ref_id}: took {read} raw readings for a 30-day view (the last day holds"
            f" {last_day}, all {total})\n{sql}"
        )
