"""The rule-pack schema: what a rules/*.yaml file may say, checked field by field.

A pack is `stations:` (optional: a per-device table, "FILE#SECTION" relative to the pack)
and `rules:`. Each rule has a `kind`; the kinds share id, text templates and `defaults:`
(numbers a `{param: NAME}` falls back to when the device's row lacks NAME). Checks that
need more than one field (ordering, metric registry, templates) live in validate.py so
that every problem can be reported against its own line.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

from events.alerts import Domain, Severity

from .durations import parse_duration

if TYPE_CHECKING:
    from .params import StationTable

RULE_ID = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
KEY = r"^[a-z][a-z0-9_]*$"


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ParamRef(Doc):
    """A number taken from the device's row in the pack's `stations:` table."""

    param: str = Field(pattern=KEY)


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number or {{param: NAME}}, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return float(value)
    if isinstance(value, dict) and set(value) == {"param"}:
        name = value["param"]
        if not isinstance(name, str) or not re.fullmatch(KEY, name):
            raise ValueError(f"parameter names are lower_case words, got {name!r}")
        return ParamRef(param=name)
    raise ValueError(f"expected a number or {{param: NAME}}, got {value!r}")


def _severity(value: Any) -> Severity:
    if isinstance(value, Severity):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a severity name, got {value!r}")
    return Severity.parse(value)


def _duration(value: Any) -> timedelta:
    return parse_duration(value)


def _metrics(value: Any) -> tuple[Any, ...]:
    # One metric or a list: a rule such as health.stuck covers several with one text.
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(f"expected a metric name or a list of them, got {value!r}")
    if not all(isinstance(m, str) for m in items):
        raise ValueError(f"expected metric names, got {value!r}")
    return tuple(items)


Number = Annotated[float | ParamRef, BeforeValidator(_number)]
SeverityName = Annotated[Severity, BeforeValidator(_severity)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
Metrics = Annotated[tuple[str, ...], BeforeValidator(_metrics)]
NO_TIME = timedelta(0)


class Text(Doc):
    title_vi: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    summary_vi: str = ""
    summary_en: str = ""


class Texts(Doc):
    firing: Text
    resolved: Text


class RuleBase(Doc):
    id: str = Field(pattern=RULE_ID)
    description: str = ""
    # Default: health for health.* rules, environment otherwise.
    domain: Domain | None = None
    defaults: dict[str, float] = {}
    text: Texts
    # Set by the loader: the pack's per-device table, and where the rule was written.
    _table: StationTable | None = PrivateAttr(default=None)
    _origin: str = PrivateAttr(default="")

    @property
    def signal_domain(self) -> Domain:
        if self.domain is not None:
            return self.domain
        return Domain.HEALTH if self.id.startswith("health.") else Domain.ENVIRONMENT

    @property
    def table(self) -> StationTable | None:
        return self._table

    @property
    def origin(self) -> str:
        """file:line of the rule, for messages about it."""
        return self._origin

    @property
    def metrics(self) -> tuple[str, ...] | None:
        """Metrics the rule watches; None: every metric (or none, for timer rules)."""
        return None

    def station(self, device_id: str) -> str:
        """The device's short display name from the table, else its id."""
        name = self._table.row(device_id).get("name") if self._table else None
        return name if isinstance(name, str) and name else device_id


class MeasuredRule(RuleBase):
    metric: Metrics
    unit: str | None = None  # shown in titles; default: the metric registry's unit

    @property
    def metrics(self) -> tuple[str, ...] | None:
        return self.metric


class LevelItem(Doc):
    key: str = Field(pattern=KEY)
    value: Number
    severity: SeverityName
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)
    # What operators should do at this level, for the summary template.
    action_vi: str = ""
    action_en: str = ""


class LevelsRule(MeasuredRule):
    """Ordered alarm levels (e.g. BĐ I-III) left only below the level minus `margin`."""

    kind: Literal["levels"]
    levels: list[LevelItem] = Field(min_length=1)
    margin: Number = 0.0
    for_: Duration = Field(NO_TIME, alias="for")
    clear_for: Duration = NO_TIME


class Step(LevelItem):
    """A threshold step: a level with its own clear line."""

    clear: Number


class ThresholdRule(MeasuredRule):
    """Severity steps, each entered at `value` and left past its own `clear` line."""

    kind: Literal["threshold"]
    direction: Literal["above", "below"] = "above"
    steps: list[Step] = Field(min_length=1)
    for_: Duration = Field(NO_TIME, alias="for")
    clear_for: Duration = NO_TIME


class RateRule(MeasuredRule):
    """A rise (or fall) of at least `change` within `window`; resolved below `clear`."""

    kind: Literal["rate_of_change"]
    direction: Literal["rise", "fall"] = "rise"
    change: Number
    window: Duration
    clear: Number | None = None  # default: `change`
    severity: SeverityName


class StuckRule(MeasuredRule):
    kind: Literal["stuck"]
    for_: Duration = Field(alias="for")
    tolerance: float = Field(0.0, ge=0)
    severity: SeverityName


