"""Plausible sensor values as pure functions of (model, device, time, seed).

No state and no clock: the same arguments always give the same value, so the runner can
ask for "now" while tests sweep days of simulated time in milliseconds. Randomness comes
from hashing (seed, device, metric, time), not from a shared generator, so adding a
device or a metric never changes the values of the others.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

from config.timezone import LOCAL_TZ

HOUR_S = 3600.0
DAY_S = 24 * HOUR_S
VN_UTC_OFFSET_S = int(LOCAL_TZ.utcoffset(None).total_seconds())
M2_PERIOD_S = 12.4206012 * HOUR_S  # principal lunar semi-diurnal tide
K1_PERIOD_S = 23.9344696 * HOUR_S  # luni-solar diurnal tide

# Traffic peaks (local hour, width in hours): morning and evening rush. The evening one is
# broader and higher because the boundary layer is already shallow when it arrives.
_RUSH_HOURS = ((7.5, 1.5, 1.0), (19.5, 2.0, 1.2))
# Normalises the two-peak shape so that `base` stays close to the daily mean.
_RUSH_MEAN = sum(w * width * math.sqrt(2 * math.pi) / 24 for _, width, w in _RUSH_HOURS)
# Vehicles on a Vietnamese city road (local hour, width in hours, weight): the morning
# rush to work and school, going home for lunch and back, the evening rush home. Unlike
# the pollutants' `traffic` shape, counts stay up through the day and fall at night.
_ROAD_PEAKS = ((7.25, 0.9, 1.0), (11.5, 0.6, 0.35), (13.5, 0.6, 0.25), (17.5, 1.1, 1.1))
_ROAD_NIGHT, _ROAD_DAY = 0.12, 0.5  # level at night, plateau added by day (before peaks)
_O3_PEAK_HOUR, _O3_WIDTH_H = 13.5, 2.5
_O3_MEAN = _O3_WIDTH_H * math.sqrt(2 * math.pi) / 24
_WARMEST_HOUR = 14.5


@dataclass(frozen=True)
class MetricModel:
    """How one metric of one device behaves; the fields are described in fleet.yaml."""

    name: str
    unit: str
    pattern: str
    base: float
    amplitude: float = 0.0
    secondary: float = 0.0
    phase_h: float = 0.0
    drift: float = 0.0
    drift_hours: float = 6.0
    noise: float = 0.0
    lo: float = 0.0
    hi: float | None = None
    decimals: int = 1
    # A yearly swing in the metric's unit, highest on day `season_peak_day` of the year
    # and `base` on day `season_base_day`: the Mekong's flood season (peak in early
    # October inland) or the dry season's salinity intrusion (peak in March).
    seasonal: float = 0.0
    season_peak_day: float = 0.0
    season_base_day: float = 0.0


def unit_hash(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) that depends only on its arguments."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def sample_noise(seed: int, key: str, t: float) -> float:
    """Zero-mean noise with unit variance, fresh each second.

    A sum of four uniforms (Irwin-Hall) looks Gaussian but is bounded (±3.46), so a
    reading can never be an absurd outlier by accident.
    """
    second = math.floor(t)
    total = sum(unit_hash(seed, key, second, i) for i in range(4))
    return (total - 2.0) * math.sqrt(3.0)


def smooth_noise(seed: int, key: str, t: float, scale_s: float) -> float:
    """Slowly wandering value in [-1, 1]: random knots every scale_s, eased between."""
    position = t / scale_s
    knot = math.floor(position)
    a = unit_hash(seed, key, "knot", knot) * 2 - 1
    b = unit_hash(seed, key, "knot", knot + 1) * 2 - 1
    frac = position - knot
    ease = frac * frac * (3 - 2 * frac)  # smoothstep: no kinks at the knots
    return a + (b - a) * ease


def local_hour(t: float) -> float:
    return ((t + VN_UTC_OFFSET_S) % DAY_S) / HOUR_S


def _bump(hour: float, centre: float, width: float) -> float:
    distance = (hour - centre + 12) % 24 - 12  # the day wraps around midnight
    return math.exp(-0.5 * (distance / width) ** 2)


def _traffic(m: MetricModel, t: float) -> float:
    hour = local_hour(t)
    rush = sum(w * _bump(hour, c, width) for c, width, w in _RUSH_HOURS)
    return m.base * (1 + m.amplitude * (rush - _RUSH_MEAN))


def _road_shape(hour: float) -> float:
    day = 1 / (1 + math.exp(-(hour - 5.5) / 0.6)) / (1 + math.exp(-(22.0 - hour) / 0.8))
    peaks = sum(w * _bump(hour, c, width) for c, width, w in _ROAD_PEAKS)
    return _ROAD_NIGHT + _ROAD_DAY * day + peaks


# The shape's daily mean, so that `base` is the daily mean of a road_traffic metric.
_ROAD_MEAN = sum(_road_shape(minute / 60) for minute in range(1440)) / 1440


def _road_traffic(m: MetricModel, t: float) -> float:
    return m.base * (1 + m.amplitude * (_road_shape(local_hour(t)) / _ROAD_MEAN - 1))


def _photochemical(m: MetricModel, t: float) -> float:
    sun = _bump(local_hour(t), _O3_PEAK_HOUR, _O3_WIDTH_H)
    return m.base * (1 + m.amplitude * (sun - _O3_MEAN) / (1 - _O3_MEAN))


def _diurnal(m: MetricModel, t: float) -> float:
    return m.base + m.amplitude * math.cos(2 * math.pi * (local_hour(t) - _WARMEST_HOUR) / 24)


def _anti_diurnal(m: MetricModel, t: float) -> float:
    # Relative humidity falls as the air warms: the mirror image of temperature.
    return m.base - m.amplitude * math.cos(2 * math.pi * (local_hour(t) - _WARMEST_HOUR) / 24)


def _tide(m: MetricModel, t: float) -> float:
    shifted = t - m.phase_h * HOUR_S
    semi = math.cos(2 * math.pi * shifted / M2_PERIOD_S)
    diurnal = math.cos(2 * math.pi * shifted / K1_PERIOD_S)
    return m.base + m.amplitude * semi + m.secondary * diurnal


_PATTERNS: dict[str, Callable[[MetricModel, float], float]] = {
    "steady": lambda m, t: m.base,
    "traffic": _traffic,
    "road_traffic": _road_traffic,
    "photochemical": _photochemical,
    "diurnal": _diurnal,
    "anti_diurnal": _anti_diurnal,
    "tide": _tide,
    # Salinity rises with the flood tide; its slow part comes from `drift`.
    "salinity": _tide,
}

# Light traps (issue 15): one count per night, read at dawn. The night's level is `base`
# times a factor drawn per night, exp(amplitude · N(0,1)-ish): most nights near base, a
# few several times higher (a migration flight), never negative. Constant within a night.
DAWN_HOUR = 6.0


def night_dawn(t: float) -> float:
    """Epoch second of the last dawn (06:00 local) at or before `t`: the night's reading."""
    local = t + VN_UTC_OFFSET_S - DAWN_HOUR * HOUR_S
    return t - (local % DAY_S)


