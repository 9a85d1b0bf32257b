"""A weekly case report in: rows stored, bad rows dead-lettered, alerts raised, all in
the caller's transaction (the API router's and `ioc epidemics import`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from events.alerts import Signal
from processors.alerts.manager import AlertManager
from processors.environment.engine import RuleBook
from processors.environment.engine.model import WeeklyCasesRule
from store import epidemics as store

from .baseline import Baseline, seasonal_baseline
from .cases import CaseRow, ReportError, RowProblem, parse_report
from .communes import Communes, load_communes
from .evaluate import make_case_signal

FORMAT = "epidemic_cases"


@dataclass
class Rejected:
    index: int
    reason: str
    dead_letter_id: str


@dataclass
class ReportResult:
    received: int
    stored: int
    rejected: list[Rejected] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    # The body could not be read as a report: why, and the dead letter holding all of it.
    unreadable: str | None = None
    dead_letter_id: str | None = None


def cases_rule(book: RuleBook) -> WeeklyCasesRule:
    rules = [r for r in book.of_kind("weekly_cases") if isinstance(r, WeeklyCasesRule)]
    if not rules:
        raise LookupError("no weekly_cases rule in the rule packs (rules/epidemics.yaml)")
    return rules[0]


@dataclass(frozen=True)
class EpidemicsConfig:
    rule: WeeklyCasesRule
    communes: Communes

    @classmethod
    def load(cls, rules_paths: Sequence[str | Path] | None = None) -> EpidemicsConfig:
        return cls(cases_rule(RuleBook.load(rules_paths)), load_communes())


def baseline_for(conn: psycopg.Connection, rule: WeeklyCasesRule, row: CaseRow) -> Baseline | None:
    """A baseline the health department loaded wins; else the one from stored history."""
    loaded = store.loaded_baseline(conn, row.commune, row.disease, row.iso_week)
    if loaded is not None:
        mean, sd, years = loaded
        return Baseline(mean, sd, years, "loaded")
    past = store.history(
        conn, row.commune, row.disease, row.iso_year - rule.years - 1, row.iso_year
    )
    return seasonal_baseline(
        past,
        row.iso_year,
        row.iso_week,
        years=rule.years,
        around=rule.weeks_around,
        min_years=rule.min_years,
    )


def judge_rows(
    conn: psycopg.Connection, config: EpidemicsConfig, rows: Sequence[CaseRow]
) -> list[Signal]:
    """Signals for the newest stored week of each (commune, disease) the rows touched."""
    newest: dict[tuple[str, str], CaseRow] = {}
    for row in rows:
        key = (row.commune, row.disease)
        if key not in newest or (row.iso_year, row.iso_week) > (
            newest[key].iso_year,
            newest[key].iso_week,
        ):
            newest[key] = row
    signals = []
    for (commune_id, disease), row in sorted(newest.items()):
        if store.newest_week(conn, commune_id, disease) != (row.iso_year, row.iso_week):
            continue  # a late older week: today's alert stands
        commune = config.communes.get(commune_id)
        if commune is None:  # pragma: no cover - rows were checked against the communes
            continue
        baseline = baseline_for(conn, config.rule, row)
        signals.append(
            make_case_signal(
                config.rule, commune_id, commune, disease, row.iso_year, row.iso_week,
                row.cases, baseline,
            )
        )  # fmt: skip
    return signals


def receive_report(
    conn: psycopg.Connection,
    body: bytes,
    kind: str,
    *,
    config: EpidemicsConfig,
    manager: AlertManager | None,
    source: str,
    transport: str,
    history: bool = False,
) -> ReportResult:
    """Store a report's good rows, dead-letter its bad ones, raise alerts unless the
    report is `history` (past years loaded for the baselines). A body that cannot be
    read at all is one dead letter (`unreadable` says why) and nothing else."""
    topic = f"{transport}/epidemics/cases"
    try:
        good, bad = parse_report(
            body, kind, config.communes.by_id.keys(), config.rule.diseases.keys()
        )
    except ReportError as error:
        (letter,) = store.insert_dead_letters(
            conn, [(body, str(error))], transport=transport, topic=topic, fmt=FORMAT
        )
        return ReportResult(0, 0, unreadable=str(error), dead_letter_id=letter)
    rejected = _dead_letters(conn, bad, transport, topic)
    stored = store.upsert_cases(
        conn, [(r.commune, r.disease, r.iso_year, r.iso_week, r.cases) for r in good], source
    )
    result = ReportResult(received=len(good) + len(bad), stored=stored, rejected=rejected)
    if not history and good:
        result.signals = judge_rows(conn, config, good)
        if manager is not None:
            manager.apply(conn, result.signals)
    return result


def _dead_letters(
    conn: psycopg.Connection, bad: Sequence[RowProblem], transport: str, topic: str
) -> list[Rejected]:
    letters = [(p.raw.encode("utf-8"), f"row {p.index + 1}: {p.reason}") for p in bad]
    ids = store.insert_dead_letters(conn, letters, transport=transport, topic=topic, fmt=FORMAT)
    return [Rejected(p.index, p.reason, i) for p, i in zip(bad, ids, strict=True)]
