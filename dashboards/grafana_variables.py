"""A dashboard's template variables resolved as Grafana resolves them, for tests and tools.

Query variables run their SQL (itself expanded, with the variables above them) through
the caller's `run_sql`, turned into options as the SQL data source's ResponseParser does
(``__text``/``__value`` columns, else every value of every column, unique by text);
custom, constant, textbox and interval variables come from their JSON. Then a Choice
picks the values a user would: the first option, the first two (multi-value) or All.

Hand-written for the same reason as grafana_sql: no library evaluates a dashboard's
variables outside Grafana.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from dashboards.grafana_sql import ALL_VALUE, QueryContext, Variable, expand

# (column names, rows) of a query's result.
Result = tuple[Sequence[str], Sequence[Sequence[Any]]]
RunSql = Callable[[str], Result]
# Grafana's custom variable syntax: "a,b" or "text : value" items, "\," inside a value.
_CUSTOM_ITEM = re.compile(r"(?:\\,|[^,])+")
_CUSTOM_PAIR = re.compile(r"^\s*(.+?)\s+:\s+(.+?)\s*$")
_REGEX_LITERAL = re.compile(r"^/(.*)/([gimsuy]*)$", re.DOTALL)


class Choice(Enum):
    FIRST = "first"  # one value: the first option
    MULTI = "multi"  # the first two options where the variable is multi-value
    ALL = "all"  # All where the variable has it


@dataclass(frozen=True)
class Option:
    text: str
    value: str


class VariableError(ValueError):
    pass


def resolve(
    dashboard: Mapping[str, Any],
    base: QueryContext,
    choice: Choice,
    run_sql: RunSql,
    start: int | Mapping[str, int] = 0,
) -> QueryContext:
    """`base` with the dashboard's variables set as `choice` says, in dashboard order
    (a variable may use the ones above it, as in Grafana). `start` shifts the pick to
    later options (clamped to the last), to try other single values: one shift for every
    variable, or one per variable name (0 for those not named)."""
    ctx = base
    for raw in dashboard.get("templating", {}).get("list", []):
        variable = _resolve_one(raw, ctx, choice, run_sql, start)
        if variable is not None:
            ctx = replace(ctx, variables={**ctx.variables, variable.name: variable})
    return ctx


def options(raw: Mapping[str, Any], ctx: QueryContext, run_sql: RunSql) -> list[Option]:
    kind = raw.get("type", "query")
    if kind == "query":
        found = _query_options(_query_text(raw), ctx, run_sql)
    elif kind == "custom":
        found = _custom_options(str(raw.get("query", "")))
    elif kind == "interval":
        found = [Option(t.strip(), t.strip()) for t in str(raw.get("query", "")).split(",")]
    elif kind in ("constant", "textbox"):
        value = str(raw.get("query", ""))
        found = [Option(value, value)]
    else:
        raise VariableError(f"variable {raw.get('name')}: type {kind!r} is not supported")
    return _sorted(_filter(found, raw.get("regex") or ""), int(raw.get("sort") or 0))


def _resolve_one(
    raw: Mapping[str, Any],
    ctx: QueryContext,
    choice: Choice,
    run_sql: RunSql,
    start: int | Mapping[str, int],
) -> Variable | None:
    kind = raw.get("type", "query")
    if kind in ("datasource", "adhoc", "groupby"):
        return None  # nothing a SQL text refers to
    name = raw["name"]
    if not isinstance(start, int):
        start = start.get(name, 0)
    found = options(raw, ctx, run_sql)
    if not found:
        raise VariableError(f"variable {name}: no options")
    multi, include_all = bool(raw.get("multi")), bool(raw.get("includeAll"))
    values = tuple(o.value for o in found)
    common: dict[str, Any] = {"options": values, "multi": multi, "include_all": include_all,
                              "all_value": raw.get("allValue") or None}  # fmt: skip
    if choice is Choice.ALL and include_all:
        return Variable(name, [ALL_VALUE] if multi else ALL_VALUE, text="All", **common)
    first = min(start, len(found) - 1)
    picked = found[first : first + (2 if choice is Choice.MULTI and multi else 1)]
    if multi:
        return Variable(name, [o.value for o in picked], text=[o.text for o in picked], **common)
    return Variable(name, picked[0].value, text=picked[0].text, **common)


def _query_text(raw: Mapping[str, Any]) -> str:
    query = raw.get("query")
    if isinstance(query, Mapping):
        query = query.get("rawSql") or query.get("query")
    text = query or raw.get("definition")
    if not isinstance(text, str) or not text.strip():
        raise VariableError(f"variable {raw.get('name')}: no query")
    return text


def _query_options(sql: str, ctx: QueryContext, run_sql: RunSql) -> list[Option]:
    """metricFindQuery + ResponseParser.transformMetricFindResponse."""
    columns, rows = run_sql(expand(sql, ctx))
    names = list(columns)
    if "__text" in names and "__value" in names:
        t, v = names.index("__text"), names.index("__value")
        found = [Option(_text(row[t]), _text(row[v])) for row in rows]
    else:
        found = [Option(_text(row[i]), _text(row[i])) for i in range(len(names)) for row in rows]
    unique: dict[str, Option] = {}
    for option in found:
        unique.setdefault(option.text, option)
    return list(unique.values())


def _text(value: Any) -> str:
    # JavaScript's '' + value: null prints as a word, booleans in lower case.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _custom_options(query: str) -> list[Option]:
    found = []
    for item in _CUSTOM_ITEM.findall(query):
        item = item.replace("\\,", ",").strip()
        if not item:
            continue
        pair = _CUSTOM_PAIR.match(item)
        found.append(Option(pair.group(1), pair.group(2)) if pair else Option(item, item))
    return found


def _sorted(found: list[Option], sort: int) -> list[Option]:
    """The variable's sort: 0 query order; 1/2 alphabetical, 3/4 numerical, 5/6
    alphabetical ignoring case, 7/8 natural (ascending/descending)."""
    if sort == 0:
        return found
    keys: dict[int, Callable[[Option], Any]] = {
        1: lambda o: o.text,
        3: lambda o: _number(o.text),
        5: lambda o: o.text.lower(),
        7: lambda o: [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", o.text)],
    }
    key = keys.get(sort - (sort % 2 == 0))
    if key is None:
        raise VariableError(f"sort {sort} is not supported")
    return sorted(found, key=key, reverse=sort % 2 == 0)


def _number(text: str) -> float:
    match = re.search(r"-?\d+(?:\.\d+)?", text)
    return float(match.group(0)) if match else float("-inf")


def _filter(found: list[Option], regex: str) -> list[Option]:
    """The variable's regex: keep matching texts; a capture group becomes the text
    (named groups `text` and `value` set each)."""
    if not regex:
        return found
    literal = _REGEX_LITERAL.match(regex)
    pattern = re.compile(
        literal.group(1) if literal else regex,
        re.IGNORECASE if literal and "i" in literal.group(2) else 0,
    )
    kept = []
    for option in found:
        match = pattern.search(option.text)
        if match is None:
            continue
        groups = match.groupdict()
        if groups.get("text") or groups.get("value"):
            text = groups.get("text") or groups.get("value") or option.text
            kept.append(Option(text, groups.get("value") or text))
        elif match.groups():
            kept.append(Option(match.group(1), match.group(1)))
        else:
            kept.append(option)
    return kept
