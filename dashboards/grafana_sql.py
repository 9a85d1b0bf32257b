"""What Grafana sends to PostgreSQL for a panel's raw SQL: variables and macros expanded.

Written by hand because no Python library does this: Grafana expands a PostgreSQL query
in two places, both re-implemented here step for step so that a test can run on a real
database exactly the SQL Grafana would run.

1. The browser (``templateSrv.replace`` in @grafana/scenes, with the SQL data source's
   ``interpolateVariable`` as the default format): template variables ``$var``,
   ``${var}``, ``${var:format}``, ``[[var]]`` and the built-ins ``$__interval``,
   ``$__interval_ms``, ``$__from``, ``$__to``. A value of a multi-value or include-All
   variable is quoted as a SQL literal (several joined by commas); a plain single value
   only has its quotes doubled; All is every option's value, or the variable's custom
   ``allValue`` inserted as is.
2. The server (pkg/tsdb/grafana-postgresql-datasource: ``sqleng.Interpolate`` then
   ``macros.go``): ``$__interval``, ``$__interval_ms``, ``$__unixEpochFrom()``,
   ``$__unixEpochTo()``, then the ``$__name(args)`` macros, ``$__timeGroup`` as
   ``time_bucket`` when the data source has TimescaleDB enabled.

References (the behaviour, not the code, is reproduced):
https://grafana.com/docs/grafana/latest/datasources/postgres/query-editor/ (macros),
https://grafana.com/docs/grafana/latest/datasources/postgres/template-variables/ and
https://grafana.com/docs/grafana/latest/dashboards/variables/variable-syntax/ (formats).

``$__rate_interval`` is a Prometheus data source variable: Grafana leaves it in SQL
untouched, and so does this module (the database then rejects the query, as it would).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

ALL_VALUE = "$__all"

# @grafana/scenes VARIABLE_REGEX; JavaScript's \w is ASCII-only.
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}", re.ASCII
)
# macros.go: sExpr
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
# Go time.ParseDuration units, in nanoseconds.
_GO_UNITS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
}  # fmt: skip
_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_DATE_UNIT = re.compile(r"^(\d+)([dwMy])$")


class MacroError(ValueError):
    """Grafana answers the panel with "interpolation failed" and runs nothing."""


@dataclass(frozen=True)
class Variable:
    """A dashboard variable as the browser holds it when a panel runs.

    ``value`` is one value, a list of values (multi-value), or ``ALL_VALUE``;
    ``options`` are the values All stands for (the All option itself excluded).
    """

    name: str
    value: str | Sequence[str]
    options: tuple[str, ...] = ()
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    text: str | Sequence[str] | None = None

    @property
    def is_all(self) -> bool:
        if isinstance(self.value, str):
            return self.value == ALL_VALUE
        return bool(self.value) and self.value[0] == ALL_VALUE


@dataclass(frozen=True)
class QueryContext:
    time_from: datetime
    time_to: datetime
    interval: timedelta
    variables: Mapping[str, Variable] = field(default_factory=dict)
    timescaledb: bool = True  # the data source's jsonData.timescaledb

    def __post_init__(self) -> None:
        if self.time_from.tzinfo is None or self.time_to.tzinfo is None:
            raise ValueError("time_from and time_to need a time zone")


@dataclass(frozen=True)
class Fill:
    """A $__timeGroup fill: Grafana adds the missing buckets to the result."""

    interval: timedelta
    mode: str  # "null", "previous" or "value"
    value: float = 0.0


@dataclass(frozen=True)
class Expansion:
    sql: str
    fill: Fill | None = None


def expand(raw_sql: str, ctx: QueryContext) -> str:
    """The SQL Grafana's PostgreSQL data source runs for this panel target."""
    return expand_query(raw_sql, ctx).sql


def expand_query(raw_sql: str, ctx: QueryContext) -> Expansion:
    browser = replace_variables(raw_sql, ctx)
    server = _server_globals(browser, ctx)
    return _macros(server, ctx)


