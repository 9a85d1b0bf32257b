"""Every figure of the leadership report comes from one named query here, and the report
names the query beside the figure (and lists them all in its appendix), so a number in
the PDF can be checked against the database with the SQL below.

All queries take the same parameters: `start`/`end` (the period, UTC instants of local
midnight, end exclusive), `day_from`/`day_to` (the same as local dates) and `bucket`
('hour' or 'day', the ingest-volume step). Episodes (alerts) count when they overlap the
period, and their durations are clipped to it. Counts only where people are concerned:
no plate, no user name, no message text leaves these queries.

The archive of built reports (`reports`, migration 21) is read and written here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.jsonb import jsonb


@dataclass(frozen=True)
class Query:
    name: str
    about_vi: str
    about_en: str
    sql: str


# An alert overlapping the period, and its part inside the period.
_OVERLAPS = "a.started_at < %(end)s AND coalesce(a.resolved_at, 'infinity') > %(start)s"
_CLIPPED_HOURS = (
    "extract(epoch FROM least(coalesce(a.resolved_at, %(end)s), %(end)s)"
    " - greatest(a.started_at, %(start)s)) / 3600.0"
)
_STARTED_IN = "a.started_at >= %(start)s AND a.started_at < %(end)s"

_QUERIES = (
    Query(
        "aqi_days",
        "Số ngày theo mức VN_AQI ngày, mỗi trạm (aqi_daily)",
        "Days per daily VN_AQI category, per station (aqi_daily)",
        "SELECT q.device_id, coalesce(d.name, q.device_id) AS station, q.category,"
        " count(*)::int AS days"
        " FROM aqi_daily q LEFT JOIN devices d ON d.id = q.device_id"
        " WHERE q.day >= %(day_from)s AND q.day < %(day_to)s AND q.category IS NOT NULL"
        " GROUP BY 1, 2, 3 ORDER BY 2, 3",
    ),
    Query(
        "aqi_daily_values",
        "VN_AQI ngày của mỗi trạm, mức và thông số chính (aqi_daily)",
        "Daily VN_AQI per station, its category and dominant pollutant (aqi_daily)",
        "SELECT q.device_id, coalesce(d.name, q.device_id) AS station, q.day, q.aqi,"
        " q.category, q.dominant"
        " FROM aqi_daily q LEFT JOIN devices d ON d.id = q.device_id"
        " WHERE q.day >= %(day_from)s AND q.day < %(day_to)s AND q.aqi IS NOT NULL"
        " ORDER BY q.day, q.aqi DESC, 2 LIMIT 400",
    ),
    Query(
        "qcvn_exceedances",
        "Đợt vượt QCVN 05:2023 theo chất và thời gian trung bình (cảnh báo env.qcvn)",
        "QCVN 05:2023 exceedance episodes per pollutant and averaging period (env.qcvn)",
        "SELECT a.labels->>'metric' AS pollutant, a.labels->>'period' AS period,"
        " count(*)::int AS episodes, count(DISTINCT a.labels->>'device_id')::int AS stations"
        f" FROM alerts a WHERE a.rule = 'env.qcvn' AND {_OVERLAPS}"
        " GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    Query(
        "water_episodes",
        "Đợt lũ (mực nước vượt báo động) và xâm nhập mặn: đỉnh và thời gian trong kỳ",
        "Flood (water level above alarm) and salinity episodes: peak and time in the period",
        "SELECT a.rule, a.labels->>'device_id' AS device_id,"
        " coalesce(d.name, a.labels->>'device_id') AS station, d.district,"
        " a.peak_severity::int AS peak_severity, a.started_at, a.resolved_at,"
        f" round(({_CLIPPED_HOURS})::numeric, 2)::float AS hours,"
        " (SELECT max(m.value) FROM measurements m"
        "   WHERE m.device_id = a.labels->>'device_id'"
        "     AND m.metric = CASE a.rule WHEN 'env.water_level' THEN 'waterLevel'"
        "                                ELSE 'salinity' END"
        "     AND m.time >= greatest(a.started_at, %(start)s)"
        "     AND m.time <= least(coalesce(a.resolved_at, %(end)s), %(end)s)) AS peak"
        " FROM alerts a LEFT JOIN devices d ON d.id = a.labels->>'device_id'"
        f" WHERE a.rule IN ('env.water_level', 'env.salinity') AND {_OVERLAPS}"
        " ORDER BY a.rule, a.started_at, 3",
    ),
    Query(
        "alerts_by_domain",
        "Cảnh báo phát sinh trong kỳ theo lĩnh vực và mức độ cao nhất",
        "Alerts started in the period per domain and peak severity",
        "SELECT a.domain, a.peak_severity::int AS severity, count(*)::int AS alerts"
        f" FROM alerts a WHERE {_STARTED_IN} GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    Query(
        "public_warnings_by_kind",
        "Bản tin cảnh báo công khai (CAP, trạng thái Actual) đã phát theo loại và kiểu bản tin",
        "Public CAP warnings (status Actual) sent per kind and message type",
        "SELECT w.kind, w.msg_type, count(*)::int AS messages,"
        " count(DISTINCT w.incident)::int AS incidents"
        " FROM public_warnings w WHERE w.status = 'Actual'"
        " AND w.sent >= %(start)s AND w.sent < %(end)s GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    Query(
        "public_warnings_list",
        "Danh sách bản tin cảnh báo công khai đã phát trong kỳ (tối đa 30)",
        "Public warnings sent in the period (up to 30)",
        "SELECT w.sent, w.kind, w.msg_type, w.severity, w.district, w.province,"
        " w.headline_vi, w.manual"
        " FROM public_warnings w WHERE w.status = 'Actual'"
        " AND w.sent >= %(start)s AND w.sent < %(end)s ORDER BY w.sent, w.identifier LIMIT 30",
    ),
    Query(
        "pest_epidemic_alerts",
        "Cảnh báo sâu bệnh (pest.*) và dịch bệnh (epidemic.*) phát sinh trong kỳ theo huyện",
        "Pest (pest.*) and epidemic (epidemic.*) alerts started in the period per district",
        "SELECT split_part(a.rule, '.', 1) AS kind,"
        " coalesce(a.labels->>'district', '') AS district,"
        " count(*)::int AS alerts, max(a.peak_severity)::int AS severity"
        " FROM alerts a WHERE (a.rule LIKE 'pest.%%' OR a.rule LIKE 'epidemic.%%')"
        f" AND {_STARTED_IN}"
        " GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    Query(
        "security_by_host",
        "Cảnh báo an toàn thông tin phát sinh trong kỳ theo cơ quan, máy chủ bị nhắm tới và mức độ",
        "Security alerts started in the period per agency, targeted host and severity",
        "SELECT coalesce(a.labels->>'agency', '') AS agency,"
        " coalesce(a.labels->>'host_name', a.alert_values->>'host_name', '') AS host,"
        " a.peak_severity::int AS severity, count(*)::int AS alerts"
        f" FROM alerts a WHERE a.domain = 'security' AND {_STARTED_IN}"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    ),
    Query(
        "security_sources",
        "Địa chỉ nguồn của các cảnh báo an toàn thông tin trong kỳ (50 nguồn nhiều nhất)",
        "Source addresses of the period's security alerts (the 50 most frequent)",
        "SELECT a.labels->>'source_ip' AS source_ip, count(*)::int AS alerts,"
        " max(a.peak_severity)::int AS severity"
        f" FROM alerts a WHERE a.domain = 'security' AND a.labels ? 'source_ip' AND {_STARTED_IN}"
        " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50",
    ),
    Query(
        "security_ack",
        "Thời gian từ khi phát sinh đến khi tiếp nhận cảnh báo an toàn thông tin, theo mức độ",
        "Time from start to acknowledgement of security alerts, per severity",
        "SELECT a.peak_severity::int AS severity, count(*)::int AS alerts,"
        " count(a.acknowledged_at)::int AS acknowledged,"
        " percentile_cont(0.5) WITHIN GROUP"
        "  (ORDER BY extract(epoch FROM a.acknowledged_at - a.started_at)) AS median_s,"
        " percentile_cont(0.9) WITHIN GROUP"
        "  (ORDER BY extract(epoch FROM a.acknowledged_at - a.started_at)) AS p90_s"
        f" FROM alerts a WHERE a.domain = 'security' AND {_STARTED_IN}"
        " GROUP BY 1 ORDER BY 1",
    ),
    Query(
        "camera_offline",
        "Thời gian camera mất kết nối (health.offline) hoặc mất hình (camera.video_loss) trong kỳ",
        "Camera time offline (health.offline) or without video (camera.video_loss) in the period",
        "SELECT d.id AS camera, coalesce(d.name, d.id) AS name, a.rule, count(*)::int AS episodes,"
        f" round(sum({_CLIPPED_HOURS})::numeric, 2)::float AS hours"
        " FROM alerts a JOIN devices d"
        "   ON d.id = coalesce(a.labels->>'device_id', a.labels->>'camera') AND d.type = 'camera'"
        f" WHERE a.rule IN ('health.offline', 'camera.video_loss') AND {_OVERLAPS}"
        " GROUP BY 1, 2, 3 ORDER BY 5 DESC, 1",
    ),
    Query(
        "camera_alerts",
        "Cảnh báo camera phát sinh trong kỳ theo loại (chỉ đếm, không có biển số)",
        "Camera alerts started in the period per kind (counts only, no plates)",
        "SELECT a.rule, count(*)::int AS alerts,"
        " count(DISTINCT coalesce(a.labels->>'camera', a.labels->>'device_id'))::int AS cameras"
        " FROM alerts a WHERE a.rule IN"
        " ('camera.intrusion', 'camera.loitering', 'camera.crowding', 'camera.plate_watch')"
        f" AND {_STARTED_IN} GROUP BY 1 ORDER BY 1",
    ),
    Query(
        "camera_intrusions",
        "Xâm nhập vùng cấm theo camera (10 camera nhiều nhất)",
        "Restricted-zone intrusions per camera (top 10)",
        "SELECT a.labels->>'camera' AS camera, coalesce(d.name, a.labels->>'camera') AS name,"
        " count(*)::int AS alerts"
        " FROM alerts a LEFT JOIN devices d ON d.id = a.labels->>'camera'"
        f" WHERE a.rule = 'camera.intrusion' AND {_STARTED_IN}"
        " GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 10",
    ),
    Query(
        "completeness",
        "Số thời điểm có số liệu của mỗi thiết bị trong kỳ (so với chu kỳ gửi khai báo)",
        "Distinct reading times per device in the period (against its declared interval)",
        "SELECT d.id AS device_id, coalesce(d.name, d.id) AS name, d.type,"
        " d.expected_interval_s, d.created_at,"
        " (SELECT count(DISTINCT m.time) FROM measurements m WHERE m.device_id = d.id"
        "   AND m.time >= %(start)s AND m.time < %(end)s)::int AS received"
        " FROM devices d WHERE d.created_at < %(end)s ORDER BY d.type, d.id",
    ),
    Query(
        "ingest_volume",
        "Số bản ghi đo đã nhận theo giờ (báo cáo ngày) hoặc theo ngày (tuần, tháng), giờ Việt Nam",
        "Readings received per hour (daily report) or per day (week, month), Vietnam time",
        "SELECT date_trunc(%(bucket)s, m.time AT TIME ZONE 'Asia/Ho_Chi_Minh') AS bucket,"
        " count(*)::int AS readings"
        " FROM measurements m WHERE m.time >= %(start)s AND m.time < %(end)s"
        " GROUP BY 1 ORDER BY 1",
    ),
    Query(
        "ingest_totals",
        "Tổng số bản ghi đã lưu trong kỳ theo loại dữ liệu",
        "Records stored in the period per kind of data",
        "SELECT 'measurements' AS kind, count(*)::int AS records FROM measurements"
        "  WHERE time >= %(start)s AND time < %(end)s"
        " UNION ALL SELECT 'security_events', count(*)::int FROM security_events"
        "  WHERE time >= %(start)s AND time < %(end)s"
        " UNION ALL SELECT 'camera_events', count(*)::int FROM camera_events"
        "  WHERE time >= %(start)s AND time < %(end)s"
        " UNION ALL SELECT 'dead_letters', count(*)::int FROM dead_letters"
        "  WHERE received_at >= %(start)s AND received_at < %(end)s",
    ),
    Query(
        "dead_letters",
        "Bản tin lỗi (dead letters) nhận trong kỳ theo đường truyền, định dạng và loại lỗi",
        "Dead letters received in the period per transport, format and kind of reason",
        # The reason's first clause only: the rest can quote the message's own bytes.
        "SELECT transport, coalesce(format, '') AS format,"
        " split_part(reason, ':', 1) AS reason, count(*)::int AS letters"
        " FROM dead_letters WHERE received_at >= %(start)s AND received_at < %(end)s"
        " GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT 15",
    ),
)

QUERIES: dict[str, Query] = {q.name: q for q in _QUERIES}
# Read only when the table exists (helper A's migration 18 makes it).
OPTIONAL_TABLES = {
    "public_warnings_by_kind": "public_warnings",
    "public_warnings_list": "public_warnings",
}


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    day_from: date
    day_to: date
    bucket: str  # 'hour' | 'day'

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "day_from": self.day_from,
            "day_to": self.day_to,
            "bucket": self.bucket,
        }


def table_exists(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def run(conn: psycopg.Connection, name: str, window: Window) -> list[dict[str, Any]] | None:
    """The query's rows; None when the table it reads does not exist (yet)."""
    needs = OPTIONAL_TABLES.get(name)
    if needs is not None and not table_exists(conn, needs):
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(QUERIES[name].sql, window.params())
        return cur.fetchall()


