"""A year of a province's stations for the API bench, made server-side.

The dashboard bench's fleet (bench/dashboard_data.py: simulators/fleet.yaml's
environment stations `copies` times over, their signal shapes written in SQL) at the
intervals a province's automatic stations report to a central system over a year, every
10 minutes for air and water level, 15 for salinity: 5 copies = 60 stations, 270
series, 38,160 readings a day, 13.9 million in 365 days. The readings, rollups and
compression are made by dashboard_data's own steps (one UTC day per INSERT … SELECT;
plain PostgreSQL's rollups refreshed once per day as the worker's 30-s refreshes would
have; TimescaleDB's continuous aggregates refreshed day by day and chunks older than 7
days compressed, as the policies do).

Alerts are made in SQL too, at a province's volume: about 100 a day over the year
(security 40 %, environment 35 %, camera 15 %, device health 10 %), resolved after
minutes to hours except the last day's, with two or three history rows each. The
product's own air job is not run (a year of it takes hours here, and no endpoint timed
reads its tables).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta

import psycopg

from bench import dashboard_data
from bench.dashboard_data import Progress, Series
from store.devices import DeviceSpec, upsert_device
from store.engine import Engine

INTERVALS = {"air_quality": 600, "water_level": 600, "salinity": 900}
ALERTS_PER_DAY = 100


def fleet(copies: int) -> tuple[list[DeviceSpec], list[Series]]:
    """dashboard_data's fleet at this bench's intervals."""
    specs, series = dashboard_data.fleet(copies)
    types = {s.id: s.type for s in specs}
    specs = [
        replace(s, expected_interval_s=INTERVALS[s.type], metadata={**s.metadata, "bench": "api"})
        for s in specs
    ]
    series = [
        replace(
            s,
            interval_s=INTERVALS[types[s.device_id]],
            offset_s=dashboard_data.hash_int(s.device_id) % INTERVALS[types[s.device_id]],
        )
        for s in series
    ]
    return specs, series


def build(
    conn: psycopg.Connection,
    engine: Engine,
    copies: int,
    start: datetime,
    end: datetime,
    progress: Progress,
) -> dict[str, float]:
    """Fill an empty, migrated database with [start, end); seconds per step."""
    specs, _ = fleet(copies)
    with conn.transaction():
        for spec in specs:
            upsert_device(conn, spec)
    timings = extend(conn, engine, copies, start, end, progress)
    t0 = time.perf_counter()
    progress("alerts", 0, 1)
    alerts(conn, start, end)
    progress("alerts", 1, 1)
    timings["alerts"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    progress("vacuum analyze", 0, 1)
    conn.execute("VACUUM ANALYZE")
    progress("vacuum analyze", 1, 1)
    timings["analyze"] = time.perf_counter() - t0
    return timings


def extend(
    conn: psycopg.Connection,
    engine: Engine,
    copies: int,
    start: datetime,
    end: datetime,
    progress: Progress,
) -> dict[str, float]:
    """Readings for [start, end) with their rollups, compression and last-seen times;
    also tops kept data up to the current minute before a timed run."""
    dashboard_data.load_series(conn, fleet(copies)[1])
    spans = list(dashboard_data.days(start, end))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    for k, (a, b) in enumerate(spans):
        conn.execute("SELECT setseed(%s)", ((a.timestamp() % 86_400_000) / 86_400_000,))
        conn.execute(dashboard_data.SPAN_INSERT, {"start": a, "end": b})
        # Statistics while the table is small matter most (see dashboard_data.extend);
        # later every few weeks, as autovacuum would.
        if k < 3 or k % 20 == 0:
            conn.execute("ANALYZE measurements")
        if engine is Engine.POSTGRES:
            dashboard_data._refresh_plain(conn, a)
        progress("readings" + (" + rollups" if engine is Engine.POSTGRES else ""),
                 k + 1, len(spans))  # fmt: skip
    timings["readings"] = time.perf_counter() - t0
    if engine is Engine.TIMESCALE:
        t0 = time.perf_counter()
        dashboard_data._refresh_timescale(conn, spans, progress)
        timings["rollups"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        dashboard_data._compress(conn, progress)
        timings["compression"] = time.perf_counter() - t0
    conn.execute(
        "INSERT INTO device_last_seen (device_id, last_seen)"
        " SELECT device_id, max(time) FROM measurements"
        " WHERE time >= %s - interval '2 days' GROUP BY device_id"
        " ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen",
        (end,),
    )
    return timings


# Rule, domain, severity, Vietnamese and English title, share of alerts.
ALERT_KINDS = (
    ("sec.bruteforce", "security", 3, "Dò mật khẩu SSH", "SSH brute force", 0.25),
    ("sec.portscan", "security", 2, "Quét cổng", "Port scan", 0.15),
    ("env.aqi", "environment", 2, "VN_AQI kém", "Poor VN_AQI", 0.15),
    ("env.water_level", "environment", 3, "Mực nước vượt báo động II", "Water above alarm II",
     0.12),
    ("env.salinity", "environment", 2, "Độ mặn vượt 4 ‰", "Salinity above 4 ‰", 0.08),
    ("camera.intrusion", "camera", 3, "Xâm nhập ban đêm", "Night intrusion", 0.15),
    ("health.offline", "health", 2, "Thiết bị mất kết nối", "Device offline", 0.10),
)  # fmt: skip

ALERTS_SQL = """
WITH kinds (k, rule, domain, severity, title_vi, title_en, upto) AS (
    SELECT k, rule, domain, severity, title_vi, title_en,
           sum(share) OVER (ORDER BY k) FROM unnest(
        %(rules)s::text[], %(domains)s::text[], %(severities)s::smallint[],
        %(titles_vi)s::text[], %(titles_en)s::text[], %(shares)s::float8[])
        WITH ORDINALITY AS u(rule, domain, severity, title_vi, title_en, share, k)
), drawn AS (
    SELECT t + random() * %(step)s AS started, random() AS pick, random() AS r2,
           (%(devices)s::text[])[1 + floor(random() * cardinality(%(devices)s::text[]))::int]
               AS device_id
    FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - %(step)s,
                         %(step)s) AS t
)
INSERT INTO alerts (id, fingerprint, rule, domain, status, severity, peak_severity, labels,
                    title_vi, title_en, summary_vi, summary_en, alert_values, started_at,
                    updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by)
