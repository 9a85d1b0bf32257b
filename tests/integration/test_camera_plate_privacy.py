"""Migration 17 on both engines: plates and names written before migration 14 are cleared
from camera events (compressed TimescaleDB chunks included, which stay compressed), running
it again changes nothing, the dashboard reader cannot read `plate` or `attributes` (nor a
chunk behind the table's back), and every shipped panel still runs as the reader."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from config.settings import REPO_ROOT
from dashboards.grafana_sql import QueryContext, expand
from dashboards.grafana_variables import Choice, resolve
from stack import postgres
from store.engine import Engine
from store.migrate import migrate
from store.migrations import m0017_camera_plate_privacy as m17
from store.migrations.m0009_dashboard_reads import READER_ROLE
from tests.integration.engines import PLAIN, TIMESCALE, scratch_database

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=30)  # a chunk TimescaleDB has compressed
ANPR_CAMERA = "kh-camranh-cam02"
# (event_id, time, source, camera, event_type, label, zones, plate, attributes) as
# written before migration 14, and the attributes each must keep.
ROWS = [
    ("frigate-old", OLD, "frigate", "cam01", "object", "car", ["cong_cang"], "51F-123.45",
     {"recognized_license_plate": "51F-123.45", "recognized_license_plate_score": 0.91,
      "sub_label": None, "region": "gate"}),
    ("face-old", OLD + timedelta(hours=1), "frigate", "cam01", "object", "person",
     ["cong_cang"], None, {"sub_label": ["Nguyen Van A", 0.92], "region": "gate"}),
    ("review-old", OLD + timedelta(hours=2), "frigate", "cam01", "review", "alert", [],
     None, {"sub_labels": ["Nguyen Van A"], "objects": ["person"]}),
    ("isapi-old", OLD + timedelta(hours=3), "hikvision", ANPR_CAMERA, "anpr", "car", [],
     "30A-999.99", {"plate_color": "white", "vehicle_type": "car"}),
    ("frigate-new", NOW - timedelta(hours=1), "frigate", "cam01", "object", "car",
     ["restricted_area"], "79C-111.22",
     {"recognized_license_plate": "79C-111.22", "region": "gate"}),
    ("isapi-new", NOW - timedelta(minutes=30), "hikvision", ANPR_CAMERA, "anpr", "car", [],
     "30A-999.99", {"plate_color": "white"}),
    ("plain-new", NOW - timedelta(minutes=20), "frigate", "cam01", "object", "person",
     ["restricted_area"], None, {"region": "gate"}),
]  # fmt: skip
KEPT = {
    "frigate-old": {"region": "gate"},
    "face-old": {"region": "gate"},
    "review-old": {"objects": ["person"]},
    "isapi-old": {"plate_color": "white", "vehicle_type": "car"},
    "frigate-new": {"region": "gate"},
    "isapi-new": {"plate_color": "white"},
    "plain-new": {"region": "gate"},
}
PERSONAL = "plate IS NOT NULL OR attributes ?| %s"
DASHBOARDS = REPO_ROOT / "dashboards" / "json"


@pytest.fixture(scope="module", params=(TIMESCALE, PLAIN))
def engine_db(request, settings) -> Iterator[tuple[psycopg.Connection, Engine]]:
    if request.param == TIMESCALE and not postgres.timescale_installed():
        pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
    name = f"ioc_plate_privacy_{request.param}"
    with scratch_database(settings, name) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, "auto" if request.param == TIMESCALE else "postgresql")
        engine = Engine.TIMESCALE if request.param == TIMESCALE else Engine.POSTGRES
        _seed(conn, engine)
        m17.upgrade(conn, engine)  # as if these rows had been there when it first ran
        yield conn, engine


def _seed(conn: psycopg.Connection, engine: Engine) -> None:
    for event_id, time, source, camera, kind, label, zones, plate, attributes in ROWS:
        conn.execute(
            "INSERT INTO camera_events (time, event_id, source, camera, event_type, state,"
            " label, zones, plate, attributes) VALUES (%s, %s, %s, %s, %s, 'end', %s, %s,"
            " %s, %s)",
            (time, event_id, source, camera, kind, label, zones, plate, Jsonb(attributes)),
        )
    # What the other desks' variables list, so every shipped panel can be opened.
    conn.execute(
        "INSERT INTO devices (id, type, province, name, lat, lon) VALUES"
        " ('kh-air-01', 'air_quality', 'Khánh Hòa', 'Trạm Nha Trang', 12.2, 109.2)"
    )
    conn.execute(
        "INSERT INTO security_events (time, event_id, dataset, raw) VALUES (%s, 's1', 'syslog',"
        " 'x')",
        (NOW - timedelta(minutes=5),),
    )
    assert conn.execute(f"SELECT count(*) FROM camera_events WHERE {PERSONAL}",
                        (list(m17.PERSONAL_KEYS),)).fetchone()[0] == 6  # fmt: skip
    if engine is Engine.TIMESCALE:
        compressed = conn.execute(
            "SELECT count(compress_chunk(c)) FROM show_chunks('camera_events',"
            " older_than => INTERVAL '7 days') c"
        ).fetchone()[0]
        assert compressed >= 1
        assert _uncompressed_rows_of_old_chunks(conn) == 0


def _old_chunks(conn: psycopg.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'camera_events' AND is_compressed"
        )
    ]


def _uncompressed_rows_of_old_chunks(conn: psycopg.Connection) -> int:
    """Rows in the compressed chunks' own heaps: a DML on a compressed chunk moves the
    rows it decompresses there, until the chunk is compressed again."""
    chunks = _old_chunks(conn)
    assert chunks, "no compressed chunk"
    return sum(
        conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.SQL(c))).fetchone()[0]
        for c in chunks
    )


def _rows(conn: psycopg.Connection) -> dict[str, tuple[Any, ...]]:
    found = conn.execute(
        "SELECT event_id, plate, attributes, camera, event_type, label, zones, time"
        " FROM camera_events"
    ).fetchall()
    return {r[0]: r[1:] for r in found}


def test_old_rows_lose_plates_and_names_and_keep_the_rest(engine_db) -> None:
    conn, engine = engine_db
    rows = _rows(conn)
    assert set(rows) == {r[0] for r in ROWS}
    assert {k: v[0] for k, v in rows.items()} == dict.fromkeys(KEPT)  # no plate anywhere
    assert {k: v[1] for k, v in rows.items()} == KEPT
    for event_id, time, _, camera, kind, label, zones, *_ in ROWS:
        assert rows[event_id][2:] == (camera, kind, label, zones, time)
    if engine is Engine.TIMESCALE:
        assert _old_chunks(conn), "the old chunk was left decompressed"
        assert _uncompressed_rows_of_old_chunks(conn) == 0, "the old chunk is half compressed"


def test_running_it_again_writes_nothing(engine_db) -> None:
    conn, engine = engine_db
    before = _row_versions(conn, engine)
    m17.upgrade(conn, engine)
    assert _row_versions(conn, engine) == before


def _row_versions(conn: psycopg.Connection, engine: Engine) -> list[tuple[str, str]]:
    """(relation, xmin) of every stored row: any write makes a new row version. On
    TimescaleDB the chunks' own rows and their compressed chunks' rows (a hypertable
    scan refuses xmin on compressed data)."""
    if engine is Engine.POSTGRES:
        relations = ["camera_events"]
    else:
        relations = [
            r[0]
            for r in conn.execute(
                "SELECT format('%I.%I', c.schema_name, c.table_name)"
                " FROM _timescaledb_catalog.chunk c"
                " JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id"
                " WHERE h.table_name = 'camera_events'"
                " UNION ALL SELECT format('%I.%I', cc.schema_name, cc.table_name)"
                " FROM _timescaledb_catalog.chunk c"
                " JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id"
                " JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id"
                " WHERE h.table_name = 'camera_events'"
            )
        ]
    versions = []
    for relation in relations:
        query = sql.SQL("SELECT %s, xmin::text FROM ONLY {}").format(sql.SQL(relation))
        versions += conn.execute(query, (relation,)).fetchall()
    assert len(versions) >= 2
    return sorted(versions)


def _as_reader(conn: psycopg.Connection, query: str | sql.Composable) -> list[tuple[Any, ...]]:
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(READER_ROLE)))
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT plate FROM camera_events",
        "SELECT attributes FROM camera_events",
        "SELECT * FROM camera_events",
        "SELECT count(*) FROM camera_events",
        "SELECT plate FROM plate_reads",
    ],
)
def test_the_reader_cannot_read_plates_or_attributes(engine_db, query: str) -> None:
    conn, _ = engine_db
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as_reader(conn, query)


def test_the_reader_cannot_read_a_chunk_directly(engine_db) -> None:
    conn, engine = engine_db
    if engine is not Engine.TIMESCALE:
        pytest.skip("chunks are TimescaleDB's")
    chunks = [r[0] for r in conn.execute("SELECT c::text FROM show_chunks('camera_events') c")]
    assert chunks
    for chunk in chunks:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as_reader(conn, sql.SQL("SELECT plate, attributes FROM {}").format(sql.SQL(chunk)))


def test_the_reader_reads_the_view_without_plate_or_attributes(engine_db) -> None:
    conn, _ = engine_db
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(READER_ROLE)))
        cur = conn.execute(f"SELECT * FROM {m17.VIEW}")
        names = [c.name for c in cur.description or []]
        assert len(cur.fetchall()) == len(ROWS)
    assert names == list(m17.PUBLIC_COLUMNS)
    table = [
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'camera_events'::regclass"
            " AND attnum > 0 AND NOT attisdropped"
        )
    ]
    assert set(table) - set(names) == {"plate", "attributes"}, "a column nobody decided on"


def _targets() -> Iterator[tuple[dict[str, Any], dict[str, Any], str]]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        model = json.loads(path.read_text(encoding="utf-8"))
        stack = list(model.get("panels", []))
        while stack:
            panel = stack.pop()
            stack.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("rawSql") and not target.get("hide"):
                    yield model, panel, target["rawSql"]


def test_every_shipped_panel_runs_as_the_reader(engine_db) -> None:
    """Each committed panel's SQL, variables at All, the last 24 hours: no permission
    error (the test of the fed databases checks shapes and rows in depth)."""
    conn, _ = engine_db
    base = QueryContext(NOW - timedelta(hours=24), NOW + timedelta(minutes=1),
                        timedelta(minutes=1))  # fmt: skip
    contexts: dict[str, QueryContext] = {}
    ran = 0
    for model, panel, raw in _targets():
        if model["uid"] not in contexts:
            contexts[model["uid"]] = resolve(model, base, Choice.ALL, lambda q: _columns(conn, q))
        query = expand(raw, contexts[model["uid"]])
        try:
            _as_reader(conn, query)
        except psycopg.Error as error:
            pytest.fail(f"{model['uid']} / {panel.get('title')}: {error}\n{query}")
        ran += 1
    assert ran >= 30


def _columns(conn: psycopg.Connection, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(READER_ROLE)))
        cur = conn.execute(query)  # type: ignore[arg-type]
        return [c.name for c in cur.description or []], cur.fetchall()


def test_the_anpr_panel_counts_reads_per_camera_without_a_plate(engine_db) -> None:
    conn, _ = engine_db
    [(model, raw)] = [
        (m, r) for m, p, r in _targets() if p.get("title") == "Lượt đọc biển số (ANPR) theo camera"
    ]
    ctx = resolve(
        model,
        QueryContext(NOW - timedelta(hours=6), NOW + timedelta(minutes=1), timedelta(minutes=1)),
        Choice.ALL,
        lambda q: _columns(conn, q),
    )
    names, rows = _columns(conn, expand(raw, ctx))
    assert names == ["time", "metric", "value"]
    assert [(r[1], r[2]) for r in rows] == [(ANPR_CAMERA, 1)]  # the old read is 30 days back
    assert "plate" not in raw
