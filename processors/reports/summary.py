"""The report's opening: key figures and the alerts of the period by domain. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from processors.reports import platform, text
from processors.reports.model import Block, KeyFigure, KeyFigures, Section, Table

Rows = Sequence[Mapping[str, Any]]


def key_figures(results: Mapping[str, Rows | None], start: datetime, end: datetime) -> KeyFigures:
    alerts = sum(int(r["alerts"]) for r in results.get("alerts_by_domain") or [])
    warnings = results.get("public_warnings_by_kind")
    sent = "—" if warnings is None else text.integer(sum(int(r["messages"]) for r in warnings))
    episodes = len(results.get("water_episodes") or [])
    shares = platform.completeness(results.get("completeness") or [], start, end)
    mean = sum(s for _, s in shares) / len(shares) if shares else None
    letters = next(
        (r["records"] for r in results.get("ingest_totals") or [] if r["kind"] == "dead_letters"),
        0,
    )
    return KeyFigures(
        [
            KeyFigure(text.integer(alerts), "cảnh báo phát sinh", "alerts_by_domain"),
            KeyFigure(sent, "bản tin cảnh báo công khai", "public_warnings_by_kind"),
            KeyFigure(str(episodes), "đợt lũ, xâm nhập mặn", "water_episodes"),
            KeyFigure(
                "—" if mean is None else f"{text.number(100 * mean)} %",
                "số liệu đầy đủ (bình quân)",
                "completeness",
            ),
            KeyFigure(text.integer(letters), "bản tin lỗi", "ingest_totals"),
        ]
    )


def domain_table(rows: Rows) -> Block:
    if not rows:
        return "Không phát sinh cảnh báo nào trong kỳ."
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for r in rows:
        counts[(r["domain"], int(r["severity"]))] += int(r["alerts"])
    domains = sorted({d for d, _ in counts}, key=lambda d: text.DOMAIN_VI.get(d, d))
    levels = sorted({s for _, s in counts})
    return Table(
        "Cảnh báo phát sinh trong kỳ theo lĩnh vực và mức độ cao nhất",
        ["Lĩnh vực", *[text.severity(s) for s in levels], "Tổng"],
        [
            [
                text.DOMAIN_VI.get(d, d),
                *[counts[(d, s)] for s in levels],
                sum(counts[(d, s)] for s in levels),
            ]
            for d in domains
        ],
        "alerts_by_domain",
        numeric=frozenset(range(1, len(levels) + 2)),
    )


def section(results: Mapping[str, Rows | None], start: datetime, end: datetime) -> Section:
    return Section(
        "summary",
        "Tóm tắt",
        [key_figures(results, start, end), domain_table(results.get("alerts_by_domain") or [])],
    )
