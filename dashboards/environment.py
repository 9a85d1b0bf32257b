"""Environment desk: air quality (VN_AQI and QCVN 05:2023), river levels and salinity, per
province and station; the open crop-pest and epidemic warnings of the same desk."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import statushistory, table, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from config.timezone import LOCAL_TZ_NAME as LOCAL_TZ
from dashboards import panels, reference, variables
from dashboards.datasource import ref
from dashboards.queries import MINUTE_MAX, RANGE, ordered, series_by_range
from processors.environment import aqi, qcvn

UID = "ioc-environment"
TITLE = "Môi trường — không khí, mực nước, độ mặn"
STATION_TYPES = ("air_quality", "water_level", "salinity")
# Pollutants with a QCVN limit and a canonical metric (TSP has no metric yet).
POLLUTANTS = (
    ("pm25", "PM2.5"),
    ("pm10", "PM10"),
    ("no2", "NO₂"),
    ("so2", "SO₂"),
    ("o3", "O₃"),
    ("co", "CO"),
)
PERIOD_LABEL = {"1h": "1 giờ", "24h": "24 giờ"}

AQI_HOURLY_SQL = """
SELECT a.hour AS "time", coalesce(d.name, d.id) AS metric, a.aqi AS value
FROM aqi_hourly a
JOIN devices d ON d.id = a.device_id
WHERE $__timeFilter(a.hour) AND a.aqi IS NOT NULL AND a.device_id IN ($station)
ORDER BY 1, 2
"""


def aqi_bands_steps() -> dash.ThresholdsConfig:
    bands = reference.aqi_bands()
    return panels.steps((None, bands[0].colour), *((b.start, b.colour) for b in bands[1:]))


def aqi_hourly() -> timeseries.Panel:
    return (
        panels.timeseries_panel(
            "VN_AQI theo giờ",
            "Chất lượng không khí từng giờ ở mỗi trạm đang ở hạng nào (nền màu: Tốt, Trung bình,"
            " Kém, Xấu, Rất xấu, Nguy hại theo Quyết định 1459/QĐ-TCMT)?",
            AQI_HOURLY_SQL,
            unit="none",
            width=24,
            height=9,
        )
        .min(0)
        .thresholds(aqi_bands_steps())
        .thresholds_style(GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.AREA))
    )


def flood_lines_sql() -> str:
    key = reference.flood_metadata_key()
    levels = ", ".join(f"('{k}', '{label}')" for k, label in reference.flood_levels())
    return f"""
-- The station's own BĐ lines, drawn across the range.
SELECT edge.t, coalesce(d.name, d.id) || ' – ' || lvl.label,
       (d.metadata -> '{key}' ->> lvl.key)::float8
FROM devices d
CROSS JOIN (VALUES {levels}) AS lvl (key, label)
CROSS JOIN (VALUES ($__timeFrom()::timestamptz), ($__timeTo()::timestamptz)) AS edge (t)
WHERE d.id IN ($station) AND d.type = 'water_level' AND d.metadata -> '{key}' ? lvl.key
"""


def water_level() -> timeseries.Panel:
    sql = ordered(
        series_by_range("m.metric = 'waterLevel' AND m.device_id IN ($station)")
        + "UNION ALL"
        + flood_lines_sql()
    )
    panel = panels.timeseries_panel(
        "Mực nước và vạch báo động BĐ I/II/III",
        "Mực nước sông ở mỗi trạm thủy văn đang cách vạch báo động của chính trạm đó bao xa"
        " (Quyết định 05/2020/QĐ-TTg; đường nét đứt là vạch BĐ)?",
        sql,
        unit="lengthm",
        width=12,
        height=9,
    )
    colours = ("yellow", "orange", "red")
    for (_, label), colour in zip(reference.flood_levels(), colours, strict=True):
        panel.override_by_regexp(f".* – {label}$", panels.dashed_line(colour, 1))
    return panel


def salinity() -> timeseries.Panel:
    lines = reference.salinity_lines()
    return (
        panels.timeseries_panel(
            "Độ mặn và vạch 1 ‰ / 4 ‰",
            "Nước mặn đã vào tới đâu? Độ mặn ở mỗi trạm so với vạch 1 ‰ (ngừng lấy nước sinh hoạt"
            " chưa xử lý) và 4 ‰ (ngừng lấy nước tưới).",
            ordered(series_by_range("m.metric = 'salinity' AND m.device_id IN ($station)")),
            unit="none",
            width=12,
            height=9,
        )
        .axis_label("‰")
        .thresholds(panels.steps((None, "green"), *((line.start, line.colour) for line in lines)))
        .thresholds_style(GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED))
    )


def limit_values(metric: str, period: str) -> str:
    """The regulation's entries for one pollutant and period, valid_from included, so a
    chart across a change of limit draws the one in force at each hour."""
    entries = qcvn.standard().limits[metric][period]
    rows = ", ".join(
        f"({'NULL' if e.valid_from is None else repr(e.valid_from.isoformat())}::date, {e.value:g})"
        for e in entries
    )
    return f"limits (valid_from, value) AS (VALUES {rows})"


# The day's statistic each limit is judged on, as the air job stores it in
# aqi_daily.inputs (processors/environment/aqi.py daily columns).
DAILY_INPUT = {"o3": "o3_1h"}
DAILY_LABEL = {"24h": "TB 24 giờ", "1h": "cao nhất 1 giờ trong ngày"}


def pollutant_sql(metric: str, period: str) -> str:
    """Up to 7 days: hourly means (and the rolling 24-hour mean where the limit is a
    24-hour one). Longer: one value a day per station, the statistic the limit is judged
    on, from the air job's daily rows, so a month of 60 stations is 1,800 points instead
    of 43,000 hourly ones and a window over them (bench/dashboard_queries.py)."""
    min_hours = aqi.tables().pm_24h_min_hours
    label = f"QCVN 05:2023 ({PERIOD_LABEL[period]})"
    short = f"{RANGE} <= INTERVAL '{MINUTE_MAX}'"
    rolling = ""
    if period == "24h":
        rolling = f"""
