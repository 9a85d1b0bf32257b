"""What a section hands the renderer: paragraphs, tables and charts, each figure naming
the store/reports.py query it was drawn from. Plain data, no rendering here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    query: str
    # Columns (by index) right-aligned: numbers.
    numeric: frozenset[int] = frozenset()
    note: str = ""
    # Columns (by index) kept on one line: short words a break would split.
    nowrap: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]
    colour: str | None = None


@dataclass(frozen=True)
class Chart:
    """A bar chart (stacked when it has several series) or a line over categories."""

    title: str
    categories: Sequence[str]
    series: Sequence[Series]
    query: str
    kind: Literal["bar", "barh", "line"] = "bar"
    unit: str = ""
    # A horizontal reference line (a threshold), drawn dashed with its label.
    reference: tuple[float, str] | None = None


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class KeyFigure:
    value: str
    label: str
    query: str


@dataclass(frozen=True)
class KeyFigures:
    items: Sequence[KeyFigure]


Block = Table | Chart | Heading | KeyFigures | str  # a str is a paragraph


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    blocks: Sequence[Block] = field(default_factory=tuple)
    # Shown instead of the blocks when the section has nothing to say.
    empty: str | None = None

    @property
    def queries(self) -> list[str]:
        names = [b.query for b in self.blocks if isinstance(b, Table | Chart)]
        for block in self.blocks:
            if isinstance(block, KeyFigures):
                names += [item.query for item in block.items]
        return names
