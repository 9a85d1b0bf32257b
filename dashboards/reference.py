"""Lines and colours the panels draw, read from the rule data at generation time.

Nothing here repeats a number: VN_AQI bands come from aqi_tables.yaml, salinity lines
from alarm_levels.yaml, QCVN 05:2023 limits from qcvn05_2023.yaml (through the modules
that already parse and check them). Flood lines BĐ I-III are per station and live in
the database (devices.metadata->'alarm_levels'), so the SQL reads those itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from processors.environment import aqi, levels, qcvn

# Severities 0..4 of events.alerts.Severity, highest first, as the tiles show them.
SEVERITIES = (
    (4, "critical", "Nghiêm trọng", "dark-red"),
    (3, "high", "Cao", "red"),
    (2, "medium", "Trung bình", "orange"),
    (1, "low", "Thấp", "yellow"),
)
DOMAINS = (
    ("environment", "Môi trường"),
    ("security", "An ninh mạng"),
    ("camera", "Camera"),
    ("health", "Thiết bị"),
)
# device_overview.state → (Vietnamese label, colour); the wall's map and legend.
STATES = (
    ("offline", "Mất kết nối", "#6e6e6e"),
    ("critical", "Nghiêm trọng", "#7e0023"),
    ("high", "Cảnh báo cao", "#ff0000"),
    ("medium", "Cảnh báo", "#ff7e00"),
    ("low", "Lưu ý", "#ffff00"),
    ("ok", "Bình thường", "#00a651"),
    ("unknown", "Chưa có dữ liệu", "#b0b0b0"),
)
# Flood and salinity level keys the SQL emits → colours (labels from the YAML).
LEVEL_COLOURS = {
    "normal": "#00a651",
    "bd1": "#ffff00",
    "bd2": "#ff7e00",
    "bd3": "#ff0000",
    "watch": "#ffff00",
    "warning": "#ff0000",
}


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@dataclass(frozen=True)
class Band:
    key: str
    start: float
    label: str
    colour: str


def aqi_bands() -> tuple[Band, ...]:
    """VN_AQI categories (Decision 1459/QĐ-TCMT) as threshold steps."""
    return tuple(
        Band(c.key, float(c.min), c.vi, hex_colour(c.rgb)) for c in aqi.tables().categories
    )


def salinity_lines() -> tuple[Band, ...]:
    """The 1 ‰ and 4 ‰ lines (a station may override them in its metadata)."""
    spec = levels.salinity_spec()
    return tuple(
        Band(lvl.key, lvl.threshold, lvl.vi, LEVEL_COLOURS[lvl.key]) for lvl in spec.levels
    )


def salinity_metadata_key() -> str:
    return str(levels.config()["detectors"]["salinity"]["metadata_key"])


def flood_levels() -> tuple[tuple[str, str], ...]:
    """(key, Vietnamese label) of BĐ I-III; the thresholds are per station, in the DB."""
    doc = levels.config()["detectors"]["water_level"]
    return tuple((entry["key"], entry["vi"]) for entry in doc["levels"])


def flood_metadata_key() -> str:
    return str(levels.config()["detectors"]["water_level"]["metadata_key"])


@dataclass(frozen=True)
class PollutantLimit:
    metric: str
    period: str
    value: float


def qcvn_limits(on: date) -> tuple[PollutantLimit, ...]:
    """QCVN 05:2023 limits in force on `on` for the 1 h and 24 h periods the panels draw."""
    standard = qcvn.standard()
    found = []
    for metric, by_period in standard.limits.items():
        for period in ("1h", "24h"):
            if period in by_period:
                limit = standard.limit(metric, period, on)
                if limit is not None:
                    found.append(PollutantLimit(metric, period, limit.value))
    return tuple(found)


def qcvn_source() -> str:
    return qcvn.standard().source