UNION ALL
-- The 24-hour mean the limit applies to, where at least {min_hours} of its 24 hours exist.
SELECT r.t, r.series || ' (TB 24 giờ)', r.value
FROM rolling r
WHERE {short} AND r.t >= $__timeFrom()::timestamptz AND r.hours >= {min_hours}"""
    daily_key = DAILY_INPUT.get(metric, metric)
    return f"""
WITH hourly AS NOT MATERIALIZED (
    SELECT m.bucket AS t, coalesce(d.name, d.id) AS series, m.avg AS value
    FROM measurements_1h m
    JOIN devices d ON d.id = m.device_id
    WHERE {short}
      AND m.bucket > $__timeFrom()::timestamptz - INTERVAL '1 day'
      AND m.bucket <= $__timeTo()::timestamptz
      AND m.metric = '{metric}' AND m.device_id IN ($station)
), rolling AS NOT MATERIALIZED (
    SELECT t, series, avg(value) OVER w AS value, count(*) OVER w AS hours
    FROM hourly
    WINDOW w AS (PARTITION BY series ORDER BY t
                 RANGE BETWEEN INTERVAL '23 hours' PRECEDING AND CURRENT ROW)
), {limit_values(metric, period)}
SELECT t AS "time", series AS metric, value
FROM hourly
WHERE t >= $__timeFrom()::timestamptz{rolling}
UNION ALL
-- Longer ranges: the day's value, drawn at local noon.
SELECT (a.day + TIME '12:00') AT TIME ZONE '{LOCAL_TZ}',
       coalesce(d.name, d.id) || ' ({DAILY_LABEL[period]})',
       (a.inputs ->> '{daily_key}')::float8
FROM aqi_daily a
JOIN devices d ON d.id = a.device_id
WHERE NOT {short} AND a.inputs ? '{daily_key}' AND a.device_id IN ($station)
  AND a.day BETWEEN ($__timeFrom()::timestamptz AT TIME ZONE '{LOCAL_TZ}')::date
                AND ($__timeTo()::timestamptz AT TIME ZONE '{LOCAL_TZ}')::date