def _nightly(m: MetricModel, t: float) -> float:
    return m.base


_PATTERNS["nightly"] = _nightly
PATTERNS = frozenset(_PATTERNS)
YEAR_S = 365.2425 * DAY_S


def _season(m: MetricModel, t: float) -> float:
    """The yearly swing, a cosine peaking on `season_peak_day`, shifted to be zero on
    `season_base_day` so that `base` stays the level the fleet describes for that day."""

    def wave(day: float) -> float:
        return math.cos(2 * math.pi * (day - m.season_peak_day) * DAY_S / YEAR_S)

    day_of_year = (t % YEAR_S) / DAY_S  # the epoch starts on 1 January
    return m.seasonal * (wave(day_of_year) - wave(m.season_base_day))


def value(model: MetricModel, device_id: str, t: float, seed: int) -> float:
    """The reading of `model` on `device_id` at epoch second `t`, rounded like a device."""
    key = f"{device_id}/{model.name}"
    if model.pattern == "nightly":
        return _night_count(model, key, night_dawn(t), seed)
    level = _PATTERNS[model.pattern](model, t)
    if model.seasonal:
        level += _season(model, t)
    if model.drift:
        level += model.base * model.drift * smooth_noise(seed, key, t, model.drift_hours * HOUR_S)
    if model.noise:
        level += model.noise * sample_noise(seed, key, t)
    level = max(model.lo, level)
    if model.hi is not None:
        level = min(model.hi, level)
    return round(level, model.decimals)


def _night_count(model: MetricModel, key: str, dawn: float, seed: int) -> float:
    spread = sample_noise(seed, key, dawn) / math.sqrt(3.0)  # about N(0, 1), within ±2
    level = model.base * math.exp(model.amplitude * spread)
    if model.seasonal:
        level += _season(model, dawn)
    if model.drift:
        level *= 1 + model.drift * smooth_noise(seed, key, dawn, model.drift_hours * HOUR_S)
    level = max(model.lo, level)
    if model.hi is not None:
        level = min(model.hi, level)
    return round(level, model.decimals)
