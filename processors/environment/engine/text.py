"""Operator-facing wording: templates in the rule YAML, rendered into Signals.

Templates are str.format fields ("{station}", "{value:.2f}"). Which fields a kind offers is
fixed here, and the loader renders every template with sample values, so a typo in a
field name or a format spec fails `ioc rules check`, not a 3 a.m. alert.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from config.timezone import LOCAL_TZ
from events.alerts import Severity, Signal, SignalState

from .durations import Duration
from .model import AnyRule

_COMMON = ("rule", "device_id", "station", "at", "severity")
_MEASURED = ("metric", "unit", "value")
_LEVEL = ("level", "level_vi", "level_en", "action_vi", "action_en", "threshold")

FIELDS: Mapping[str, tuple[str, ...]] = {
    "levels": _COMMON + _MEASURED + _LEVEL,
    "threshold": _COMMON + _MEASURED + _LEVEL,
    "rate_of_change": (*_COMMON, *_MEASURED, "change", "threshold", "window"),
    "stuck": (*_COMMON, *_MEASURED, "duration", "since"),
    "out_of_range": (*_COMMON, *_MEASURED, "minimum", "maximum"),
    "no_data": (*_COMMON, "silence", "last_seen", "after", "interval"),
    "aqi": (*_COMMON, *_LEVEL, "value", "aqi", "category_vi", "category_en", "dominant"),
    "qcvn": (*_COMMON, "metric", "unit", "period", "mean", "limit", "ratio"),
    "night_count": (
        *_COMMON,
        *_MEASURED,
        *_LEVEL,
        "count",
        "mean",
        "nights",
        "measure_vi",
        "measure_en",
        "species_vi",
        "species_en",
        "province",
        "district",
    ),
    "weekly_cases": (
        *_COMMON,
        "level",
        "level_vi",
        "level_en",
        "action_vi",
        "action_en",
        "threshold",
        "cases",
        "week",
        "baseline",
        "mean",
        "sd",
        "k",
        "measure_vi",
        "measure_en",
        "disease_vi",
        "disease_en",
        "commune",
        "district",
        "province",
    ),
}
NUMERIC = frozenset(
    {"value", "threshold", "change", "minimum", "maximum", "aqi", "mean", "limit", "ratio"}
    | {"count", "nights", "cases", "baseline", "sd", "k"}
)
_FORMATTER = string.Formatter()


class VietnameseNumbers(string.Formatter):
    """Numbers the Vietnamese way: decimal comma, dot between thousands ("1.234,5"), so
    "{change:.2f}" reads "0,87" in a Vietnamese title and "0.87" in the English one;
    durations in words ("1 giờ", not "1h").
    Hand-written: Babel/ICU would need a locale-aware spec language the rule YAML does
    not use; the templates keep Python's format specs."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Duration):
            return super().format_field(value.vietnamese, format_spec)
        text = super().format_field(value, format_spec)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return text.translate(_SWAP_SEPARATORS)
        return text


_SWAP_SEPARATORS = str.maketrans({".": ",", ",": "."})
_VIETNAMESE = VietnameseNumbers()


def local_time(t: datetime) -> str:
    """Operators read Vietnamese local time (UTC+7)."""
    return t.astimezone(LOCAL_TZ).strftime("%H:%M %d/%m/%Y")


def template_fields(template: str) -> list[str]:
    """Base names of the fields a template uses ("{value:.2f}" -> "value")."""
    names = []
    for _, field, _, _ in _FORMATTER.parse(template):
        if field is not None:
            names.append(field.split(".")[0].split("[")[0])
    return names


def check_template(kind: str, template: str) -> str | None:
    """A problem with the template, or None."""
    try:
        names = template_fields(template)
    except ValueError as error:
        return f"bad template: {error}"
    allowed = FIELDS[kind]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        return f"unknown template field {unknown[0]!r}; a {kind} rule offers {', '.join(allowed)}"
    sample = {name: 1.5 if name in NUMERIC else "x" for name in allowed}
    try:
        template.format_map(sample)
    except (ValueError, TypeError, KeyError, IndexError) as error:
        return f"bad template: {error}"
    return None


def render(template: str, context: Mapping[str, Any]) -> str:
    return template.format_map(context)


def render_vi(template: str, context: Mapping[str, Any]) -> str:
    return _VIETNAMESE.vformat(template, (), context)


def make_signal(
    rule: AnyRule,
    *,
    state: SignalState,
    severity: Severity,
    at: datetime,
    labels: Mapping[str, str],
    context: Mapping[str, Any],
    values: Mapping[str, Any],
) -> Signal:
    text = rule.text.firing if state is SignalState.FIRING else rule.text.resolved
    device_id = labels.get("device_id", "")
    full = {
        "rule": rule.id,
        "device_id": device_id,
        "station": rule.station(device_id),
        "at": local_time(at),
        "severity": severity.label,
        **context,
    }
    return Signal(
        rule=rule.id,
        domain=rule.signal_domain,
        labels=dict(labels),
        state=state,
        severity=severity,
        at=at,
        title_vi=render_vi(text.title_vi, full),
        title_en=render(text.title_en, full),
        summary_vi=render_vi(text.summary_vi, full),
        summary_en=render(text.summary_en, full),
        values=dict(values),
    )