# --- 1. the browser: template variables -------------------------------------------------


def replace_variables(text: str, ctx: QueryContext, *, sql_default: bool = True) -> str:
    """templateSrv.replace(text, scopedVars, interpolateVariable) for a SQL data source;
    ``sql_default=False`` is the plain glob default other callers get."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        builtin = _builtin(name, ctx)
        if builtin is not None:
            return _format_value(builtin, fmt, None, sql_default)
        variable = ctx.variables.get(name)
        if variable is None:
            return match.group(0)  # unknown: left as written, as Grafana does
        if variable.is_all:
            if variable.all_value is not None and variable.all_value != "":
                return _custom_all(variable, fmt, ctx, sql_default)
            return _format_value(list(variable.options), fmt, variable, sql_default)
        return _format_value(variable.value, fmt, variable, sql_default)

    return _VARIABLE.sub(one, text)


def _builtin(name: str, ctx: QueryContext) -> str | int | list[str] | None:
    if name == "__interval":
        return seconds_to_hms(ctx.interval.total_seconds())
    if name == "__interval_ms":
        return int(ctx.interval.total_seconds() * 1000)
    if name == "__from":
        return _epoch_ms(ctx.time_from)
    if name == "__to":
        return _epoch_ms(ctx.time_to)
    return None


def _custom_all(variable: Variable, fmt: str | None, ctx: QueryContext, sql_default: bool) -> str:
    """scenes CustomAllValue: inserted unformatted, then interpolated again."""
    if fmt == "text":
        return "All"
    if fmt == "percentencode":
        return _percent_encode(variable.all_value or "")
    return replace_variables(variable.all_value or "", ctx, sql_default=sql_default)


def _format_value(
    value: str | int | Sequence[str], fmt: str | None, variable: Variable | None, sql_default: bool
) -> str:
    if fmt is None:
        if sql_default:
            return _sql_interpolate(value, variable)
        fmt = "glob"
    name, _, arg = fmt.partition(":")
    formatter = _FORMATS.get(name, _FORMATS["glob"])  # Grafana falls back to glob too
    return formatter(value, arg, variable)


def _sql_interpolate(value: str | int | Sequence[str], variable: Variable | None) -> str:
    """SqlDatasource.interpolateVariable with PostgreSQL's quoteLiteral."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if variable is not None and (variable.multi or variable.include_all):
            return _quote_literal(value)
        return value.replace("'", "''")
    return ",".join(_quote_literal(v) for v in value)


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _values(value: str | int | Sequence[str]) -> list[str] | None:
    return None if isinstance(value, str | int) else [str(v) for v in value]


def _js_string(value: str | int | Sequence[str]) -> str:
    """JavaScript's String(): an array becomes its items joined by commas."""
    many = _values(value)
    return ",".join(many) if many is not None else str(value)


def _fmt_csv(value: str | int | Sequence[str], arg: str, variable: Variable | None) -> str:
    return _js_string(value)


def _fmt_raw(value: str | int | Sequence[str], arg: str, variable: Variable | None) -> str:
    return _js_string(value)


def _fmt_glob(value: str | int | Sequence[str], arg: str, variable: Variable | None) -> str:
    many = _values(value)
    if many is not None and len(many) > 1:
        return "{" + ",".join(many) + "}"
    return _js_string(value)


def _fmt_pipe(value: str | int | Sequence[str], arg: str, variable: Variable | None) -> str:
    many = _values(value)
    return "|".join(many) if many is not None else str(value)


def _fmt_join(value: str | int | Sequence[str], arg: str, variable: Variable | None) -> str:
    many = _values(value)
    return (arg or ",").join(many) if many is not None else str(value)


