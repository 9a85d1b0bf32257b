"""Drawing a dashboard preview with matplotlib, panel by panel, in Grafana's dark theme.

Everything is placed in CSS pixels (tools.preview_layout) on a figure of the screen's CSS
size at 100 dpi times the device pixel ratio, so a 1920×1080 CSS screen at 200 % comes out
as a 3840×2160 PNG with text exactly as large as the browser would draw it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextPath
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tools.preview_data import PanelData, Series, Table
from tools.preview_layout import (
    BORDER,
    CANVAS,
    CLASSIC,
    GRID_LINE,
    PANEL_BG,
    PANEL_HEADER,
    TEXT,
    TEXT_MUTED,
    Box,
    Screen,
    colour,
    column_widths,
    contrast_text,
    format_value,
    mapped,
    threshold_colour,
)

FONT = "DejaVu Sans"  # Debian's font with every Vietnamese glyph
PT = 0.72  # one CSS px in points on a 100 dpi figure
TABLE_ROW = {"sm": 36, "md": 42, "lg": 48}  # Grafana's TableCellHeight
TABLE_HEADER = 36
LEGEND_ROW = 22
FOOTER = 44
DISCLAIMER = (
    "Xem trước dựng từ JSON và dữ liệu thật; không phải ảnh chụp Grafana · "
    "Preview drawn from the dashboard JSON and real query results; not a Grafana "
    "screenshot"
)

matplotlib.rcParams.update(
    {"font.family": FONT, "lines.scale_dashes": False, "axes.unicode_minus": False}
)


@dataclass
class Canvas:
    """A figure addressed in CSS pixels from the top left."""

    fig: Figure
    width: float
    height: float

    def rect(self, box: Box) -> list[float]:
        return [
            box.x / self.width,
            1 - (box.y + box.h) / self.height,
            box.w / self.width,
            box.h / self.height,
        ]

    def axes(self, box: Box, visible: bool = False) -> Axes:
        ax = self.fig.add_axes(self.rect(box))
        ax.set_facecolor(PANEL_BG)
        if not visible:
            ax.set_axis_off()
        return ax

    def box(
        self, box: Box, face: str, edge: str | None = None, alpha: float = 1.0, zorder: float = 1
    ) -> None:
        """A filled rectangle; zorder < 0 puts it under the axes (a panel's background)."""
        self.fig.add_artist(
            Rectangle(
                (box.x / self.width, 1 - (box.y + box.h) / self.height),
                box.w / self.width,
                box.h / self.height,
                transform=self.fig.transFigure,
                facecolor=face,
                edgecolor=edge or face,
                linewidth=0.8,
                alpha=alpha,
                zorder=zorder,
            )
        )

    def text(self, x: float, y: float, s: str, size: float, **kw: Any) -> Any:
        """Text at CSS pixel (x, y); `size` in CSS px."""
        kw.setdefault("color", TEXT)
        kw.setdefault("va", "top")
        return self.fig.text(x / self.width, 1 - y / self.height, s, fontsize=size * PT, **kw)


def new_canvas(screen: Screen, content_height: float) -> Canvas:
    height = max(screen.height, math.ceil(content_height)) + FOOTER
    fig = Figure(figsize=(screen.width / 100, height / 100), dpi=100 * screen.scale)
    fig.patch.set_facecolor(CANVAS)
    return Canvas(fig, screen.width, height)


def save(canvas: Canvas, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.fig.savefig(path, facecolor=CANVAS, dpi=canvas.fig.dpi)


# --- chrome, fold, footer ------------------------------------------------------------


def chrome(canvas: Canvas, screen: Screen, title: str, variables: str, span: str) -> None:
    """Grafana's top bar and the variable/time-picker row of a desk (not in kiosk)."""
    if not screen.chrome:
        return
    canvas.box(Box(0, 0, screen.width, 40), "#181b1f", BORDER)
    canvas.text(16, 12, f"Home  ›  Dashboards  ›  IOC  ›  {title}", 14)
    canvas.text(16, 56, variables, 13, color=TEXT)
    canvas.text(screen.width - 16, 56, f"{span}   ⟳", 13, ha="right")


def fold(canvas: Canvas, screen: Screen) -> None:
    """Where the screen ends: the part below needs scrolling."""
    if canvas.height - FOOTER <= screen.height:
        return
    y = screen.height / canvas.height
    canvas.fig.add_artist(
        Line2D(
            [0, 1],
            [1 - y, 1 - y],
            transform=canvas.fig.transFigure,
            color="#ff5286",
            linewidth=1.5,
            linestyle=(0, (8, 6)),
        )
    )
    canvas.text(
        screen.width - 8,
        screen.height + 2,
        f"↑ đáy màn hình {screen.width}×{screen.height} / bottom of the screen; "
        "phần dưới phải cuộn / below scrolls",
        12,
        ha="right",
        color="#ff5286",
        bbox={"facecolor": CANVAS, "edgecolor": "#ff5286", "pad": 2},
    )


def footer(canvas: Canvas, note: str) -> None:
    y = canvas.height - FOOTER
    canvas.box(Box(0, y, canvas.width, FOOTER), "#0b0c0e")
    canvas.text(12, y + 6, DISCLAIMER, 13, color="#ffb357")
    canvas.text(12, y + 26, note, 11, color=TEXT_MUTED)


# --- one panel -----------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """What every renderer needs besides the panel and its data."""

    canvas: Canvas
    now: datetime
    tz: ZoneInfo
    provinces: Path


def panel_frame(view: View, panel: Mapping[str, Any], box: Box) -> None:
    view.canvas.box(box, PANEL_BG, BORDER, zorder=-1)
    title = str(panel.get("title", ""))
    view.canvas.text(
        box.x + 8,
        box.y + (PANEL_HEADER - 14) / 2 - 1,
        _fit(title, box.w - 16, 14),
        14,
        fontweight="normal",
    )


def message(view: View, box: Box, text: str, colour_: str = TEXT_MUTED) -> None:
    view.canvas.text(
        box.x + box.w / 2, box.y + box.h / 2, text, 14, ha="center", va="center", color=colour_
    )


@lru_cache(maxsize=4096)
def text_width(text: str, size_px: float, bold: bool = False) -> float:
    """The drawn width of a text in CSS px, measured on the font's outlines."""
    if not text.strip():
        return 0.0
    prop = FontProperties(family=FONT, weight="bold" if bold else "normal")
    return float(TextPath((0, 0), text, size=size_px, prop=prop).get_extents().width)


def _fit(text: str, width_px: float, size_px: float, bold: bool = False) -> str:
    """Cut a text with an ellipsis to what fits a width, as Grafana's CSS does."""
    if text_width(text, size_px, bold) <= width_px:
        return text
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if text_width(text[:mid] + "…", size_px, bold) <= width_px:
            low = mid
        else:
            high = mid - 1
    return text[:low] + "…" if low else "…"


def _field_config(panel: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The defaults with the overrides that match this field name applied."""
    config = dict(panel.get("fieldConfig", {}).get("defaults", {}))
    custom = dict(config.get("custom", {}))
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        matcher = override.get("matcher", {})
        hit = (matcher.get("id") == "byName" and matcher.get("options") == name) or (
            matcher.get("id") == "byRegexp" and re.search(str(matcher.get("options")), name)
        )
        if not hit:
            continue
        for prop in override.get("properties", []):
            key = str(prop["id"])
            if key.startswith("custom."):
                custom[key.removeprefix("custom.")] = prop.get("value")
            else:
                config[key] = prop.get("value")
    config["custom"] = custom
    return config


def _fixed_colour(config: Mapping[str, Any]) -> str | None:
    spec = config.get("color") or {}
    if spec.get("mode") == "fixed":
        return colour(spec.get("fixedColor"))
    return None


def _numeric_columns(table: Table) -> list[int]:
    return [
        i
        for i in range(len(table.columns))
        if any(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in table.rows)
    ]


def _last_not_null(values: Sequence[Any]) -> Any:
    for value in reversed(values):
        if value is not None:
            return value
    return None


# --- stat ----------------------------------------------------------------------------


def draw_stat(view: View, panel: Mapping[str, Any], data: PanelData, box: Box) -> None:
    options = panel.get("options", {})
    fields: list[tuple[str, Any]] = []
    for table in data.tables:
        for i in _numeric_columns(table) or range(len(table.columns)):
            fields.append((table.columns[i], _last_not_null([r[i] for r in table.rows])))
    if not fields:
        fields = [("", None)]
    horizontal = box.w >= box.h
    n = len(fields)
    gap = 4
    for k, (name, value) in enumerate(fields):
        if horizontal:
            w = (box.w - gap * (n - 1)) / n
            cell = Box(box.x + k * (w + gap), box.y, w, box.h)
        else:
            h = (box.h - gap * (n - 1)) / n
            cell = Box(box.x, box.y + k * (h + gap), box.w, h)
        _stat_cell(view, panel, options, cell, name if n > 1 else "", value)


def _stat_cell(
    view: View,
    panel: Mapping[str, Any],
    options: Mapping[str, Any],
    cell: Box,
    name: str,
    value: Any,
) -> None:
    config = _field_config(panel, name)
    numeric = value if isinstance(value, (int, float)) else None
    fill = _fixed_colour(config) or threshold_colour(numeric, config.get("thresholds"))
    if value is None:
        text = str(config.get("noValue") or "No data")
    else:
        text = format_value(value, config.get("unit"), config.get("decimals"), view.now)
    background = options.get("colorMode", "value") == "background"
    if background:
        view.canvas.box(cell, fill)
    ink = contrast_text(fill) if background else fill
    sizes = options.get("text", {})
    title_px = float(sizes.get("titleSize") or min(cell.h * 0.18, 20))
    value_px = float(sizes.get("valueSize") or cell.h * 0.5)
    while value_px > 8 and text_width(text, value_px, True) > cell.w - 8:
        value_px -= 1  # a value never overflows its box
    centre = cell.x + cell.w / 2
    if name:
        view.canvas.text(
            centre,
            cell.y + cell.h * 0.5 - value_px * 0.55,
            _fit(name, cell.w, title_px),
            title_px,
            ha="center",
            va="bottom",
            color=ink,
        )
        y = cell.y + cell.h * 0.5 + title_px * 0.45
    else:
        y = cell.y + cell.h / 2
    view.canvas.text(
        centre, y, text, value_px, ha="center", va="center", color=ink, fontweight="bold"
    )


# --- bar gauge -----------------------------------------------------------------------


def draw_bargauge(view: View, panel: Mapping[str, Any], data: PanelData, box: Box) -> None:
    options, rows = panel.get("options", {}), _bar_rows(data)
    if not rows:
        message(view, box, "No data")
        return
    config = _field_config(panel, "")
    low, high = float(config.get("min", 0)), float(config.get("max", 100))
    sizes = options.get("text", {})
    title_px, value_px = float(sizes.get("titleSize", 14)), float(sizes.get("valueSize", 20))
    slot = min(box.h / len(rows), float(options.get("maxVizHeight", 300)) + title_px + 8)
    value_w = value_px * 3.2
    for k, (name, value) in enumerate(rows):
        top = box.y + k * slot
        view.canvas.text(box.x, top + 2, _fit(name, box.w, title_px), title_px)
        bar = Box(
            box.x,
            top + title_px + 8,
            box.w - value_w - 8,
            max(slot - title_px - 14, float(options.get("minVizHeight", 16))),
        )
        fill = threshold_colour(value, config.get("thresholds"))
        if options.get("showUnfilled", True):
            view.canvas.box(bar, "#ccccdc", alpha=0.07)
        if value is not None:
            share = min(max((value - low) / (high - low or 1), 0), 1)
            view.canvas.box(Box(bar.x, bar.y, bar.w * share, bar.h), fill)
        text = (
            format_value(value, config.get("unit"), config.get("decimals"))
            if value is not None
            else str(config.get("noValue") or "No data")
        )
        view.canvas.text(
            box.x + box.w,
            bar.y + bar.h / 2,
            text,
            value_px,
            ha="right",
            va="center",
            color=fill if value is not None else TEXT_MUTED,
        )


def _bar_rows(data: PanelData) -> list[tuple[str, float | None]]:
    """reduceOptions.values = true: one bar per row, named by its text columns."""
    found = []
    for table in data.tables:
        numeric = _numeric_columns(table)
        value_i = numeric[0] if numeric else None
        for row in table.rows:
            name = ", ".join(
                str(row[i]) for i in range(len(row)) if i != value_i and isinstance(row[i], str)
            )
            value = row[value_i] if value_i is not None else None
            found.append((name, float(value) if value is not None else None))
    return found


# --- table ---------------------------------------------------------------------------


def draw_table(view: View, panel: Mapping[str, Any], data: PanelData, box: Box) -> None:
    table = next((t for t in data.tables), None)
    if table is None and data.series:  # a time series shown as a table
        table = Table(
            ["time", "metric", "value"],
            [(t, s.name, v) for s in data.series for t, v in zip(s.times, s.values, strict=True)],
        )
    if table is None:
        message(view, box, "No data")
        return
    configs = [_field_config(panel, c) for c in table.columns]
    widths = column_widths(configs, box.w)
    right = set(_numeric_columns(table))
    _table_header(view, table.columns, widths, box, right)
    if not table.rows:
        message(view, box, "No data")
        return
    row_h = TABLE_ROW.get(str(panel.get("options", {}).get("cellHeight", "sm")), 36)
    room = int((box.h - TABLE_HEADER) // row_h)
    shown = table.rows[: max(room, 0)]
    for r, row in enumerate(shown):
        y = box.y + TABLE_HEADER + r * row_h
        view.canvas.fig.add_artist(
            Line2D(
                [box.x / view.canvas.width, (box.x + box.w) / view.canvas.width],
                [1 - (y + row_h) / view.canvas.height] * 2,
                transform=view.canvas.fig.transFigure,
                color=BORDER,
                linewidth=0.6,
            )
        )
        x = box.x
        for c, value in enumerate(row):
            if x >= box.x + box.w:
                break
            width = min(widths[c], box.x + box.w - x)  # the rest scrolls sideways
            _table_cell(view, configs[c], value, Box(x, y, width, row_h), c in right)
            x += widths[c]
    hidden = []
    if len(table.rows) > len(shown):
        hidden.append(f"{len(shown)}/{len(table.rows)} dòng · rows")
    if sum(widths) > box.w + 1:
        hidden.append(f"cột rộng {sum(widths):.0f}/{box.w:.0f} px · columns")
    if hidden:
        view.canvas.text(
            box.x + box.w,
            box.y + box.h + 3,
            " · ".join(hidden) + " (cuộn · scrolls)",
            10,
            ha="right",
            color="#ff9830",
        )


def _table_header(
    view: View, columns: Sequence[str], widths: Sequence[float], box: Box, right: set[int]
) -> None:
    x = box.x
    for c, (name, w) in enumerate(zip(columns, widths, strict=True)):
        if x >= box.x + box.w:
            break
        room = min(w, box.x + box.w - x)
        view.canvas.text(
            x + room - 8 if c in right else x + 8,
            box.y + TABLE_HEADER / 2,
            _fit(name, room - 12, 14, True),
            14,
            va="center",
            ha="right" if c in right else "left",
            color="#6e9fff",
            fontweight="bold",
        )
        x += w


def _table_cell(view: View, config: Mapping[str, Any], value: Any, cell: Box, right: bool) -> None:
    """One cell; numbers right-aligned as Grafana's getTextAlign does for number fields."""
    hit = mapped(value, config.get("mappings"))
    text = (
        hit[0]
        if hit
        else format_value(value, config.get("unit"), config.get("decimals"), view.now, view.tz)
    )
    shade = hit[1] if hit and hit[1] else None
    mode = (config.get("custom", {}).get("cellOptions") or {}).get("type", "auto")
    if mode in ("color-background", "color-text") and not shade and isinstance(value, (int, float)):
        shade = threshold_colour(value, config.get("thresholds"))
    ink = TEXT
    if mode == "color-background" and shade:
        view.canvas.box(cell.inset(0, 1, 0, 1), shade)
        ink = contrast_text(shade)
    elif mode == "color-text" and shade:
        ink = shade
    size = 14
    view.canvas.text(
        cell.x + cell.w - 8 if right else cell.x + 8,
        cell.y + cell.h / 2,
        _fit(text, cell.w - 12, size),
        size,
        va="center",
        ha="right" if right else "left",
        color=ink,
    )


# --- time series ---------------------------------------------------------------------


def draw_timeseries(view: View, panel: Mapping[str, Any], data: PanelData, box: Box) -> None:
    series = [s for s in data.series if s.times]
    legend = panel.get("options", {}).get("legend", {})
    calcs = list(legend.get("calcs", [])) if legend.get("showLegend", True) else []
    legend_h = 0.0
    if legend.get("showLegend", True) and series:
        legend_h = min(LEGEND_ROW * (len(series) + (1 if calcs else 0)) + 6, box.h * 0.35)
    plot = Box(box.x, box.y, box.w, box.h - legend_h)
    ax = _time_axes(view, plot, data)
    if not series:
        message(view, box, "No data")
        return
    defaults = _field_config(panel, "")
    colours = [_series_colour(panel, s.name, i) for i, s in enumerate(series)]
    configs = [_field_config(panel, s.name) for s in series]
    bars = [
        s for s, c in zip(series, configs, strict=True) if c["custom"].get("drawStyle") == "bars"
    ]
    if bars:
        _stacked_bars(ax, bars, [colours[series.index(s)] for s in bars], configs[0])
    for s, c, col in zip(series, configs, colours, strict=True):
        if c["custom"].get("drawStyle") != "bars":
            _line(ax, s, c, col, view.tz)
    if "min" in defaults:
        ax.set_ylim(bottom=float(defaults["min"]))
    if "max" in defaults:
        ax.set_ylim(top=float(defaults["max"]))
    _thresholds(ax, defaults)  # after the data: the bands do not stretch the axis
    unit = defaults.get("unit")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit)))
    label = defaults["custom"].get("axisLabel")
    if label:
        ax.set_ylabel(label, color=TEXT, fontsize=12 * PT)
    if legend_h:
        _legend(
            view,
            Box(box.x, box.y + box.h - legend_h, box.w, legend_h),
            series,
            colours,
            calcs,
            configs,
        )