SELECT a.id, 'bench-' || a.id, k.rule, k.domain, a.status,
       k.severity + (d.r2 < 0.1)::int, k.severity + (d.r2 < 0.1)::int,
       CASE k.domain
         WHEN 'security' THEN jsonb_build_object('source_ip', '203.0.113.'
                                                 || (1 + floor(d.r2 * 250))::int)
         WHEN 'camera' THEN jsonb_build_object('camera', 'cam-' || (1 + floor(d.r2 * 40))::int)
         ELSE jsonb_build_object('device_id', d.device_id) END,
       k.title_vi, k.title_en, 'tóm tắt: ' || k.title_vi, 'summary: ' || k.title_en,
       jsonb_build_object('value', round((d.r2 * 100)::numeric, 2)),
       d.started, a.updated_at,
       CASE WHEN a.status <> 'firing' THEN d.started + interval '4 minutes' END,
       CASE WHEN a.status <> 'firing' THEN 'operator-' || (1 + floor(d.r2 * 6))::int END,
       CASE WHEN a.status = 'resolved' THEN a.updated_at END,
       CASE WHEN a.status = 'resolved' THEN 'system' END
FROM drawn d
JOIN kinds k ON k.upto = (SELECT min(upto) FROM kinds WHERE upto >= d.pick)
CROSS JOIN LATERAL (
    SELECT gen_random_uuid() AS id,
           CASE WHEN d.started < %(end)s::timestamptz - interval '1 day' OR d.r2 < 0.7
                THEN 'resolved' WHEN d.r2 < 0.85 THEN 'acknowledged' ELSE 'firing' END
               AS status,
           least(d.started + interval '10 minutes' + d.r2 * interval '6 hours',
                 %(end)s::timestamptz) AS updated_at
) a
"""

HISTORY_SQL = """
INSERT INTO alert_history (alert_id, at, actor, action, status, severity, note, note_en,
                           event_time)
SELECT id, started_at, 'system', 'fired', 'firing', severity, 'tóm tắt: ' || title_vi,
       'summary: ' || title_en, started_at FROM alerts WHERE fingerprint LIKE 'bench-%'
UNION ALL
SELECT id, acknowledged_at, acknowledged_by, 'acknowledged', 'acknowledged', severity,
       'đã xem', NULL, NULL FROM alerts
WHERE fingerprint LIKE 'bench-%' AND acknowledged_at IS NOT NULL
UNION ALL
SELECT id, resolved_at, 'system', 'resolved', 'resolved', severity, 'đã hết', 'cleared',
       resolved_at FROM alerts WHERE fingerprint LIKE 'bench-%' AND resolved_at IS NOT NULL
"""


def alerts(conn: psycopg.Connection, start: datetime, end: datetime) -> None:
    """A year of alerts at ALERTS_PER_DAY with their history (the same on every engine:
    the seed is fixed)."""
    devices = [r[0] for r in conn.execute("SELECT id FROM devices ORDER BY id")]
    columns = list(zip(*ALERT_KINDS, strict=True))
    conn.execute("SELECT setseed(0.13)")
    with conn.transaction():
        conn.execute(
            ALERTS_SQL,
            {
                "rules": list(columns[0]), "domains": list(columns[1]),
                "severities": list(columns[2]), "titles_vi": list(columns[3]),
                "titles_en": list(columns[4]), "shares": list(columns[5]),
                "devices": devices, "start": start, "end": end,
                "step": timedelta(days=1) / ALERTS_PER_DAY,
            },
        )  # fmt: skip
        conn.execute(HISTORY_SQL)