def _fmt_sqlstring(value: str | int | Sequence[str], arg: str, variable: Variable | None) -> str:
    # scenes sqlStringFormatter: ' doubled, " backslash-escaped.
    def quote(v: str) -> str:
        return "'" + v.replace("'", "''").replace('"', '\\"') + "'"

    many = _values(value)
    return ",".join(map(quote, many)) if many is not None else quote(str(value))


def _fmt_singlequote(value: str | int | Sequence[str], arg: str, variable: Variable | None) -> str:
    def quote(v: str) -> str:
        return "'" + v.replace("'", "\\'") + "'"

    many = _values(value)
    return ",".join(map(quote, many)) if many is not None else quote(str(value))


def _fmt_doublequote(value: str | int | Sequence[str], arg: str, variable: Variable | None) -> str:
    def quote(v: str) -> str:
        return '"' + v.replace('"', '\\"') + '"'

    many = _values(value)
    return ",".join(map(quote, many)) if many is not None else quote(str(value))


def _fmt_text(value: str | int | Sequence[str], arg: str, variable: Variable | None) -> str:
    if variable is not None and variable.text is not None:
        return _join_text(variable.text)
    return _js_string(value)


def _join_text(text: str | Sequence[str]) -> str:
    return text if isinstance(text, str) else " + ".join(text)


def _fmt_date(value: str | int | Sequence[str], arg: str, variable: Variable | None) -> str:
    try:
        ms = int(value) if isinstance(value, int | str) else int(_js_string(value))
    except ValueError:
        return "NaN"
    kind = arg or "iso"
    if kind == "ms":
        return str(value)
    if kind == "seconds":
        return str(round(ms / 1000))
    if kind == "iso":
        return _iso_ms(datetime.fromtimestamp(ms / 1000, UTC))
    raise MacroError(f"date format {kind!r} is not supported by this expander")


def _percent_encode(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="-_.~")


def _fmt_percentencode(
    value: str | int | Sequence[str], arg: str, variable: Variable | None
) -> str:
    many = _values(value)
    return _percent_encode("{" + ",".join(many) + "}" if many is not None else str(value))


_FORMATS = {
    "csv": _fmt_csv,
    "raw": _fmt_raw,
    "glob": _fmt_glob,
    "pipe": _fmt_pipe,
    "join": _fmt_join,
    "sqlstring": _fmt_sqlstring,
    "singlequote": _fmt_singlequote,
    "doublequote": _fmt_doublequote,
    "text": _fmt_text,
    "date": _fmt_date,
    "percentencode": _fmt_percentencode,
}


# --- 2. the server: global substitutions, then macros -----------------------------------


def _server_globals(sql: str, ctx: QueryContext) -> str:
    """sqleng.Interpolate: plain string replacement, in this order."""
    sql = sql.replace("$__interval_ms", str(int(ctx.interval.total_seconds() * 1000)))
    sql = sql.replace("$__interval", format_interval(ctx.interval))
    sql = sql.replace("$__unixEpochFrom()", str(_unix(ctx.time_from)))
    return sql.replace("$__unixEpochTo()", str(_unix(ctx.time_to)))


def _macros(sql: str, ctx: QueryContext) -> Expansion:
    fills: list[Fill] = []
    out: list[str] = []
    last = 0
    for match in _MACRO.finditer(sql):
        name = match.group(1)
        # macros.go: "$__timeGroup(...)," is the pre-5.3 form that meant AS "time"; it
        # looks at the first occurrence of the same text in the query.
        if name == "__timeGroup":
            first = sql.find(match.group(0)) + len(match.group(0))
            if first < len(sql) and sql[first] == ",":
                name = "__timeGroupAlias"
        args = [a.strip(" ") for a in match.group(2).split(",")]
        out.append(sql[last : match.start()])
        out.append(_macro(name, args, ctx, fills))
        last = match.end()
    out.append(sql[last:])
    return Expansion("".join(out), fills[-1] if fills else None)


