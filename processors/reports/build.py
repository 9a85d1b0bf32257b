"""Build a report: the queries (store/reports.py) → the sections → HTML → PDF, and the
archive row. Everything but the queries and the archive is pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from config.agencies import Inventory
from processors.reports import cameras, environment, platform, security, summary, warnings
from processors.reports.charts import render_svg
from processors.reports.config import ReportsConfig
from processors.reports.html import Letterhead, render
from processors.reports.model import Chart, Section
from processors.reports.pdf import to_pdf
from processors.reports.period import Period
from processors.reports.security import Network, SecurityConfig
from store import reports as report_store

Results = Mapping[str, Sequence[Mapping[str, Any]] | None]


@dataclass(frozen=True)
class BuiltReport:
    period: Period
    built_at: datetime
    html: str
    pdf: bytes
    figures: dict[str, Any]


def sections(
    results: Results, period: Period, agencies: Inventory, home_net: Sequence[Network]
) -> list[Section]:
    window = period.window()
    return [
        environment.section(results, period.days),
        warnings.section(results),
        security.section(results, agencies, home_net),
        cameras.section(results),
        platform.section(results, window.start, window.end, hourly=period.kind == "day"),
    ]


def compose(
    results: Results,
    period: Period,
    config: ReportsConfig,
    agencies: Inventory,
    home_net: Sequence[Network],
    built: datetime,
    draw: Callable[[Chart], str] = render_svg,
) -> str:
    window = period.window()
    return render(
        heading=Letterhead(
            config.parent_vi, config.organisation_vi, config.place_vi, config.recipient_vi
        ),
        period_title=period.title_vi,
        summary=summary.section(results, window.start, window.end),
        sections=sections(results, period, agencies, home_net),
        row_counts={k: None if v is None else len(v) for k, v in results.items()},
        built=built,
        draw=draw,
    )


def figures(results: Results, period: Period) -> dict[str, Any]:
    """What the archive keeps beside the PDF: the period and every query's rows."""
    return {
        "period": period.kind,
        "first_day": period.first.isoformat(),
        "end_day": period.end.isoformat(),
        "queries": {k: None if v is None else [dict(r) for r in v] for k, v in results.items()},
    }


def build(
    conn: psycopg.Connection,
    period: Period,
    config: ReportsConfig,
    now: datetime,
    security_config: SecurityConfig,
) -> BuiltReport:
    """`security_config`: `security.load_security` of the settings' site and agencies
    files."""
    results = report_store.run_all(conn, period.window())
    html = compose(results, period, config, security_config.agencies, security_config.home_net, now)
    return BuiltReport(period, now, html, to_pdf(html), figures(results, period))


def archive(conn: psycopg.Connection, report: BuiltReport) -> int:
    return report_store.save(
        conn,
        period=report.period.kind,
        period_start=report.period.first,
        period_end=report.period.end,
        pdf=report.pdf,
        html=report.html,
        figures=report.figures,
    )
