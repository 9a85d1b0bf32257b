"""A commune's week against the epidemic.* rule: pure, (rule, week, baseline) -> Signal.

The alert is one per commune and disease (labels commune, district, province, disease);
each new week fires with its level (the manager updates, escalates or de-escalates the
open alert) or resolves it when no level holds. No detector state: the stored weeks and
the open alert are the state, and only the newest week of a commune and disease is judged
(an older week sent late must not reopen or close today's alert).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from config.timezone import LOCAL_TZ
from events.alerts import Signal, SignalState
from processors.environment.engine.model import CaseStep, WeeklyCasesRule
from processors.environment.engine.text import make_signal

from .baseline import Baseline
from .cases import iso_week_text
from .communes import Commune


@dataclass(frozen=True)
class Verdict:
    step: CaseStep | None
    line: float | None
    measure: str  # "baseline" | "fixed" | ""


def week_start(year: int, week: int) -> datetime:
    """Monday 00:00 local time of an ISO week: the signal's event time (the week's end
    would lie in the future for a week reported before it is over)."""
    monday = date.fromisocalendar(year, week, 1)
    return datetime.combine(monday, time(0), LOCAL_TZ).astimezone(UTC)


def judge(rule: WeeklyCasesRule, disease: str, cases: int, baseline: Baseline | None) -> Verdict:
    """The worst step that holds: above the baseline line (and at least min_cases), or at
    or above the disease's fixed line for that step."""
    fixed = rule.diseases[disease].cases
    found = Verdict(None, None, "")
    for step in rule.steps:
        if baseline is not None and cases >= step.min_cases and cases > baseline.line(step.k):
            found = Verdict(step, baseline.line(step.k), "baseline")
        elif step.key in fixed and cases >= fixed[step.key]:
            found = Verdict(step, fixed[step.key], "fixed")
    return found


def _measure_text(verdict: Verdict, baseline: Baseline | None, cases: int) -> tuple[str, str]:
    if verdict.step is None:
        return "", ""
    line = verdict.line or 0.0
    if verdict.measure == "baseline" and baseline is not None:
        return (
            f"vượt mức nền theo mùa {line:.1f} ca (trung bình {baseline.mean:.1f}"
            f" + {verdict.step.k:g} × độ lệch chuẩn {baseline.sd:.1f}, cùng kỳ"
            f" {baseline.years} năm trước)".replace(".", ","),
            f"above the seasonal baseline of {line:.1f} (mean {baseline.mean:.1f}"
            f" + {verdict.step.k:g} × sd {baseline.sd:.1f}, same weeks of {baseline.years}"
            " past years)",
        )
    return (f"từ ngưỡng {line:g} ca/tuần trở lên", f"at or above the fixed line of {line:g} a week")


def make_case_signal(
    rule: WeeklyCasesRule,
    commune_id: str,
    commune: Commune,
    disease: str,
    year: int,
    week: int,
    cases: int,
    baseline: Baseline | None,
) -> Signal:
    verdict = judge(rule, disease, cases, baseline)
    item = rule.diseases[disease]
    step = verdict.step
    key = step.key if step else rule.steps[0].key
    warn_k = rule.steps[-1].k
    measure_vi, measure_en = _measure_text(verdict, baseline, cases)
    week_text = iso_week_text(year, week)
    context = {
        "level": step.key if step else None,
        "level_vi": step.vi if step else rule.steps[0].vi,
        "level_en": step.en if step else rule.steps[0].en,
        "action_vi": item.action_vi.get(key, ""),
        "action_en": item.action_en.get(key, ""),
        "threshold": verdict.line if verdict.line is not None else 0.0,
        "cases": cases,
        "week": week_text,
        "baseline": baseline.line(step.k if step else warn_k) if baseline else 0.0,
        "mean": baseline.mean if baseline else 0.0,
        "sd": baseline.sd if baseline else 0.0,
        "k": step.k if step else warn_k,
        "measure_vi": measure_vi,
        "measure_en": measure_en,
        "disease_vi": item.vi,
        "disease_en": item.en,
        "commune": commune.name,
        "district": commune.district,
        "province": commune.province,
    }
    labels = {
        "commune": commune.name,
        "district": commune.district,
        "province": commune.province,
        "disease": disease,
    }
    values = {
        "cases": cases,
        "week": week_text,
        "baseline": round(baseline.line(step.k if step else warn_k), 2) if baseline else None,
        "baseline_mean": round(baseline.mean, 2) if baseline else None,
        "baseline_sd": round(baseline.sd, 2) if baseline else None,
        "baseline_years": baseline.years if baseline else None,
        "baseline_source": baseline.source if baseline else None,
        "k": step.k if step else warn_k,
        "threshold": verdict.line,
        "measure": verdict.measure or None,
        "level": step.key if step else None,
        "disease_vi": item.vi,
        "disease_en": item.en,
        "commune_id": commune_id,
        "lat": commune.lat,
        "lon": commune.lon,
        "action_vi": context["action_vi"] if step else "",
        "action_en": context["action_en"] if step else "",
    }
    return make_signal(
        rule,
        state=SignalState.FIRING if step else SignalState.RESOLVED,
        severity=step.severity if step else rule.steps[0].severity,
        at=week_start(year, week),
        labels=labels,
        context=context,
        values=values,
    )