def _macro(name: str, args: list[str], ctx: QueryContext, fills: list[Fill]) -> str:
    column = args[0]  # "" when empty: Go's strings.Split never gives zero arguments
    if name in ("__timeGroup", "__timeGroupAlias", "__unixEpochGroup", "__unixEpochGroupAlias"):
        return _group(name, args, ctx, fills)
    if name in ("__timeFrom", "__timeTo"):
        return f"'{rfc3339_nano(ctx.time_from if name == '__timeFrom' else ctx.time_to)}'"
    if name == "__unixEpochNanoFrom":
        return str(_unix_nano(ctx.time_from))
    if name == "__unixEpochNanoTo":
        return str(_unix_nano(ctx.time_to))
    if name not in ("__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter",
                    "__unixEpochNanoFilter"):  # fmt: skip
        raise MacroError(f'unknown macro "{name}"')
    if name == "__time":
        return f'{column} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {column}) as "time"'
    if name == "__timeFilter":
        return f"{column} BETWEEN '{rfc3339_nano(ctx.time_from)}' AND '{rfc3339_nano(ctx.time_to)}'"
    if name == "__unixEpochFilter":
        return f"{column} >= {_unix(ctx.time_from)} AND {column} <= {_unix(ctx.time_to)}"
    return f"{column} >= {_unix_nano(ctx.time_from)} AND {column} <= {_unix_nano(ctx.time_to)}"


def _group(name: str, args: list[str], ctx: QueryContext, fills: list[Fill]) -> str:
    if len(args) < 2:
        raise MacroError(
            f"macro {name.removesuffix('Alias')} needs time column and interval and optional"
            " fill value"
        )
    interval = parse_interval(args[1].strip("'"), ctx.time_to)
    if len(args) == 3:
        fills.append(_fill(interval, args[2]))
    seconds = interval.total_seconds()
    if name.startswith("__unixEpochGroup"):
        expr = f"floor(({args[0]})/{go_float(seconds)})*{go_float(seconds)}"
    elif ctx.timescaledb:
        expr = f"time_bucket('{seconds:.3f}s',{args[0]})"
    else:
        expr = f"floor(extract(epoch from {args[0]})/{go_float(seconds)})*{go_float(seconds)}"
    return expr + ' AS "time"' if name.endswith("Alias") else expr


def _fill(interval: timedelta, mode: str) -> Fill:
    """sqleng.SetupFillmode."""
    if mode == "NULL":
        return Fill(interval, "null")
    if mode == "previous":
        return Fill(interval, "previous")
    try:
        return Fill(interval, "value", float(mode))
    except ValueError:
        raise MacroError(f"error parsing fill value {mode}") from None


# --- Go and JavaScript formatting, as Grafana's code prints --------------------------------


