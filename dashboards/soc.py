"""SOC desk: security events, detections (ATT&CK, IDS, indicators) and who is targeted."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.builders.common import StackingConfig
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards import panels, reference, variables
from dashboards.queries import bucket

UID = "ioc-soc"
TITLE = "SOC — an ninh mạng"
IDS_DATASET = "suricata.eve"  # ingest/formats/suricata.py
INDICATOR_RULES = "sec.indicator%"  # processors/security/rules/detections.yaml

DATASET_VARIABLE_SQL = """
SELECT DISTINCT dataset FROM security_events WHERE $__timeFilter(time) ORDER BY 1
"""

EVENTS_BY_CATEGORY_SQL = f"""
SELECT {bucket("e.time", "1 minute")} AS "time",
       c.category AS metric,
       count(*) AS value
FROM security_events e
CROSS JOIN LATERAL unnest(
    CASE WHEN cardinality(e.category) = 0 THEN ARRAY['(chưa phân loại)'] ELSE e.category END
) AS c (category)
WHERE $__timeFilter(e.time) AND e.dataset IN ($dataset)
GROUP BY 1, 2
ORDER BY 1, 2
"""

EVENTS_BY_OUTCOME_SQL = f"""
SELECT {bucket("e.time", "1 minute")} AS "time",
       coalesce(e.outcome, 'unknown') AS metric,
       count(*) AS value
FROM security_events e
WHERE $__timeFilter(e.time) AND e.dataset IN ($dataset)
GROUP BY 1, 2
ORDER BY 1, 2
"""

TOP_SOURCES_SQL = """
SELECT host(e.source_ip) AS "IP nguồn",
       count(*) AS "Sự kiện",
       count(*) FILTER (WHERE e.outcome = 'failure') AS "Thất bại",
       count(DISTINCT e.user_name) AS "Tài khoản",
       max(e.time) AS "Lần cuối"
FROM security_events e
WHERE $__timeFilter(e.time) AND e.dataset IN ($dataset) AND e.source_ip IS NOT NULL
GROUP BY e.source_ip
ORDER BY 2 DESC, 1
LIMIT 15
"""

TOP_ACCOUNTS_SQL = """
SELECT e.user_name AS "Tài khoản",
       count(*) AS "Sự kiện",
       count(*) FILTER (WHERE e.outcome = 'failure') AS "Thất bại",
       count(DISTINCT e.source_ip) AS "Số IP nguồn",
       max(e.time) AS "Lần cuối"
FROM security_events e
WHERE $__timeFilter(e.time) AND e.dataset IN ($dataset) AND e.user_name IS NOT NULL
GROUP BY e.user_name
ORDER BY 3 DESC, 2 DESC, 1
LIMIT 15
"""

SEVERITY_NAME = "\n".join(
    f"        WHEN {level} THEN '{label}'" for level, _, label, _ in reference.SEVERITIES
)

ALERTS_BY_SEVERITY_SQL = f"""
SELECT {bucket("a.started_at", "1 minute")} AS "time",
       CASE a.severity
{SEVERITY_NAME}
        ELSE 'Thông tin'
       END AS metric,
       count(*) AS value
FROM alerts a
WHERE a.domain = 'security' AND $__timeFilter(a.started_at)
GROUP BY 1, 2
ORDER BY 1, 2
"""

ALERTS_BY_TECHNIQUE_SQL = """
SELECT t.technique AS "Kỹ thuật ATT&CK",
       count(*) AS "Cảnh báo",
       count(*) FILTER (WHERE a.status <> 'resolved') AS "Đang mở",
       max(a.severity) AS "Mức cao nhất",
       string_agg(DISTINCT a.rule, ', ') AS "Luật"
FROM alerts a
CROSS JOIN LATERAL unnest(a.technique_ids) AS t (technique)
WHERE a.domain = 'security' AND $__timeFilter(a.started_at)
GROUP BY 1
ORDER BY 2 DESC, 1
"""

IDS_SIGNATURES_SQL = f"""
SELECT e.rule_name AS "Chữ ký IDS",
       count(*) AS "Sự kiện",
       max(e.severity) AS "Mức (Suricata)",
       count(DISTINCT e.source_ip) AS "Số IP nguồn",
       count(DISTINCT e.destination_ip) AS "Số IP đích",
       max(e.time) AS "Lần cuối"
FROM security_events e
WHERE $__timeFilter(e.time) AND e.dataset = '{IDS_DATASET}' AND e.rule_name IS NOT NULL
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 20
"""

INDICATOR_MATCHES_SQL = f"""
SELECT a.started_at AS "Bắt đầu",
       a.labels ->> 'indicator_type' AS "Loại",
       a.labels ->> 'indicator' AS "Chỉ báo",
       CASE a.status WHEN 'firing' THEN 'Đang cảnh báo' WHEN 'acknowledged' THEN 'Đã xác nhận'
            ELSE 'Đã xử lý' END AS "Trạng thái",
       a.severity AS "Mức",
       a.title_vi AS "Cảnh báo",
       a.updated_at AS "Cập nhật"