class OutOfRangeRule(RuleBase):
    """Readings stored with quality BAD (outside the metric's physical range)."""

    kind: Literal["out_of_range"]
    metric: Metrics | None = None  # None: every metric
    unit: str | None = None
    # Consecutive usable readings that close the alert, so one lucky reading of a
    # failing sensor does not.
    clear_after: int = Field(1, ge=1)
    severity: SeverityName

    @property
    def metrics(self) -> tuple[str, ...] | None:
        return self.metric


class NoDataRule(RuleBase):
    """A device silent for `after` × its expected interval (evaluated on a timer)."""

    kind: Literal["no_data"]
    after: float = Field(ge=1, allow_inf_nan=False)
    severity: SeverityName


class AqiRule(RuleBase):
    """Hourly VN_AQI; levels and margin come from alarm_levels.yaml (`aqi`)."""

    kind: Literal["aqi"]
    severity: dict[str, SeverityName]  # per VN_AQI category key


QcvnPeriod = Literal["1h", "8h", "24h"]


class QcvnRule(RuleBase):
    """QCVN 05:2023 exceedances on running means (evaluated hourly)."""

    kind: Literal["qcvn"]
    periods: tuple[QcvnPeriod, ...] = ("1h", "8h", "24h")
    severity: SeverityName


class NightStep(Doc):
    """A level of a night_count rule: entered when the night's count reaches `night` or
    the mean of the last nights reaches `mean` (either line is enough)."""

    key: str = Field(pattern=KEY)
    night: Number
    mean: Number
    severity: SeverityName
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)
    action_vi: str = ""
    action_en: str = ""


class Species(Doc):
    """What a count metric counts: the label value and the names people read."""

    key: str = Field(pattern=KEY)
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class NightCountRule(MeasuredRule):
    """Nightly counts (light traps): the night's count or the mean of the last `nights`
    nights against per-area lines. `{param: NAME}` reads the `thresholds:` table's rows
    for the device's province ("An Giang") and then its district ("An Giang/Thoại Sơn"),
    under the species' key; the device's own row (`stations:`) names its province and
    district. A night a device did not report is left out of the mean (unknown, not 0)."""

    kind: Literal["night_count"]
    nights: int = Field(3, ge=1, le=14)
    thresholds: str = Field(pattern=r"^[^#]+#[A-Za-z0-9_.-]+$")
    species: dict[str, Species] = Field(min_length=1)  # metric -> what it counts
    steps: list[NightStep] = Field(min_length=1)
    _thresholds: StationTable | None = PrivateAttr(default=None)

    @property
    def threshold_table(self) -> StationTable | None:
        return self._thresholds


class DiseaseItem(Doc):
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)
    # Fixed lines per commune and week (cases), by step key; a step without one here
    # holds on the baseline only.
    cases: dict[str, float] = {}
    action_vi: dict[str, str] = {}
    action_en: dict[str, str] = {}


class CaseStep(Doc):
    key: str = Field(pattern=KEY)
    k: float = Field(ge=0, allow_inf_nan=False)
    # A baseline is only meaningful above a few cases: a commune with mean 0 and sd 0
    # would "exceed" it with one case.
    min_cases: float = Field(1, ge=0, allow_inf_nan=False)
    severity: SeverityName
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class WeeklyCasesRule(RuleBase):
    """Weekly case counts per commune and disease (processors/epidemics/): a level holds
    when the week's cases exceed the seasonal baseline mean + k·sd of the same ISO weeks
    of past years, or reach the disease's fixed line. Evaluated by the epidemics
    service when counts arrive, not per reading."""

    kind: Literal["weekly_cases"]
    years: int = Field(5, ge=1, le=30)  # past years the baseline reads
    min_years: int = Field(3, ge=1, le=30)  # fewer years of history: no baseline
    weeks_around: int = Field(1, ge=0, le=4)  # ISO weeks either side, pooled
    diseases: dict[str, DiseaseItem] = Field(min_length=1)
    steps: list[CaseStep] = Field(min_length=1)


Rule = Annotated[
    LevelsRule
    | ThresholdRule
    | RateRule
    | StuckRule
    | OutOfRangeRule
    | NoDataRule
    | AqiRule
    | QcvnRule
    | NightCountRule
    | WeeklyCasesRule,
    Field(discriminator="kind"),
]
AnyRule = (
    LevelsRule
    | ThresholdRule
    | RateRule
    | StuckRule
    | OutOfRangeRule
    | NoDataRule
    | AqiRule
    | QcvnRule
    | NightCountRule
    | WeeklyCasesRule
)
KINDS = (
    "threshold",
    "levels",
    "rate_of_change",
    "stuck",
    "out_of_range",
    "no_data",
    "aqi",
    "qcvn",
    "night_count",
    "weekly_cases",
)


class PackShell(Doc):
    """The pack around its rules; each rule is validated on its own so that one bad rule
    does not hide the problems of the others."""

    stations: str | None = Field(None, pattern=r"^[^#]+#[A-Za-z0-9_.-]+$")
    rules: list[Any] = Field(min_length=1)
