"""Platform desk: is data arriving, what is refused, how big the database is, whether the
rollups keep up and how fast alerts go out."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import common

from dashboards import panels
from dashboards.queries import INTERVAL, RANGE, RAW_MAX, bucket

UID = "ioc-platform"
TITLE = "Nền tảng — dữ liệu vào, hàng đợi, cơ sở dữ liệu"
# Readings may arrive up to this late and still be counted where they were stored: the
# bound lets TimescaleDB skip older chunks and plain PostgreSQL use its BRIN index.
LATE = "3 days"


def per_minute(width: str) -> str:
    return f"60.0 / extract(epoch FROM {width})"


def _event_table(table: str, label: str) -> str:
    width = f"greatest({INTERVAL}, INTERVAL '1 minute')"
    return f"""
    SELECT {bucket("ingested_at", "1 minute")}, '{label}', count(*) * {per_minute(width)}
    FROM {table}
    WHERE $__timeFilter(ingested_at) AND time > $__timeFrom()::timestamptz - INTERVAL '{LATE}'
    GROUP BY 1"""


def ingest_rate_sql() -> str:
    minute = f"greatest({INTERVAL}, INTERVAL '1 minute')"
    hour = f"greatest({INTERVAL}, INTERVAL '1 hour')"
    return f"""
SELECT t AS "time", stream AS metric, value
FROM (
    -- range <= {RAW_MAX}: readings by the time they were stored
    SELECT {bucket("ingested_at", "1 minute")} AS t, 'Số đo (measurements)' AS stream,
           count(*) * {per_minute(minute)} AS value
    FROM measurements
    WHERE {RANGE} <= INTERVAL '{RAW_MAX}'
      AND $__timeFilter(ingested_at) AND time > $__timeFrom()::timestamptz - INTERVAL '{LATE}'
    GROUP BY 1
    UNION ALL
    -- longer ranges: readings by their own time, from the hour rollup's counts
    SELECT {bucket("bucket", "1 hour")}, 'Số đo (measurements)',
           sum(count) * {per_minute(hour)}
    FROM measurements_1h
    WHERE {RANGE} > INTERVAL '{RAW_MAX}' AND $__timeFilter(bucket)
    GROUP BY 1
    UNION ALL{_event_table("camera_events_public", "Sự kiện camera")}
    UNION ALL{_event_table("security_events", "Sự kiện an ninh")}
    UNION ALL
    SELECT {bucket("received_at", "1 minute")}, 'Bản tin bị từ chối',
           count(*) * {per_minute(minute)}
    FROM dead_letters
    WHERE $__timeFilter(received_at)
    GROUP BY 1
) s
ORDER BY 1, 2
"""


# The reason and where it came from; never the payload (the reader role cannot read it).
DEAD_LETTERS_SQL = """
SELECT reason AS "Lý do",
       transport AS "Đường vào",
       coalesce(format, '—') AS "Định dạng",
       count(*) AS "Số thư",
       sum(payload_size) AS "Tổng kích thước",
       max(received_at) AS "Lần cuối"
FROM dead_letters
WHERE $__timeFilter(received_at)
GROUP BY 1, 2, 3
ORDER BY 4 DESC, 1
LIMIT 30
"""

DATABASE_SIZE_SQL = """
SELECT pg_database_size(current_database()) AS "Dung lượng CSDL"
"""

# Partitions (TimescaleDB chunks) count towards the table they belong to.
TABLE_SIZES_SQL = """
SELECT coalesce(p.relname, c.relname) AS "Bảng",
       sum(pg_total_relation_size(c.oid)) AS "Dung lượng",
       count(*) AS "Phân vùng"
FROM pg_class c
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
LEFT JOIN pg_class p ON p.oid = i.inhparent
WHERE c.relkind IN ('r', 'm')
  AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 15