def rfc3339_nano(when: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: fraction without trailing zeros, none if zero."""
    utc = when.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _iso_ms(when: datetime) -> str:
    """JavaScript's Date.toISOString()."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def go_float(value: float) -> str:
    """Go's fmt %v of a float64: shortest digits, exponent form from 1e+06 or below 1e-04."""
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # where the decimal point falls in `text`
    exp10 = point - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def parse_interval(text: str, now: datetime) -> timedelta:
    """gtime.ParseInterval: Go durations, or N followed by d, w, M or y (calendar units
    from `now`; Grafana takes the wall clock, this takes the range's end)."""
    unit = _DATE_UNIT.match(text)
    if unit is None:
        return parse_go_duration(text)
    count, period = int(unit.group(1)), unit.group(2)
    if period in ("d", "w"):
        return timedelta(days=count * (7 if period == "w" else 1))
    start = now.astimezone(UTC)
    months = count if period == "M" else 12 * count
    year, month = divmod(start.month - 1 + months, 12)
    end_year, end_month = start.year + year, month + 1
    day = min(start.day, _days_in_month(end_year, end_month))
    return start.replace(year=end_year, month=end_month, day=day) - start


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def parse_go_duration(text: str) -> timedelta:
    """Go's time.ParseDuration (Grafana's error text when it fails)."""
    body, sign = text, 1
    if body[:1] in "+-" and body:
        sign, body = (-1 if body[0] == "-" else 1), body[1:]
    if body == "0":
        return timedelta(0)
    pos, total = 0, 0.0
    while pos < len(body):
        part = _GO_DURATION.match(body, pos)
        if part is None or part.group(1) in ("", "."):
            raise MacroError(f"error parsing interval {text}")
        total += float(part.group(1)) * _GO_UNITS[part.group(2)]
        pos = part.end()
    if not body:
        raise MacroError(f"error parsing interval {text}")
    return timedelta(microseconds=sign * total / 1000)


def format_interval(interval: timedelta) -> str:
    """gtime.FormatInterval (the server's $__interval)."""
    ms = int(interval.total_seconds() * 1000)
    for unit, size in (("y", 31_536_000_000), ("d", 86_400_000), ("h", 3_600_000),
                       ("m", 60_000), ("s", 1000), ("ms", 1)):  # fmt: skip
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def seconds_to_hms(seconds: float) -> str:
    """rangeutil.secondsToHms (the browser's $__interval): the largest unit only."""
    parts = (
        ("y", math.floor(seconds / 31_536_000)),
        ("d", math.floor(seconds % 31_536_000 / 86_400)),
        ("h", math.floor(seconds % 31_536_000 % 86_400 / 3600)),
        ("m", math.floor(seconds % 31_536_000 % 86_400 % 3600 / 60)),
        ("s", math.floor(seconds % 31_536_000 % 86_400 % 3600 % 60)),
        ("ms", math.floor(seconds * 1000)),
    )
    for unit, count in parts:
        if count:
            return f"{count}{unit}"
    return "less than a millisecond"


# rangeutil.roundInterval: (upper bound in ms, rounded interval in ms).
_ROUND_STEPS = (
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500),
    (1500, 1000), (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000),
    (25000, 20000), (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000),
    (750000, 600000), (1050000, 900000), (1500000, 1200000), (2700000, 1800000),
    (5400000, 3600000), (9000000, 7200000), (16200000, 10800000), (32400000, 21600000),
    (86400000, 43200000), (604800000, 86400000), (1814400000, 604800000),
    (3628800000, 2592000000),
)  # fmt: skip
_INTERVAL_TEXT = re.compile(r"(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])")
_INTERVAL_SECONDS = {"y": 31536000, "M": 2592000, "w": 604800, "d": 86400, "h": 3600,
                     "m": 60, "s": 1, "ms": 0.001}  # fmt: skip


def round_interval(ms: float) -> int:
    for bound, rounded in _ROUND_STEPS:
        if ms < bound:
            return rounded
    return 31_536_000_000


def interval_to_ms(text: str) -> float:
    """rangeutil.describeInterval: '30s', '1m', or a bare number of seconds."""
    try:
        if float(text):
            return int(float(text)) * 1000.0
    except ValueError:
        pass
    match = _INTERVAL_TEXT.search(text)
    if match is None:
        raise ValueError(f"invalid interval {text!r}")
    return _INTERVAL_SECONDS[match.group(2)] * 1000 * int(float(match.group(1)))


def auto_interval(
    time_from: datetime, time_to: datetime, resolution: int, min_interval: str | None = None
) -> timedelta:
    """rangeutil.calculateInterval: the panel's $__interval for its range and width."""
    ms = round_interval((time_to - time_from).total_seconds() * 1000 / max(resolution, 1))
    low = interval_to_ms(min_interval) if min_interval else 1
    return timedelta(milliseconds=max(ms, low))


def _epoch_ms(when: datetime) -> int:
    return int((when - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))


def _unix(when: datetime) -> int:
    return math.floor((when - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())


def _unix_nano(when: datetime) -> int:
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
