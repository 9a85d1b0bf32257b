"""IOC overview for the wall screen: the map, open alerts, the river lines, cameras and
whether data is flowing. One 1920×1080 CSS-pixel screen (a 3840×2160 TV at 200 %) in
kiosk mode: 28 grid rows of 30 px plus 8 px margins, no scrolling."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import geomap
from grafana_foundation_sdk.builders.common import FrameGeometrySource, MapLayerOptions
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import geomap as geomap_model

from dashboards import panels, reference
from dashboards.datasource import ref

UID = "ioc-wall"
TITLE = "Tổng quan IOC — màn hình lớn"
# The screen in grid units (see the module docstring); tests check the layout. Positions
# are (x, y, w, h): a row of alert tiles, the map on the left, the rest stacked beside it.
SCREEN_ROWS = 28
TILE_HEIGHT = 5
TILE_WIDTH = 6
MAP = (0, TILE_HEIGHT, 14, SCREEN_ROWS - TILE_HEIGHT)
CAMERAS = (14, TILE_HEIGHT, 5, 4)
INGEST = (19, TILE_HEIGHT, 5, 4)
RIVERS = (14, TILE_HEIGHT + 4, 10, 10)
AQI = (14, TILE_HEIGHT + 14, 10, SCREEN_ROWS - TILE_HEIGHT - 14)


def at(position: tuple[int, int, int, int]) -> model.GridPos:
    x, y, w, h = position
    return model.GridPos(x=x, y=y, w=w, h=h)


def open_alerts_sql(domain: str) -> str:
    counts = ",\n    ".join(
        f'count(*) FILTER (WHERE severity = {level}) AS "{label}"'
        for level, _, label, _ in reference.SEVERITIES
    )
    return f"""
SELECT
    {counts}
FROM alerts
WHERE status <> 'resolved' AND domain = '{domain}'
"""


def alert_tile(index: int, domain: str, label: str) -> panels.stat.Panel:
    tile = panels.stat_panel(
        f"Cảnh báo mở — {label}",
        f"Có bao nhiêu cảnh báo {label.lower()} đang mở (chưa xử lý xong), theo mức độ?",
        open_alerts_sql(domain),
        width=TILE_WIDTH,
        height=TILE_HEIGHT,
    )
    tile.grid_pos(at((index * TILE_WIDTH, 0, TILE_WIDTH, TILE_HEIGHT)))
    tile.text(panels.big_text(16, 44)).color_mode(common.BigValueColorMode.BACKGROUND)
    tile.thresholds(panels.steps((None, "green")))
    for _, _, name, colour in reference.SEVERITIES:
        tile.override_by_name(
            name,
            [panels.threshold_prop((None, "green"), (1, colour))],
        )
    return tile


CAMERAS_OFFLINE_SQL = """
SELECT count(*) FILTER (WHERE state = 'offline') AS "Mất kết nối",
       count(*) AS "Tổng số"
FROM device_overview
WHERE type = 'camera'
"""

# Age of the newest stored reading: the whole path (broker, worker, database) in one
# number. Bounded to the last hour so TimescaleDB opens one or two chunks only.
INGEST_AGE_SQL = """
SELECT extract(epoch FROM now() - max(ingested_at)) AS "Dữ liệu mới nhất"
FROM measurements
WHERE time > now() - INTERVAL '1 hour'
"""


def cameras_tile() -> panels.stat.Panel:
    tile = panels.stat_panel(
        "Camera mất kết nối",
        "Bao nhiêu camera đang mất kết nối (cảnh báo health.offline đang mở), trên tổng số"
        " camera đã đăng ký?",
        CAMERAS_OFFLINE_SQL,
        width=CAMERAS[2],
        height=CAMERAS[3],
    )
    tile.grid_pos(at(CAMERAS)).text(panels.big_text(16, 44)).thresholds(
        panels.steps((None, "green"), (1, "red"))
    )
    tile.override_by_name(
        "Tổng số",
        [model.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": "blue"})],
    )
    return tile


def ingest_tile() -> panels.stat.Panel:
    return (
        panels.stat_panel(
            "Dữ liệu về hệ thống",
            "Dữ liệu có đang về không? Thời gian kể từ bản ghi đo mới nhất được lưu (xanh:"
            " dưới 1 phút; cam: dưới 5 phút; đỏ: lâu hơn).",
            INGEST_AGE_SQL,
            width=INGEST[2],
            height=INGEST[3],
        )
        .grid_pos(at(INGEST))
        .unit("s")
        .decimals(0)
        .no_value("> 1 giờ")
        .text(panels.big_text(16, 44))
        .thresholds(panels.steps((None, "green"), (60, "orange"), (300, "red")))
    )


DEVICES_SQL = """
SELECT device_id AS "Mã",
       coalesce(name, device_id) AS "Tên",
       type AS "Loại",
       lat AS latitude,
       lon AS longitude,
       state AS "Trạng thái",
       -- The marker's colour: the state, except that a healthy air station shows its
       -- AQI category colour.
       CASE WHEN state = 'ok' AND aqi_category IS NOT NULL
            THEN 'aqi_' || aqi_category ELSE state END AS colour_key,
       aqi AS "AQI",
       open_alerts AS "Cảnh báo mở",
       last_seen AS "Lần cuối gửi"