FROM alerts a
WHERE a.domain = 'security' AND a.rule LIKE '{INDICATOR_RULES}'
  AND $__timeFilter(a.started_at)
ORDER BY a.started_at DESC
LIMIT 50
"""


def severity_mappings() -> list[model.ValueMapping]:
    options = {
        str(level): model.ValueMappingResult(text=label, color=colour, index=i)
        for i, (level, _, label, colour) in enumerate(reference.SEVERITIES)
    }
    options["0"] = model.ValueMappingResult(text="Thông tin", color="blue", index=len(options))
    return [model.ValueMap(options=options)]


def bars(title: str, description: str, sql: str, width: int) -> timeseries.Panel:
    return (
        panels.timeseries_panel(title, description, sql, unit="short", width=width, height=9)
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(StackingConfig().mode(common.StackingMode.NORMAL))
        .interval("1m")
    )


def severity_coloured(panel: timeseries.Panel) -> timeseries.Panel:
    """Each severity's series in the wall's severity colour, not the palette's next one."""
    for _, _, label, colour in reference.SEVERITIES:
        fixed = {"mode": "fixed", "fixedColor": colour}
        panel.override_by_name(label, [model.DynamicConfigValue(id_val="color", value=fixed)])
    return panel


def build() -> dash.Dashboard:
    severity_colours = panels.cell_colour("color-text")
    dataset = variables.query_variable(
        "dataset",
        "Nguồn log",
        DATASET_VARIABLE_SQL,
        refresh=model.VariableRefresh.ON_TIME_RANGE_CHANGED,
    )
    return (
        dash.Dashboard(TITLE)
        .uid(UID)
        .tags(["ioc", "soc", "security"])
        .description("Bàn SOC: sự kiện an ninh, phát hiện, ATT&CK, IDS, chỉ báo xâm phạm.")
        .time("now-24h", "now")
        .timezone("browser")
        .refresh("1m")
        .readonly()
        .link(panels.desk_links())
        .with_variable(dataset)
        .with_panel(
            bars(
                "Sự kiện an ninh theo nhóm",
                "Loại hoạt động nào (xác thực, mạng, tiến trình, IDS…) đang tăng? Số sự kiện theo"
                " nhóm ECS event.category.",
                EVENTS_BY_CATEGORY_SQL,
                12,
            )
        )
        .with_panel(
            bars(
                "Sự kiện an ninh theo kết quả",
                "Tỉ lệ thất bại có đang tăng (dò mật khẩu, bị chặn)? Sự kiện theo event.outcome.",
                EVENTS_BY_OUTCOME_SQL,
                12,
            )
        )
        .with_panel(
            panels.table_panel(
                "Nguồn hoạt động nhiều nhất",
                "Địa chỉ IP nào tạo nhiều sự kiện nhất, bao nhiêu lần thất bại, thử bao nhiêu"
                " tài khoản?",
                TOP_SOURCES_SQL,
                width=12,
                height=9,
            )
        )
        .with_panel(
            panels.table_panel(
                "Tài khoản bị nhắm đến",
                "Tài khoản nào bị thử đăng nhập thất bại nhiều nhất, từ bao nhiêu IP?",
                TOP_ACCOUNTS_SQL,
                width=12,
                height=9,
            )
        )
        .with_panel(
            severity_coloured(
                bars(
                    "Cảnh báo an ninh theo mức độ",
                    "Bao nhiêu cảnh báo an ninh mới được tạo, ở mức độ nào?",
                    ALERTS_BY_SEVERITY_SQL,
                    12,
                )
            )
        )
        .with_panel(
            panels.table_panel(
                "Cảnh báo theo kỹ thuật MITRE ATT&CK",
                "Kẻ tấn công đang dùng kỹ thuật ATT&CK nào, bao nhiêu cảnh báo còn mở?",
                ALERTS_BY_TECHNIQUE_SQL,
                width=12,
                height=9,
            )
            .mappings(severity_mappings())
            .with_override(panels.by_name("Mức cao nhất"), severity_colours)
        )
        .with_panel(
            panels.table_panel(
                "Chữ ký IDS (Suricata)",
                "Chữ ký IDS nào kích hoạt nhiều nhất, từ bao nhiêu nguồn tới bao nhiêu đích?",
                IDS_SIGNATURES_SQL,
                width=12,
                height=10,
            )
        )
        .with_panel(
            panels.table_panel(
                "Trùng khớp chỉ báo xâm phạm (IoC)",
                "Địa chỉ, tên miền hay mã băm nào trong danh sách chỉ báo đã xuất hiện trong log?",
                INDICATOR_MATCHES_SQL,
                width=12,
                height=10,
            )
            .mappings(severity_mappings())
            .with_override(panels.by_name("Mức"), severity_colours)
        )
    )