def run_all(conn: psycopg.Connection, window: Window) -> dict[str, list[dict[str, Any]] | None]:
    """Every query, in one repeatable-read snapshot so the figures agree with each other
    (inside a caller's transaction, such as a job's, in that transaction instead)."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return {name: run(conn, name, window) for name in QUERIES}
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return {name: run(conn, name, window) for name in QUERIES}


# ---- the archive -----------------------------------------------------------------

_LIST_COLUMNS = "id, period, period_start, period_end, built_at, delivered_at, delivery_error"


def save(
    conn: psycopg.Connection,
    *,
    period: str,
    period_start: date,
    period_end: date,
    pdf: bytes,
    html: str,
    figures: dict[str, Any],
) -> int:
    """Insert or replace the report of (period, period_start); its id."""
    row = conn.execute(
        "INSERT INTO reports (period, period_start, period_end, built_at, pdf, html, figures)"
        " VALUES (%s, %s, %s, now(), %s, %s, %s)"
        " ON CONFLICT (period, period_start) DO UPDATE SET period_end = EXCLUDED.period_end,"
        " built_at = now(), pdf = EXCLUDED.pdf, html = EXCLUDED.html,"
        " figures = EXCLUDED.figures, delivered_at = NULL, delivery_error = NULL"
        " RETURNING id",
        (period, period_start, period_end, pdf, html, jsonb(figures)),
    ).fetchone()
    assert row is not None
    return int(row[0])


def exists(conn: psycopg.Connection, period: str, period_start: date) -> bool:
    row = conn.execute(
        "SELECT 1 FROM reports WHERE period = %s AND period_start = %s", (period, period_start)
    ).fetchone()
    return row is not None


def mark_delivered(conn: psycopg.Connection, report_id: int, error: str | None) -> None:
    conn.execute(
        "UPDATE reports SET delivered_at = CASE WHEN %(error)s::text IS NULL THEN now() END,"
        " delivery_error = %(error)s WHERE id = %(id)s",
        {"error": error, "id": report_id},
    )


def list_reports(
    conn: psycopg.Connection, *, period: str | None, limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_LIST_COLUMNS}, octet_length(pdf) AS pdf_bytes FROM reports"
            " WHERE (%(period)s::text IS NULL OR period = %(period)s)"
            " AND (%(before)s::bigint IS NULL OR id < %(before)s)"
            " ORDER BY id DESC LIMIT %(limit)s",
            {"period": period, "before": before_id, "limit": limit},
        )
        return cur.fetchall()


def document(conn: psycopg.Connection, report_id: int, kind: str) -> bytes | str | None:
    """The report's PDF bytes or HTML text; None if there is no such report."""
    column = {"pdf": "pdf", "html": "html"}[kind]
    row = conn.execute(f"SELECT {column} FROM reports WHERE id = %s", (report_id,)).fetchone()
    return None if row is None else row[0]


def figures(conn: psycopg.Connection, report_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT figures FROM reports WHERE id = %s", (report_id,)).fetchone()
    return None if row is None else row[0]


# Marks a report built by hand without --send: the job leaves it alone.
NOT_SENT = "not sent:"


def undelivered(conn: psycopg.Connection, since: datetime) -> list[dict[str, Any]]:
    """Reports built since `since` that no mail server has taken yet, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, period, period_start, period_end, pdf FROM reports"
            " WHERE delivered_at IS NULL AND built_at >= %s"
            " AND (delivery_error IS NULL OR delivery_error NOT LIKE %s)"
            " ORDER BY built_at LIMIT 5",
            (since, NOT_SENT + "%"),
        )
        return cur.fetchall()