"""

# One query for both engines: schema_engine says which; query_to_xml runs only the
# branch for it, so the other engine's catalog is never named in a plan. TimescaleDB:
# its continuous-aggregate refresh jobs, or the service's own runs of them where
# TimescaleDB's scheduler fails them (policy_runs, store/timescale_jobs.py);
# plain PostgreSQL: the service's watermarks.
ROLLUP_FRESHNESS_SQL = """
WITH source AS (
    SELECT CASE e.engine
        WHEN 'timescaledb' THEN query_to_xml(
            'SELECT j.hypertable_name AS rollup,
                    greatest(CASE WHEN isfinite(s.last_successful_finish)
                                  THEN s.last_successful_finish END,
                             p.last_success) AS refreshed,
                    CASE WHEN p.last_success >= coalesce(s.last_successful_finish,
                                                         ''-infinity'')
                         THEN ''Thành công (dịch vụ chạy thay)''
                         WHEN s.last_run_status = ''Success'' THEN ''Thành công''
                         WHEN s.last_run_status = ''Failed'' THEN ''Lỗi''
                         ELSE s.last_run_status END AS status
             FROM timescaledb_information.jobs j
             JOIN timescaledb_information.job_stats s USING (job_id)
             LEFT JOIN policy_runs p USING (job_id)
             WHERE j.proc_name = ''policy_refresh_continuous_aggregate''',
            false, false, '')
        ELSE query_to_xml(
            'SELECT rollup, refreshed_through AS refreshed FROM rollup_watermarks',
            false, false, '')
        END AS doc
    FROM schema_engine e
), job AS (
    SELECT (xpath('/row/rollup/text()', r))[1]::text AS rollup,
           ((xpath('/row/refreshed/text()', r))[1]::text)::timestamptz AS refreshed,
           (xpath('/row/status/text()', r))[1]::text AS status
    FROM source CROSS JOIN LATERAL unnest(xpath('/table/row', doc)) AS r
)
SELECT rollup AS "Bảng gộp",
       refreshed AS "Làm mới gần nhất",
       -- Behind its own schedule (the hourly rollup is an hour old by design before its
       -- next run), so one colour scale fits both.
       greatest(0, extract(epoch FROM now() - refreshed)
                   - CASE WHEN rollup LIKE '%1h' THEN 3600 ELSE 60 END) AS "Trễ so với lịch",
       coalesce(status, '—') AS "Lần chạy cuối"
FROM job
ORDER BY 1
"""

DELIVERY_LATENCY_SQL = f"""
SELECT {bucket("o.created_at", "1 minute")} AS "time",
       o.channel || ' p95' AS metric,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM o.sent_at - o.created_at))
           AS value
FROM outbox o
WHERE o.status = 'sent' AND $__timeFilter(o.created_at)
GROUP BY 1, 2
UNION ALL
SELECT {bucket("o.created_at", "1 minute")},
       o.channel || ' p50',
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.sent_at - o.created_at))
FROM outbox o
WHERE o.status = 'sent' AND $__timeFilter(o.created_at)
GROUP BY 1, 2
ORDER BY 1, 2
"""

OUTBOX_STATE_SQL = """
SELECT count(*) FILTER (WHERE status = 'pending') AS "Đang chờ gửi",
       count(*) FILTER (WHERE status = 'failed') AS "Gửi lỗi",
       count(*) FILTER (WHERE status = 'pending' AND due_at < now() - INTERVAL '5 minutes')
           AS "Quá hạn > 5 phút"
FROM outbox
"""


def build() -> dash.Dashboard:
    return (
        dash.Dashboard(TITLE)
        .uid(UID)
        .tags(["ioc", "platform"])
        .description(
            "Vận hành nền tảng: dữ liệu vào, bản tin bị từ chối, dung lượng, bảng gộp,"
            " gửi cảnh báo."
        )
        .time("now-6h", "now")
        .timezone("browser")
        .refresh("1m")
        .readonly()
        .link(panels.desk_links())
        .with_panel(
            panels.timeseries_panel(
                "Tốc độ nhận dữ liệu theo luồng",
                "Dữ liệu từ mỗi luồng (số đo, camera, an ninh) có đang về đều không, và bao nhiêu"
                " thư bị từ chối? Bản ghi mỗi phút. Dưới 1 ngày: theo lúc lưu; dài hơn: số đo"
                " theo thời điểm đo từ bảng gộp theo giờ (không quét bảng thô quá 1 ngày).",
                ingest_rate_sql(),
                unit="short",
                width=16,
                height=9,
            ).axis_label("bản ghi/phút")
        )
        .with_panel(
            panels.stat_panel(
                "Dung lượng cơ sở dữ liệu",
                "Cơ sở dữ liệu đang chiếm bao nhiêu dung lượng đĩa?",
                DATABASE_SIZE_SQL,
                width=4,
                height=9,
            )
            .unit("bytes")
            .color_mode(common.BigValueColorMode.VALUE)
            .thresholds(panels.steps((None, "blue")))
        )
        .with_panel(
            panels.stat_panel(
                "Hàng đợi thông báo",
                "Có thông báo cảnh báo nào bị kẹt (chờ quá hạn hoặc gửi lỗi) không?",
                OUTBOX_STATE_SQL,
                width=4,
                height=9,
            ).thresholds(panels.steps((None, "green"), (1, "orange")))
        )
        .with_panel(
            panels.table_panel(
                "Bản tin bị từ chối theo lý do",
                "Vì sao tin nhắn bị từ chối (sai định dạng, quá lớn, không có tuyến…), từ đường"
                " nào, bao nhiêu? Không hiển thị nội dung bản tin.",
                DEAD_LETTERS_SQL,
                width=12,
                height=9,
            ).with_override(
                panels.by_name("Tổng kích thước"),
                [panels.prop("unit", "bytes")],
            )
        )
        .with_panel(
            panels.timeseries_panel(
                "Độ trễ gửi cảnh báo",
                "Một thông báo cảnh báo mất bao lâu từ lúc tạo đến lúc kênh nhận (p50, p95 theo"
                " kênh)?",
                DELIVERY_LATENCY_SQL,
                unit="s",
                width=12,
                height=9,
            )
        )
        .with_panel(
            panels.table_panel(
                "Độ mới của bảng gộp",
                "Các bảng gộp (theo phút, theo giờ) có được làm mới đúng hạn không? TimescaleDB:"
                " lần chạy thành công gần nhất của job làm mới; PostgreSQL thuần: mốc đã gộp"
                " đến. Biểu đồ dài hơn 1 ngày đọc các bảng này (7 ngày trở xuống: theo"
                " phút).",
                ROLLUP_FRESHNESS_SQL,
                width=12,
                height=7,
            ).with_override(
                panels.by_name("Trễ so với lịch"),
                [
                    panels.prop("unit", "s"),
                    *panels.cell_colour(),
                    panels.threshold_prop((None, "green"), (300, "orange"), (3600, "red")),
                ],
            )
        )
        .with_panel(
            panels.table_panel(
                "Dung lượng theo bảng",
                "Bảng nào chiếm nhiều đĩa nhất (kể cả các phân vùng/chunk của nó)?",
                TABLE_SIZES_SQL,
                width=12,
                height=7,
            ).with_override(
                panels.by_name("Dung lượng"),
                [panels.prop("unit", "bytes")],
            )
        )
    )
