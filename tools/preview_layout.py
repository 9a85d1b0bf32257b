"""The pure part of the dashboard preview: where Grafana puts a panel, which colour a value
gets, how a number is written. No drawing and no database here, so it is unit-tested.

Written by hand because no Python library reproduces Grafana's front end; each rule below
names the Grafana behaviour it follows (react-grid-layout's grid, the dark theme's named
colours, the threshold and value-mapping lookups, a few of Grafana's unit formatters).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

# Grafana's dashboard grid (public/app/core/constants.ts): 24 columns, rows of 30 px,
# 8 px between cells, no container padding inside the grid itself.
GRID_COLUMNS = 24
GRID_CELL_HEIGHT = 30
GRID_CELL_MARGIN = 8
PANEL_HEADER = 32  # a panel's title bar (theme.spacing(4))
PANEL_PADDING = 8  # inside a panel, around the visualisation

# The dark theme (packages/grafana-data/src/themes): canvas, panel, border and text.
CANVAS = "#111217"
PANEL_BG = "#181b1f"
BORDER = "#2b2e36"
TEXT = "#ccccdc"
TEXT_MUTED = "#8e8e9a"
GRID_LINE = "#2a2d33"

# Named colours of the dark theme's visualisation palette (getColorByName).
NAMED: dict[str, str] = {
    "green": "#73BF69",
    "dark-green": "#37872D",
    "semi-dark-green": "#56A64B",
    "light-green": "#96D98D",
    "super-light-green": "#C8F2C2",
    "red": "#F2495C",
    "dark-red": "#C4162A",
    "semi-dark-red": "#E02F44",
    "light-red": "#FF7383",
    "super-light-red": "#FFA6B0",
    "orange": "#FF9830",
    "dark-orange": "#FA6400",
    "semi-dark-orange": "#FF780A",
    "light-orange": "#FFB357",
    "super-light-orange": "#FFCB7D",
    "yellow": "#FADE2A",
    "dark-yellow": "#E0B400",
    "semi-dark-yellow": "#F2CC0C",
    "light-yellow": "#FFEE52",
    "super-light-yellow": "#FFF899",
    "blue": "#5794F2",
    "dark-blue": "#1F60C4",
    "semi-dark-blue": "#3274D9",
    "light-blue": "#8AB8FF",
    "super-light-blue": "#C0D8FF",
    "purple": "#B877D9",
    "dark-purple": "#8F3BB8",
    "semi-dark-purple": "#A352CC",
    "light-purple": "#CA95E5",
    "super-light-purple": "#DEB6F2",
    "text": TEXT,
    "transparent": "#00000000",
}
# palette-classic, the default series colours, in order.
CLASSIC = (
    "#7EB26D",
    "#EAB839",
    "#6ED0E0",
    "#EF843C",
    "#E24D42",
    "#1F78C1",
    "#BA43A9",
    "#705DA0",
    "#508642",
    "#CCA300",
    "#447EBC",
    "#C15C17",
    "#890F02",
    "#0A437C",
    "#6D1F62",
    "#584477",
    "#B7DBAB",
    "#F4D598",
    "#70DBED",
    "#F9BA8F",
)


@dataclass(frozen=True)
class Box:
    """A rectangle in CSS pixels, origin top left."""

    x: float
    y: float
    w: float
    h: float

    def inset(self, left: float, top: float, right: float, bottom: float) -> Box:
        return Box(
            self.x + left,
            self.y + top,
            max(self.w - left - right, 0),
            max(self.h - top - bottom, 0),
        )


@dataclass(frozen=True)
class Screen:
    """The browser window the dashboard is shown in: CSS size, device pixel ratio, the
    height of Grafana's chrome above the grid (0 in kiosk mode) and the page padding."""

    width: int
    height: int
    scale: float = 1.0
    chrome: int = 0
    padding: int = 16


