"""Cameras and traffic desk: what the cameras saw, ANPR reads per camera (never a plate),
intrusions into restricted zones, whether each camera is alive, and traffic counts (when
traffic sensors send). Camera events are read through `camera_events_public` (no plate, no
attributes: migration 17)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders.common import StackingConfig
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards import panels, reference, variables
from dashboards.queries import bucket, ordered, series_by_range

UID = "ioc-cameras"
TITLE = "Camera và giao thông"
# Traffic metrics of events/metrics.yaml (FIWARE TrafficFlowObserved names).
TRAFFIC_METRICS = ("intensity", "occupancy", "averageVehicleSpeed")
# Zones an operator treats as restricted: the variable's default selection.
RESTRICTED_ZONES = ("restricted_area", "border_line")

CAMERA_VARIABLE_SQL = """
SELECT DISTINCT camera FROM camera_events_public WHERE $__timeFilter(time) ORDER BY 1
"""
ZONE_VARIABLE_SQL = """
SELECT DISTINCT z.zone
FROM camera_events_public e CROSS JOIN LATERAL unnest(e.zones) AS z (zone)
WHERE $__timeFilter(e.time)
ORDER BY 1
"""

# Frigate review items (label = their severity, alert / detection) repeat what their
# objects say: counted as objects they would show "alert" as a kind of object, twice.
EVENTS_BY_LABEL_SQL = f"""
SELECT {bucket("e.time", "1 minute")} AS "time",
       coalesce(e.label, '(không nhãn)') AS metric,
       count(*) AS value
FROM camera_events_public e
WHERE $__timeFilter(e.time) AND e.camera IN ($camera) AND NOT e.false_positive
  AND e.event_type <> 'review'
GROUP BY 1, 2
ORDER BY 1, 2
"""

EVENTS_BY_CAMERA_SQL = """
SELECT e.camera AS "Camera",
       coalesce(e.label, '(không nhãn)') AS "Nhãn",
       count(*) AS "Sự kiện",
       count(*) FILTER (WHERE e.false_positive) AS "Báo nhầm",
       max(e.top_score) AS "Điểm cao nhất",
       max(e.time) AS "Lần cuối"
FROM camera_events_public e
WHERE $__timeFilter(e.time) AND e.camera IN ($camera) AND e.event_type <> 'review'
GROUP BY 1, 2
ORDER BY 3 DESC, 1, 2
"""

# ANPR reads per camera and hour, never the plate: plates are personal data, kept only in
# plate_reads, which the reader may not read (migrations 14 and 17). ANPR events are
# ISAPI's (and ONVIF's) `anpr` events; a Frigate plate comes inside an object event and
# leaves no trace the reader can see, so Frigate LPR cameras are not counted here.
ANPR_READS_SQL = f"""
SELECT {bucket("e.time", "1 hour")} AS "time",
       e.camera AS metric,
       count(*) AS value
FROM camera_events_public e
WHERE $__timeFilter(e.time) AND e.camera IN ($camera) AND e.event_type = 'anpr'
GROUP BY 1, 2
ORDER BY 1, 2
"""

INTRUSIONS_SQL = """
SELECT e.time AS "Thời điểm",
       e.camera AS "Camera",
       e.label AS "Đối tượng",
       array_to_string(e.zones, ', ') AS "Vùng",
       e.top_score AS "Điểm",
       extract(epoch FROM e.end_time - e.time) AS "Thời lượng",
       e.state AS "Trạng thái"
FROM camera_events_public e
WHERE $__timeFilter(e.time) AND e.camera IN ($camera)
  AND e.zones && ARRAY[$zone]::text[] AND NOT e.false_positive
  AND e.event_type <> 'review'
ORDER BY e.time DESC
LIMIT 100
"""

# Cameras known from their events, with their device state when the camera is also
# registered as a device (then its offline alert colours it).
CAMERA_HEALTH_SQL = """
SELECT c.camera AS "Camera",
       coalesce(o.state, 'unknown') AS "Trạng thái",
       c.last_event AS "Sự kiện cuối",
       c.events AS "Sự kiện (khoảng xem)",
       o.last_seen AS "Lần cuối gửi"
FROM (
    SELECT e.camera, max(e.time) AS last_event, count(*) AS events
    FROM camera_events_public e
    WHERE $__timeFilter(e.time)
    GROUP BY e.camera
) c
LEFT JOIN device_overview o ON o.device_id = c.camera
UNION ALL
SELECT o.device_id, o.state, NULL, 0, o.last_seen
FROM device_overview o
WHERE o.type = 'camera'
  AND NOT EXISTS (
      SELECT 1 FROM camera_events_public e WHERE e.camera = o.device_id AND $__timeFilter(e.time)
  )
