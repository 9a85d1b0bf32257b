"""Panel helpers shared by the dashboards: every panel reads the one data source, has a
Vietnamese title and an explanation (the description is the operator's question)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders.common import (
    ReduceDataOptions,
    VizLegendOptions,
    VizTextDisplayOptions,
)
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards.datasource import Format, SqlQuery, ref


def desk_links() -> dash.DashboardLink:
    """A drop-down of every IOC dashboard (they share the tag), keeping the time range."""
    return (
        dash.DashboardLink("Các bàn IOC")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags(["ioc"])
        .as_dropdown(True)
        .keep_time(True)
        .include_vars(False)
        .target_blank(False)
    )


def query(raw_sql: str, fmt: Format = "table") -> SqlQuery:
    return SqlQuery(raw_sql.strip() + "\n", fmt)


def steps(*pairs: tuple[float | None, str]) -> dash.ThresholdsConfig:
    """Absolute threshold steps; the first pair's value is None (the base colour)."""
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=colour) for value, colour in pairs])
    )


def text_map(entries: Iterable[tuple[str, str, str]]) -> list[model.ValueMapping]:
    """Value → (text, colour) mappings for text columns such as a device's state."""
    options = {
        key: model.ValueMappingResult(text=text, color=colour, index=index)
        for index, (key, text, colour) in enumerate(entries)
    }
    return [model.ValueMap(options=options)]


def legend(*, table_mode: bool = False, calcs: Sequence[str] = ()) -> VizLegendOptions:
    mode = common.LegendDisplayMode.TABLE if table_mode else common.LegendDisplayMode.LIST
    return (
        VizLegendOptions()
        .display_mode(mode)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(list(calcs))
    )


def last_value(*, values: bool = False) -> ReduceDataOptions:
    return ReduceDataOptions().calcs(["lastNotNull"]).values(values)


def big_text(title: float, value: float) -> VizTextDisplayOptions:
    return VizTextDisplayOptions().title_size(title).value_size(value)


def timeseries_panel(
    title: str, description: str, sql: str, *, unit: str, width: int, height: int
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(ref())
        .with_target(query(sql, "time_series"))
        .unit(unit)
        .span(width)
        .height(height)
        .line_width(2)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(legend(table_mode=True, calcs=("lastNotNull", "max")))
    )


def stat_panel(title: str, description: str, sql: str, *, width: int, height: int) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(ref())
        .with_target(query(sql))
        .span(width)
        .height(height)
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .reduce_options(last_value())
    )


def table_panel(title: str, description: str, sql: str, *, width: int, height: int) -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(ref())
        .with_target(query(sql))
        .span(width)
        .height(height)
        .cell_height(common.TableCellHeight.MD)
    )


def bar_gauge_panel(
    title: str, description: str, sql: str, *, width: int, height: int
) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(ref())
        .with_target(query(sql))
        .span(width)
        .height(height)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(last_value(values=True))
    )


def by_name(name: str) -> model.MatcherConfig:
    return model.MatcherConfig(id_val="byName", options=name)


def prop(name: str, value: object) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val=name, value=value)


def cell_colour(mode: str = "color-background") -> list[model.DynamicConfigValue]:
    """Table cells coloured by the column's mappings or thresholds."""
    return [prop("custom.cellOptions", {"type": mode})]


def threshold_prop(*pairs: tuple[float | None, str]) -> model.DynamicConfigValue:
    """Thresholds for one field (an override), e.g. each severity its own colour."""
    return prop("thresholds", steps(*pairs).build())


def dashed_line(colour: str, width: int = 2) -> list[model.DynamicConfigValue]:
    """A reference line (a limit, an alarm level): fixed colour, dashed."""
    return [
        prop("color", {"mode": "fixed", "fixedColor": colour}),
        prop("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
        prop("custom.lineWidth", width),
    ]