def grid_box(grid_pos: Mapping[str, int], screen: Screen) -> Box:
    """react-grid-layout's calcGridItemPosition for Grafana's grid: column width from
    the width left after the page padding, cells joined by their margins."""
    inner = screen.width - 2 * screen.padding
    col = (inner - GRID_CELL_MARGIN * (GRID_COLUMNS - 1)) / GRID_COLUMNS
    x, y, w, h = (int(grid_pos.get(k, 0)) for k in ("x", "y", "w", "h"))
    return Box(
        x=screen.padding + round((col + GRID_CELL_MARGIN) * x),
        y=screen.chrome + screen.padding + (GRID_CELL_HEIGHT + GRID_CELL_MARGIN) * y,
        w=round(col * w + max(0, w - 1) * GRID_CELL_MARGIN),
        h=GRID_CELL_HEIGHT * h + max(0, h - 1) * GRID_CELL_MARGIN,
    )


def content_box(panel: Box) -> Box:
    """Where the visualisation goes: below the title bar, inside the panel padding."""
    return panel.inset(PANEL_PADDING, PANEL_HEADER, PANEL_PADDING, PANEL_PADDING)


def grid_bottom(panels: Sequence[Mapping[str, Any]], screen: Screen) -> float:
    """The lowest pixel of any panel: what must be on the screen for nothing to scroll
    (the page's own bottom padding may fall below the edge)."""
    if not panels:
        return float(screen.chrome + screen.padding)
    return float(
        max(grid_box(p["gridPos"], screen).y + grid_box(p["gridPos"], screen).h for p in panels)
    )