FROM device_overview
-- Markers are drawn in row order: the worst last, so a station in alarm is never hidden
-- under a healthy one at the same place.
ORDER BY CASE state WHEN 'critical' THEN 6 WHEN 'high' THEN 5 WHEN 'medium' THEN 4
                    WHEN 'low' THEN 3 WHEN 'offline' THEN 2 WHEN 'ok' THEN 1 ELSE 0 END,
         device_id
"""


def state_mappings() -> list[model.ValueMapping]:
    entries = [(key, label, colour) for key, label, colour in reference.STATES]
    entries += [(f"aqi_{b.key}", f"AQI {b.label}", b.colour) for b in reference.aqi_bands()]
    return panels.text_map(entries)


def device_map() -> geomap.Panel:
    markers = (
        MapLayerOptions()
        .type("markers")
        .name("Trạm và camera")
        .location(
            FrameGeometrySource()
            .mode(common.FrameGeometrySourceMode.COORDS)
            .latitude("latitude")
            .longitude("longitude")
        )
        .tooltip(True)
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": "colour_key", "fixed": "green"},
                    "opacity": 0.9,
                    "size": {"fixed": 18, "min": 10, "max": 30},
                    "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
                },
            }
        )
    )
    # Country outlines ship inside Grafana: the map keeps its shape on a network with no
    # route to a tile server (the basemap tiles then simply stay blank).
    outlines = (
        MapLayerOptions()
        .type("geojson")
        .name("Ranh giới")
        .config({"src": "public/maps/countries.geojson", "style": {"opacity": 0.4}})
    )
    return (
        geomap.Panel()
        .title("Bản đồ trạm quan trắc và camera")
        .description(
            "Thiết bị nào đang có vấn đề, ở đâu? Mỗi điểm là một trạm hoặc camera, tô màu theo"
            " trạng thái hiện tại (mất kết nối, mức cảnh báo cao nhất đang mở); trạm không khí"
            " bình thường tô theo màu hạng AQI."
        )
        .datasource(ref())
        .with_target(panels.query(DEVICES_SQL))
        .grid_pos(at(MAP))
        .mappings(state_mappings())
        # Fit to the markers only: fitting all layers takes in the world's outlines.
        .view(geomap.MapViewConfig().id("fit").all_layers(False).layer("Trạm và camera").zoom(7))
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(False))
        .basemap(MapLayerOptions().type("default").name("Nền bản đồ"))
        .layers([outlines, markers])
        .tooltip(geomap.TooltipOptions().mode(geomap_model.TooltipMode.DETAILS))
    )


def river_levels_sql() -> str:
    flood_key = reference.flood_metadata_key()
    salinity_key = reference.salinity_metadata_key()
    watch, warning = reference.salinity_lines()
    return f"""
-- Five columns fit the panel's width (Grafana gives a column at least 150 px): the
-- station without its kind's prefix, the value as Vietnamese text with its unit.
SELECT regexp_replace(coalesce(d.name, d.id), '^Trạm (thủy văn|đo mặn) ', '') AS "Trạm",
       replace(to_char(r.value, 'FM9990.00'), '.', ',')
           || CASE r.metric WHEN 'waterLevel' THEN ' m' ELSE ' ‰' END AS "Giá trị",
       CASE
           WHEN r.metric = 'waterLevel' THEN CASE
               WHEN r.value >= (d.metadata -> '{flood_key}' ->> 'bd3')::float8 THEN 'bd3'
               WHEN r.value >= (d.metadata -> '{flood_key}' ->> 'bd2')::float8 THEN 'bd2'
               WHEN r.value >= (d.metadata -> '{flood_key}' ->> 'bd1')::float8 THEN 'bd1'
               ELSE 'normal' END
           WHEN r.value >= coalesce((d.metadata -> '{salinity_key}' ->> '{warning.key}')::float8,
                                    {warning.start}) THEN '{warning.key}'
           WHEN r.value >= coalesce((d.metadata -> '{salinity_key}' ->> '{watch.key}')::float8,
                                    {watch.start}) THEN '{watch.key}'
           ELSE 'normal'
       END AS "Mức",
       CASE WHEN r.metric = 'waterLevel'
            THEN concat_ws(' / ', d.metadata -> '{flood_key}' ->> 'bd1',
                           d.metadata -> '{flood_key}' ->> 'bd2',
                           d.metadata -> '{flood_key}' ->> 'bd3')
            ELSE concat_ws(' / ',
                           coalesce(d.metadata -> '{salinity_key}' ->> '{watch.key}',
                                    '{watch.start:g}'),
                           coalesce(d.metadata -> '{salinity_key}' ->> '{warning.key}',
                                    '{warning.start:g}'))
       END AS "Vạch báo động",
       to_char(r.time AT TIME ZONE 'Asia/Ho_Chi_Minh', 'HH24:MI') AS "Lúc"
