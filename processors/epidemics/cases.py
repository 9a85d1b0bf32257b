"""Weekly case reports as the health department sends them: CSV or JSON, row by row.

CSV (UTF-8, a header line, comma-separated; the order of columns is free):

    commune,disease,week,cases
    ag-longxuyen-mybinh,dengue,2026-W27,12

JSON: a list of objects with the same four keys (or `{"rows": [...]}`).

Each row is checked on its own: a bad row is rejected with its reason (it becomes a dead
letter) and the good rows around it are kept, as the telemetry ingest does per item.
Parsing is pure; which communes and diseases exist is passed in.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

COLUMNS = ("commune", "disease", "week", "cases")
MAX_ROWS = 5000  # a province's communes × diseases, several times over
MAX_CASES = 100_000  # a commune's week; more is a typing error
_WEEK = re.compile(r"^(\d{4})-?W(\d{2})$")


class ReportError(ValueError):
    """The body as a whole cannot be read (not CSV/JSON, no header, too many rows)."""


@dataclass(frozen=True)
class CaseRow:
    commune: str
    disease: str
    iso_year: int
    iso_week: int
    cases: int

    @property
    def week(self) -> str:
        return iso_week_text(self.iso_year, self.iso_week)


@dataclass(frozen=True)
class RowProblem:
    index: int  # 0-based data row
    raw: str  # the row as sent, for the dead letter
    reason: str


def iso_week_text(year: int, week: int) -> str:
    return f"{year}-W{week:02d}"


def parse_week(text: str) -> tuple[int, int]:
    """'2026-W27' (or '2026W27') -> (2026, 27); ValueError for a week that does not exist."""
    match = _WEEK.fullmatch(text.strip())
    if not match:
        raise ValueError(f"week {text.strip()[:20]!r} is not an ISO week like 2026-W27")
    year, week = int(match[1]), int(match[2])
    if not 2000 <= year <= 2199:
        raise ValueError(f"week {text.strip()}: year out of range")
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"week {text.strip()}: {year} has no ISO week {week}") from None
    return year, week


def _cases(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("cases must be a whole number")
    if isinstance(value, str):
        value = value.strip()
        if not re.fullmatch(r"\d{1,7}", value):
            raise ValueError(f"cases {value[:20]!r} is not a whole number >= 0")
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise ValueError("cases must be a whole number >= 0")
    if value > MAX_CASES:
        raise ValueError(f"cases {value} is more than {MAX_CASES} in a commune's week")
    return value


def check_row(
    raw: Mapping[str, Any], communes: Collection[str], diseases: Collection[str]
) -> CaseRow:
    missing = [c for c in COLUMNS if raw.get(c) in (None, "")]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    commune, disease = str(raw["commune"]).strip(), str(raw["disease"]).strip().lower()
    if commune not in communes:
        raise ValueError(f"unknown commune {commune[:60]!r}")
    if disease not in diseases:
        raise ValueError(f"unknown disease {disease[:40]!r}; known: {', '.join(sorted(diseases))}")
    year, week = parse_week(str(raw["week"]))
    return CaseRow(commune, disease, year, week, _cases(raw["cases"]))


def _csv_rows(text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        return _read_csv(text)
    except csv.Error as error:  # e.g. a bare carriage return inside an unquoted cell
        raise ReportError(f"not CSV: {error}") from None


def _read_csv(text: str) -> list[tuple[str, dict[str, Any]]]:
    lines = text.splitlines()
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    absent = [c for c in COLUMNS if c not in header]
    if absent:
        raise ReportError(f"the CSV header lacks {', '.join(absent)} (needs {', '.join(COLUMNS)})")
    reader.fieldnames = header
    out = []
    for record in reader:
        if record.get(None):  # more cells than the header names
            out.append((lines[reader.line_num - 1] if reader.line_num <= len(lines) else "", {}))
            continue
        raw = lines[reader.line_num - 1] if reader.line_num <= len(lines) else ""
        out.append((raw, dict(record)))
    return out


def _json_rows(text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(f"not JSON: {error.msg} at line {error.lineno}") from None
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if not isinstance(data, list):
        raise ReportError('expected a JSON list of rows (or {"rows": [...]})')
    return [
        (json.dumps(item, ensure_ascii=False)[:2000], item if isinstance(item, dict) else {})
        for item in data
    ]


def parse_report(
    body: bytes, kind: str, communes: Collection[str], diseases: Collection[str]
) -> tuple[list[CaseRow], list[RowProblem]]:
    """(good rows, rejected rows). `kind` is "csv" or "json". Raises ReportError."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReportError("the body is not UTF-8") from None
    if "\x00" in text:
        raise ReportError("the body holds NUL characters")
    items = _json_rows(text) if kind == "json" else _csv_rows(text)
    if not items:
        raise ReportError("no rows")
    if len(items) > MAX_ROWS:
        raise ReportError(f"{len(items)} rows; at most {MAX_ROWS} in one report")
    return check_rows(items, communes, diseases)


def check_rows(
    items: Iterable[tuple[str, dict[str, Any]]],
    communes: Collection[str],
    diseases: Collection[str],
) -> tuple[list[CaseRow], list[RowProblem]]:
    good: list[CaseRow] = []
    bad: list[RowProblem] = []
    seen: set[tuple[str, str, int, int]] = set()
    for index, (raw, record) in enumerate(items):
        if not record:
            bad.append(RowProblem(index, raw, "not a row of commune, disease, week, cases"))
            continue
        try:
            row = check_row(record, communes, diseases)
        except ValueError as error:
            bad.append(RowProblem(index, raw, str(error)))
            continue
        key = (row.commune, row.disease, row.iso_year, row.iso_week)
        if key in seen:
            bad.append(RowProblem(index, raw, f"{row.commune} {row.disease} {row.week} twice"))
            continue
        seen.add(key)
        good.append(row)
    return good, bad