def overlaps(panels: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of panel titles whose grid cells overlap (Grafana would push one down)."""
    found = []
    for i, a in enumerate(panels):
        for b in panels[i + 1 :]:
            pa, pb = a["gridPos"], b["gridPos"]
            if (
                pa["x"] < pb["x"] + pb["w"]
                and pb["x"] < pa["x"] + pa["w"]
                and pa["y"] < pb["y"] + pb["h"]
                and pb["y"] < pa["y"] + pa["h"]
            ):
                found.append((a.get("title", ""), b.get("title", "")))
    return found


def column_widths(configs: Sequence[Mapping[str, Any]], available: float) -> list[float]:
    """Grafana's table getColumns: a field's custom.width as set; the others share the
    rest equally but never below their minWidth (150 px by default), so a table with
    more columns than its panel holds at 150 px scrolls sideways."""
    widths: list[float | None] = [c.get("custom", {}).get("width") for c in configs]
    mins = [float(c.get("custom", {}).get("minWidth") or 150) for c in configs]
    rest = available - sum(w for w in widths if w)
    free = [i for i, w in enumerate(widths) if not w]
    changed = True
    while free and changed:
        changed = False
        share = rest / len(free)
        for i in list(free):
            if mins[i] > share:
                widths[i], rest = mins[i], rest - mins[i]
                free.remove(i)
                changed = True
                break
    for i in free:
        widths[i] = rest / len(free)
    return [float(w or 0) for w in widths]


# --- colours ---------------------------------------------------------------------------


def colour(name: str | None, default: str = NAMED["green"]) -> str:
    """A Grafana colour (a named colour, #rrggbb or rgb()) as #rrggbb[aa]."""
    if not name:
        return default
    name = name.strip()
    if name.startswith("#"):
        return name
    if name.startswith("rgb"):
        parts = [float(p) for p in name[name.index("(") + 1 : name.index(")")].split(",")]
        rgb = "".join(f"{round(p):02x}" for p in parts[:3])
        alpha = f"{round(parts[3] * 255):02x}" if len(parts) > 3 else ""
        return f"#{rgb}{alpha}"
    return NAMED.get(name, default)


def threshold_colour(value: float | None, thresholds: Mapping[str, Any] | None) -> str:
    """getActiveThreshold: the last step whose value is at or below `value` (the first
    step, value null, is the base). Percentage mode is not used by these dashboards."""
    steps = list((thresholds or {}).get("steps") or [])
    if not steps:
        return NAMED["green"]
    active = steps[0]
    if value is not None and not (isinstance(value, float) and math.isnan(value)):
        for step in steps[1:]:
            if step.get("value") is not None and value >= float(step["value"]):
                active = step
    return colour(active.get("color"))


def mapped(value: Any, mappings: Sequence[Mapping[str, Any]] | None) -> tuple[str, str] | None:
    """A value mapping of type `value` that matches: (display text, colour or '')."""
    for mapping in mappings or []:
        if mapping.get("type") != "value":
            continue
        hit = mapping.get("options", {}).get(str(value))
        if hit is not None:
            shade = colour(hit["color"], "") if hit.get("color") else ""
            return str(hit.get("text", value)), shade
    return None


def contrast_text(background: str) -> str:
    """theme.colors.getContrastText: dark text on light backgrounds, white otherwise."""
    hex_ = background.lstrip("#")[:6]
    if len(hex_) != 6:
        return "#ffffff"
    r, g, b = (int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4))

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    # Grafana's contrastThreshold is 3: the white text wins when its contrast reaches it.
    return "#ffffff" if (1.05) / (luminance + 0.05) >= 3 else "#000000"


# --- numbers ---------------------------------------------------------------------------


def _decimals(value: float, decimals: int | None) -> int:
    """Grafana's automatic decimals, roughly: fewer digits for bigger numbers."""
    if decimals is not None:
        return decimals
    size = abs(value)
    if size == 0 or size >= 100:
        return 0
    if size >= 10:
        return 1
    return 2


def _fixed(value: float, decimals: int | None) -> str:
    text = f"{value:.{_decimals(value, decimals)}f}"
    if decimals is None and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


_SECONDS = (
    (31_536_000, "year"),
    (604_800, "week"),
    (86_400, "day"),
    (3_600, "hour"),
    (60, "min"),
    (1, "s"),
)
_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_SHORT = ("", " K", " Mil", " Bil", " Tri")
_SUFFIX = {
    "lengthm": " m",
    "conμgm3": " µg/m³",
    "conmgm3": " mg/m³",
    "percent": "%",
    "ms": " ms",
    "ppm": " ppm",
}


def format_value(
    value: Any,
    unit: str | None = None,
    decimals: int | None = None,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> str:
    """A value as Grafana's unit formatter writes it (English locale, decimal point);
    times in the viewer's time zone `tz`, as the dashboards' "browser" time zone does."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if unit == "dateTimeFromNow" and now is not None:
            return from_now(value, now)
        if tz is not None and value.tzinfo is not None:
            value = value.astimezone(tz)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool) or (not isinstance(value, (int, float)) and not _numeric(value)):
        return str(value)
    number = float(value)
    if unit == "s":
        for size, name in _SECONDS:
            if abs(number) >= size or size == 1:
                scaled = number / size
                return f"{_fixed(scaled, decimals)} {name}"
    if unit in ("bytes", "decbytes"):
        step, names = (1024, _IEC) if unit == "bytes" else (1000, ("B", "kB", "MB", "GB", "TB"))
        power = 0
        while abs(number) >= step and power < len(names) - 1:
            number, power = number / step, power + 1
        return f"{_fixed(number, decimals)} {names[power]}"
    if unit == "short":
        power = 0
        while abs(number) >= 1000 and power < len(_SHORT) - 1:
            number, power = number / 1000, power + 1
        return f"{_fixed(number, decimals)}{_SHORT[power]}"
    if isinstance(value, int) and decimals is None:
        return f"{value}{_SUFFIX.get(unit or '', '')}"
    return f"{_fixed(number, decimals)}{_SUFFIX.get(unit or '', '')}"


def _numeric(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, str)


def from_now(when: datetime, now: datetime) -> str:
    """moment's fromNow (English), which Grafana's dateTimeFromNow unit uses."""
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    minutes, hours, days = seconds / 60, seconds / 3600, seconds / 86400
    if seconds < 45:
        text = "a few seconds"
    elif seconds < 90:
        text = "a minute"
    elif minutes < 45:
        text = f"{round(minutes)} minutes"
    elif minutes < 90:
        text = "an hour"
    elif hours < 22:
        text = f"{round(hours)} hours"
    elif hours < 36:
        text = "a day"
    else:
        text = f"{round(days)} days"
    return f"in {text}" if future else f"{text} ago"


def relative_label(start: datetime, end: datetime, now: datetime) -> str:
    """The time picker's text for a relative range ending now."""
    if abs((end - now).total_seconds()) > 60:
        return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"
    span = end - start
    for size, name in (
        (timedelta(days=1), "days"),
        (timedelta(hours=1), "hours"),
        (timedelta(minutes=1), "minutes"),
    ):
        if span >= size and span % size == timedelta(0):
            count = span // size
            return f"Last {count} {name[:-1] if count == 1 else name}"
    return f"Last {span}"