FROM devices d
CROSS JOIN LATERAL (
    -- The newest reading of the station's own metric: one index probe per station.
    SELECT m.metric, m.value, m.time
    FROM measurements m
    WHERE m.device_id = d.id
      AND m.metric = CASE d.type WHEN 'water_level' THEN 'waterLevel' ELSE 'salinity' END
      AND m.time > now() - INTERVAL '1 day' AND m.quality < 2
    ORDER BY m.time DESC
    LIMIT 1
) r
WHERE d.type IN ('water_level', 'salinity')
ORDER BY d.type DESC, 1
"""


def level_mappings() -> list[model.ValueMapping]:
    labels = dict(reference.flood_levels())
    labels.update({band.key: band.label for band in reference.salinity_lines()})
    entries = [("normal", "Bình thường", reference.LEVEL_COLOURS["normal"])]
    entries += [(key, label, reference.LEVEL_COLOURS[key]) for key, label in labels.items()]
    return panels.text_map(entries)


def river_table() -> panels.table.Panel:
    return (
        panels.table_panel(
            "Mực nước và độ mặn mới nhất",
            "Sông đang ở mức nào? Số đo mới nhất (trong 24 giờ) của mỗi trạm thủy văn so với"
            " vạch báo động BĐ I/II/III của chính trạm đó, và của mỗi trạm đo mặn so với"
            " vạch 1 ‰ / 4 ‰.",
            river_levels_sql(),
            width=RIVERS[2],
            height=RIVERS[3],
        )
        .grid_pos(at(RIVERS))
        .cell_height(common.TableCellHeight.LG)
        .mappings(level_mappings())
        .with_override(panels.by_name("Mức"), panels.cell_colour())
    )


AQI_NOW_SQL = """
SELECT coalesce(name, device_id) AS "Trạm", aqi AS "AQI"
FROM device_overview
WHERE type = 'air_quality'
ORDER BY aqi DESC NULLS LAST, 1
"""


def aqi_steps() -> dash.ThresholdsConfig:
    bands = reference.aqi_bands()
    return panels.steps((None, bands[0].colour), *((band.start, band.colour) for band in bands[1:]))


def aqi_now() -> panels.bargauge.Panel:
    return (
        panels.bar_gauge_panel(
            "AQI hiện tại theo trạm",
            "Không khí ở đâu đang kém? VN_AQI giờ gần nhất (trong 3 giờ) của mỗi trạm, tô màu"
            " theo hạng của Quyết định 1459/QĐ-TCMT.",
            AQI_NOW_SQL,
            width=AQI[2],
            height=AQI[3],
        )
        .grid_pos(at(AQI))
        .min(0)
        .max(300)
        .thresholds(aqi_steps())
        .text(panels.big_text(20, 28))
        .no_value("—")
    )


def build() -> dash.Dashboard:
    board = (
        dash.Dashboard(TITLE)
        .uid(UID)
        .tags(["ioc", "wall"])
        .description("Màn hình lớn của trung tâm IOC: bản đồ, cảnh báo mở, sông, camera, dữ liệu.")
        .time("now-6h", "now")
        .timezone("browser")
        .refresh("30s")
        .readonly()
        .tooltip(model.DashboardCursorSync.OFF)
    )
    for index, (domain, label) in enumerate(reference.DOMAINS):
        board.with_panel(alert_tile(index, domain, label))
    board.with_panel(cameras_tile()).with_panel(ingest_tile())
    board.with_panel(device_map())
    board.with_panel(river_table())
    return board.with_panel(aqi_now())