def _time_axes(view: View, plot: Box, data: PanelData) -> Axes:
    # Room for the y ticks on the left and the x ticks below, inside the panel.
    ax = view.canvas.axes(plot.inset(54, 4, 4, 22), visible=True)
    ax.set_facecolor(PANEL_BG)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.grid(True, color=GRID_LINE, linewidth=0.6)
    ax.tick_params(colors=TEXT_MUTED, labelsize=12 * PT, length=0, pad=4)
    if data.time_from and data.time_to:
        ax.set_xlim(data.time_from, data.time_to)  # type: ignore[arg-type]
        long = data.time_to - data.time_from > timedelta(days=1)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m/%d" if long else "%H:%M", tz=view.tz))
        ax.xaxis.set_major_locator(
            mdates.AutoDateLocator(tz=view.tz, maxticks=max(int(plot.w / 90), 3))
        )
    ax.yaxis.set_major_locator(MaxNLocator(nbins=max(int(plot.h / 40), 2)))
    return ax


def _thresholds(ax: Axes, config: Mapping[str, Any]) -> None:
    mode = (config["custom"].get("thresholdsStyle") or {}).get("mode", "off")
    steps = (config.get("thresholds") or {}).get("steps") or []
    if mode == "off" or not steps:
        return
    low, high = ax.get_ylim()
    top = max(
        high, max((float(s["value"]) for s in steps if s.get("value") is not None), default=0)
    )
    for k, step in enumerate(steps):
        start = float(step["value"]) if step.get("value") is not None else min(low, 0)
        end = float(steps[k + 1]["value"]) if k + 1 < len(steps) else top * 1.2
        if mode in ("area", "line+area"):
            ax.axhspan(start, end, color=colour(step.get("color")), alpha=0.15, linewidth=0)
        if mode in ("dashed", "line", "line+area") and step.get("value") is not None:
            ax.axhline(
                start,
                color=colour(step.get("color")),
                linewidth=1,
                linestyle=(0, (6, 6)) if mode == "dashed" else "-",
            )
    ax.set_ylim(low, high)