UNION ALL
SELECT h.t, '{label}', l.value
FROM generate_series(
    date_trunc('hour', $__timeFrom()::timestamptz), $__timeTo()::timestamptz,
    CASE WHEN {short} THEN INTERVAL '1 hour' ELSE INTERVAL '1 day' END
) AS h (t)
CROSS JOIN LATERAL (
    SELECT value FROM limits
    WHERE valid_from IS NULL OR valid_from <= (h.t AT TIME ZONE '{LOCAL_TZ}')::date
    ORDER BY valid_from DESC NULLS LAST
    LIMIT 1
) l
ORDER BY 1, 2
"""


def pollutant(metric: str, name: str) -> timeseries.Panel:
    periods = qcvn.standard().limits[metric]
    period = "1h" if "1h" in periods else "24h"
    what = (
        "trung bình giờ; khoảng dài hơn 7 ngày: giá trị 1 giờ cao nhất mỗi ngày"
        if period == "1h"
        else "trung bình giờ và trung bình 24 giờ; khoảng dài hơn 7 ngày: trung bình 24 giờ"
        " mỗi ngày"
    )
    panel = panels.timeseries_panel(
        f"{name} so với QCVN 05:2023 ({PERIOD_LABEL[period]})",
        f"{name} ({what}) ở mỗi trạm có vượt giới hạn {PERIOD_LABEL[period]} của"
        f" {qcvn.standard().source.split(' (')[0]} không (đường đỏ nét đứt)?",
        pollutant_sql(metric, period),
        unit="conμgm3",
        width=8,
        height=8,
    )
    return panel.override_by_regexp("^QCVN.*", panels.dashed_line("red"))


AQI_DAILY_SQL = f"""
SELECT (a.day::timestamp AT TIME ZONE '{LOCAL_TZ}') AS "time",
       coalesce(d.name, d.id) AS metric,
       a.aqi AS value
FROM aqi_daily a
JOIN devices d ON d.id = a.device_id
WHERE a.day BETWEEN ($__timeFrom()::timestamptz AT TIME ZONE '{LOCAL_TZ}')::date
                AND ($__timeTo()::timestamptz AT TIME ZONE '{LOCAL_TZ}')::date
  AND a.device_id IN ($station)
ORDER BY 1, 2
"""


def aqi_calendar() -> statushistory.Panel:
    return (
        statushistory.Panel()
        .title("Lịch AQI theo ngày (30 ngày)")
        .description(
            "Ngày nào trong tháng không khí ở mỗi trạm kém? Mỗi ô là VN_AQI của một ngày,"
            " tô màu theo hạng."
        )
        .datasource(ref())
        .with_target(panels.query(AQI_DAILY_SQL, "time_series"))
        .time_from("30d")
        .span(24)
        .height(8)
        .show_value(common.VisibilityMode.AUTO)
        .thresholds(aqi_bands_steps())
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
    )


SEVERITY_NAME = "\n".join(
    f"        WHEN {level} THEN '{label}'" for level, _, label, _ in reference.SEVERITIES
)
# Light traps and commune case counts (issue 15): few alerts, each with its district, so a
# list reads better than a chart. Not filtered by $province: communes keep their
# pre-2025 province names (their seasonal baselines need the same units year on year).
PESTS_EPIDEMICS_SQL = f"""
SELECT a.started_at AS "Bắt đầu",
       CASE a.domain WHEN 'pests' THEN 'Sâu bệnh hại lúa' ELSE 'Dịch bệnh' END AS "Lĩnh vực",
       a.labels ->> 'district' AS "Huyện",
       a.labels ->> 'province' AS "Tỉnh",
       a.title_vi AS "Cảnh báo",
       CASE a.severity
{SEVERITY_NAME}
        ELSE 'Thông tin'
       END AS "Mức",
       CASE a.status WHEN 'firing' THEN 'Đang cảnh báo' ELSE 'Đã xác nhận' END AS "Trạng thái"
FROM alerts a
WHERE a.domain IN ('pests', 'epidemics') AND a.status <> 'resolved'
ORDER BY a.severity DESC, a.started_at DESC
LIMIT 50
"""


def pests_epidemics() -> table.Panel:
    return panels.table_panel(
        "Sâu bệnh và dịch bệnh — cảnh báo đang mở",
        "Huyện nào đang có cảnh báo rầy nâu, sâu bệnh hại lúa hay dịch bệnh (sốt xuất huyết,"
        " tay chân miệng) chưa kết thúc?",
        PESTS_EPIDEMICS_SQL,
        width=24,
        height=7,
    )


def build() -> dash.Dashboard:
    board = (
        dash.Dashboard(TITLE)
        .uid(UID)
        .tags(["ioc", "environment"])
        .description(
            "Bàn môi trường: VN_AQI, QCVN 05:2023, mực nước, độ mặn; sâu bệnh và dịch bệnh."
        )
        .time("now-24h", "now")
        .timezone("browser")
        .refresh("1m")
        .readonly()
        .link(panels.desk_links())
        .with_variable(variables.province())
        .with_variable(variables.station(STATION_TYPES))
        .with_panel(aqi_hourly())
        .with_panel(water_level())
        .with_panel(salinity())
    )
    for metric, name in POLLUTANTS:
        board.with_panel(pollutant(metric, name))
    return board.with_panel(aqi_calendar()).with_panel(pests_epidemics())