ORDER BY 1
"""


def traffic_sql() -> str:
    listed = ", ".join(f"'{m}'" for m in TRAFFIC_METRICS)
    return ordered(
        series_by_range(
            f"m.metric IN ({listed})",
            series="coalesce(d.name, d.id) || ' · ' || m.metric",
        )
    )


def build() -> dash.Dashboard:
    camera = variables.query_variable(
        "camera", "Camera", CAMERA_VARIABLE_SQL, refresh=model.VariableRefresh.ON_TIME_RANGE_CHANGED
    )
    zone = (
        variables.query_variable(
            "zone",
            "Vùng cấm",
            ZONE_VARIABLE_SQL,
            refresh=model.VariableRefresh.ON_TIME_RANGE_CHANGED,
        )
        .include_all(False)
        .current(
            model.VariableOption(
                selected=True, text=list(RESTRICTED_ZONES), value=list(RESTRICTED_ZONES)
            )
        )
    )
    states = panels.text_map(reference.STATES)
    return (
        dash.Dashboard(TITLE)
        .uid(UID)
        .tags(["ioc", "cameras", "traffic"])
        .description(
            "Bàn camera: sự kiện, lượt đọc biển số, vùng cấm, tình trạng camera, giao thông."
        )
        .time("now-6h", "now")
        .timezone("browser")
        .refresh("1m")
        .readonly()
        .link(panels.desk_links())
        .with_variable(camera)
        .with_variable(zone)
        .with_panel(
            panels.timeseries_panel(
                "Sự kiện camera theo loại đối tượng",
                "Camera đang thấy gì (người, xe máy, ô tô, xe tải), nhiều hay ít hơn thường lệ?",
                EVENTS_BY_LABEL_SQL,
                unit="short",
                width=12,
                height=9,
            )
            .draw_style(common.GraphDrawStyle.BARS)
            .fill_opacity(80)
            .stacking(StackingConfig().mode(common.StackingMode.NORMAL))
            .interval("1m")
        )
        .with_panel(
            panels.table_panel(
                "Sự kiện theo camera và nhãn",
                "Camera nào bận nhất, với loại đối tượng nào, bao nhiêu báo nhầm?",
                EVENTS_BY_CAMERA_SQL,
                width=12,
                height=9,
            )
        )
        .with_panel(
            panels.table_panel(
                "Xâm nhập vùng cấm",
                "Ai/cái gì đã vào vùng cấm (chọn vùng ở biến “Vùng cấm”), ở camera nào, lúc nào?",
                INTRUSIONS_SQL,
                width=12,
                height=9,
            ).with_override(panels.by_name("Thời lượng"), [panels.prop("unit", "s")])
        )
        .with_panel(
            panels.timeseries_panel(
                "Lượt đọc biển số (ANPR) theo camera",
                "Mỗi camera ANPR đọc bao nhiêu lượt xe mỗi giờ; camera nào ngừng đọc? Không hiện"
                " biển số (dữ liệu cá nhân, chỉ người vận hành tra cứu qua ứng dụng). Camera"
                " Frigate đọc biển trong sự kiện đối tượng nên không được đếm ở đây.",
                ANPR_READS_SQL,
                unit="short",
                width=12,
                height=9,
            )
            .draw_style(common.GraphDrawStyle.BARS)
            .fill_opacity(80)
            .stacking(StackingConfig().mode(common.StackingMode.NORMAL))
            .interval("1h")
            # Reads in the range and the busiest hour, per camera.
            .legend(panels.legend(table_mode=True, calcs=("sum", "max")))
        )
        .with_panel(
            panels.table_panel(
                "Tình trạng camera",
                "Camera nào im lặng lâu bất thường hoặc đang mất kết nối?",
                CAMERA_HEALTH_SQL,
                width=12,
                height=9,
            )
            .mappings(states)
            .with_override(panels.by_name("Trạng thái"), panels.cell_colour())
        )
        .with_panel(
            panels.timeseries_panel(
                "Lưu lượng giao thông",
                "Lưu lượng xe (xe/5 phút), độ chiếm dụng làn (%) và tốc độ trung bình (km/h) tại"
                " các điểm đếm xe; chung một trục, đọc theo chú giải.",
                traffic_sql(),
                unit="short",
                width=12,
                height=9,
            )
        )
    )