def _series_colour(panel: Mapping[str, Any], name: str, index: int) -> str:
    return _fixed_colour(_field_config(panel, name)) or CLASSIC[index % len(CLASSIC)]


def _line(ax: Axes, s: Series, config: Mapping[str, Any], col: str, tz: ZoneInfo) -> None:
    custom = config["custom"]
    width = float(custom.get("lineWidth", 1)) * PT * 1.2
    style: Any = "-"
    dash = (custom.get("lineStyle") or {}).get("dash")
    if (custom.get("lineStyle") or {}).get("fill") == "dash" and dash:
        style = (0, tuple(float(d) * PT for d in dash))
    values = [math.nan if v is None else v for v in s.values]
    ax.plot(s.times, values, color=col, linewidth=width, linestyle=style)  # type: ignore[arg-type]
    opacity = float(custom.get("fillOpacity", 0)) / 100
    if opacity and style == "-":
        ax.fill_between(s.times, values, 0, color=col, alpha=opacity, linewidth=0)  # type: ignore[arg-type]


def _stacked_bars(
    ax: Axes, series: list[Series], colours: list[str], config: Mapping[str, Any]
) -> None:
    times = sorted({t for s in series for t in s.times})
    if not times:
        return
    step = min((b - a for a, b in pairwise(times)), default=timedelta(minutes=1))
    width = step.total_seconds() / 86400 * 0.8
    base = dict.fromkeys(times, 0.0)
    opacity = float(config["custom"].get("fillOpacity", 80)) / 100
    for s, col in zip(series, colours, strict=True):
        heights = dict(zip(s.times, s.values, strict=True))
        xs = [mdates.date2num(t) for t in times]
        hs = [heights.get(t) or 0.0 for t in times]
        ax.bar(
            xs,
            hs,
            width=width,
            bottom=[base[t] for t in times],
            color=col,
            alpha=opacity,
            linewidth=0,
            align="center",
        )
        for t, h in zip(times, hs, strict=True):
            base[t] += h
    ax.set_ylim(0, max(base.values()) * 1.08 or 1)


_CALC_NAMES = {
    "lastNotNull": "Last *",
    "max": "Max",
    "min": "Min",
    "mean": "Mean",
    "sum": "Total",
    "last": "Last",
}


def _calc(name: str, values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return None
    return {
        "lastNotNull": present[-1],
        "max": max(present),
        "min": min(present),
        "mean": sum(present) / len(present),
        "sum": sum(present),
        "last": values[-1],
    }.get(name)


def _legend(
    view: View,
    box: Box,
    series: list[Series],
    colours: list[str],
    calcs: list[str],
    configs: list[dict[str, Any]],
) -> None:
    """Grafana's table legend below the plot; rows beyond its height scroll."""
    col_w = 90
    name_w = box.w - col_w * len(calcs) - 16
    y = box.y + 2
    if calcs:
        for k, calc in enumerate(calcs):
            view.canvas.text(
                box.x + name_w + 16 + (k + 1) * col_w - 6,
                y + 3,
                _CALC_NAMES.get(calc, calc),
                12,
                ha="right",
                color="#6e9fff",
            )
        y += LEGEND_ROW
    rows = int((box.y + box.h - y) // LEGEND_ROW)
    for s, col, config in list(zip(series, colours, configs, strict=True))[:rows]:
        view.canvas.box(Box(box.x + 4, y + 9, 14, 4), col)
        view.canvas.text(box.x + 24, y + 3, _fit(s.name, name_w - 24, 12), 12)
        for k, calc in enumerate(calcs):
            value = _calc(calc, s.values)
            text = (
                format_value(value, config.get("unit"), config.get("decimals"))
                if value is not None
                else ""
            )
            view.canvas.text(box.x + name_w + 16 + (k + 1) * col_w - 6, y + 3, text, 12, ha="right")
        y += LEGEND_ROW
    if len(series) > rows:
        view.canvas.text(
            box.x + box.w - 4,
            box.y + box.h - 2,
            f"+{len(series) - rows} dòng chú giải · legend rows (cuộn · scroll)",
            10,
            ha="right",
            va="bottom",
            color=TEXT_MUTED,
        )


# --- status history ------------------------------------------------------------------


def draw_status_history(view: View, panel: Mapping[str, Any], data: PanelData, box: Box) -> None:
    series = [s for s in data.series if s.times]
    if not series or not data.time_from or not data.time_to:
        message(view, box, "No data")
        return
    options = panel.get("options", {})
    config = _field_config(panel, "")
    label_w = min(max(len(s.name) for s in series) * 7.5 + 12, box.w * 0.3)
    grid = Box(box.x + label_w, box.y, box.w - label_w, box.h - 24)
    ax = view.canvas.axes(grid, visible=True)
    for spine in ax.spines.values():
        spine.set_visible(False)
    start, end = mdates.date2num(data.time_from), mdates.date2num(data.time_to)
    ax.set_xlim(start, end)
    ax.set_ylim(len(series), 0)
    ax.set_yticks([])
    ax.tick_params(colors=TEXT_MUTED, labelsize=12 * PT, length=0)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m/%d", tz=view.tz))
    row_h, col_share = float(options.get("rowHeight", 0.9)), float(options.get("colWidth", 0.9))
    for r, s in enumerate(series):
        view.canvas.text(
            box.x + label_w - 8,
            grid.y + (r + 0.5) * grid.h / len(series),
            _fit(s.name, label_w - 8, 12),
            12,
            ha="right",
            va="center",
        )
        xs = [mdates.date2num(t) for t in s.times]
        for k, (x, value) in enumerate(zip(xs, s.values, strict=True)):
            nxt = xs[k + 1] if k + 1 < len(xs) else min(x + (xs[k] - xs[k - 1] if k else 1.0), end)
            if value is None:
                continue
            fill = threshold_colour(value, config.get("thresholds"))
            width = (nxt - x) * col_share
            ax.add_patch(Rectangle((x, r + (1 - row_h) / 2), width, row_h, color=fill, linewidth=0))
            px = width / (end - start) * grid.w
            if options.get("showValue", "auto") != "never" and px > 24:
                ax.text(
                    x + width / 2,
                    r + 0.5,
                    format_value(value, config.get("unit"), 0),
                    ha="center",
                    va="center",
                    fontsize=12 * PT,
                    color=contrast_text(fill),
                )


# --- geomap --------------------------------------------------------------------------


def draw_geomap(view: View, panel: Mapping[str, Any], data: PanelData, box: Box) -> None:
    table = next((t for t in data.tables if t.rows), None)
    ax = view.canvas.axes(box)
    ax.set_facecolor("#1b1f27")
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    layers = panel.get("options", {}).get("layers", [])
    markers = next((lay for lay in layers if lay.get("type") == "markers"), {})
    location = markers.get("location", {})
    lat_name, lon_name = (
        location.get("latitude", "latitude"),
        location.get("longitude", "longitude"),
    )
    _provinces(ax, view.provinces)
    if table is None:
        message(view, box, "No data")
        return
    lat_i, lon_i = table.columns.index(lat_name), table.columns.index(lon_name)
    style = markers.get("config", {}).get("style", {})
    key = style.get("color", {}).get("field")
    key_i = table.columns.index(key) if key in table.columns else None
    mappings = panel.get("fieldConfig", {}).get("defaults", {}).get("mappings")
    size = float(style.get("size", {}).get("fixed", 5)) * PT
    seen: dict[str, str] = {}
    points = [
        (r[lon_i], r[lat_i], r[key_i] if key_i is not None else None)
        for r in table.rows
        if r[lat_i] is not None and r[lon_i] is not None
    ]
    for lon, lat, k in points:
        hit = mapped(k, mappings)
        fill = hit[1] if hit and hit[1] else colour(style.get("color", {}).get("fixed"))
        seen.setdefault(hit[0] if hit else str(k), fill)
        ax.scatter(
            [lon],
            [lat],
            s=size**2,
            color=fill,
            alpha=float(style.get("opacity", 0.9)),
            edgecolors=fill,
            linewidths=1,
            zorder=3,
        )
    _fit_view(ax, [(p[0], p[1]) for p in points], box)
    if markers.get("config", {}).get("showLegend"):
        _map_legend(view, box, seen)


def _provinces(ax: Axes, path: Path) -> None:
    shapes = json.loads(path.read_text(encoding="utf-8"))
    for feature in shapes.get("features", []):
        geometry = feature.get("geometry") or {}
        polygons = geometry.get("coordinates", [])
        if geometry.get("type") == "Polygon":
            polygons = [polygons]
        for polygon in polygons:
            for ring in polygon[:1]:
                xs, ys = zip(*ring, strict=True)
                ax.fill(xs, ys, facecolor="#262a33", edgecolor="#5b6170", linewidth=0.5, zorder=1)


def _fit_view(ax: Axes, points: list[tuple[float, float]], box: Box) -> None:
    """View 'fit' to the markers with a margin, with the map's aspect (Mercator-like)."""
    if not points:
        return
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    squash = 1 / math.cos(math.radians(cy))
    half_w = max((max(xs) - min(xs)) / 2 * 1.3, 0.3)
    half_h = max((max(ys) - min(ys)) / 2 * 1.3, 0.3)
    ratio = box.w / box.h  # widen the shorter side to the panel's shape
    if half_w / (half_h * squash) < ratio:
        half_w = half_h * squash * ratio
    else:
        half_h = half_w / ratio / squash
    ax.set_xlim(cx - half_w, cx + half_w)
    ax.set_ylim(cy - half_h, cy + half_h)


def _map_legend(view: View, box: Box, seen: Mapping[str, str]) -> None:
    y = box.y + box.h - 12 - 20 * len(seen)
    view.canvas.box(Box(box.x + 8, y - 6, 230, 20 * len(seen) + 12), "#181b1f", BORDER, alpha=0.9)
    for k, (text, fill) in enumerate(seen.items()):
        view.canvas.fig.add_artist(
            Line2D(
                [(box.x + 22) / view.canvas.width],
                [1 - (y + 20 * k + 8) / view.canvas.height],
                marker="o",
                markersize=9 * PT,
                color=fill,
                transform=view.canvas.fig.transFigure,
            )
        )
        view.canvas.text(box.x + 36, y + 20 * k + 1, text, 13)


RENDERERS: dict[str, Callable[[View, Mapping[str, Any], PanelData, Box], None]] = {
    "stat": draw_stat,
    "bargauge": draw_bargauge,
    "table": draw_table,
    "timeseries": draw_timeseries,
    "status-history": draw_status_history,
    "state-timeline": draw_status_history,
    "heatmap": draw_status_history,
    "geomap": draw_geomap,
}


def draw_panel(
    view: View, panel: Mapping[str, Any], data: PanelData, frame: Box, content: Box
) -> None:
    panel_frame(view, panel, frame)
    if data.error:
        message(view, content, "⚠ " + _fit(data.error, content.w * 1.4, 12), "#f2495c")
        return
    renderer = RENDERERS.get(str(panel.get("type")))
    if renderer is None:
        message(view, content, f"(panel type {panel.get('type')} not previewed)")
        return
    renderer(view, panel, data, content)


def local_now(now: datetime, tz: ZoneInfo) -> str:
    return now.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
