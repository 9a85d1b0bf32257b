"""Epidemics: report parsing (CSV/JSON, bad rows with reasons), seasonal baseline maths
and the epidemic.cases rule's verdicts and signals."""

from __future__ import annotations

import json
import statistics

import pytest

from events.alerts import Domain, Severity, SignalState
from processors.epidemics.baseline import parse_baselines, same_weeks, seasonal_baseline
from processors.epidemics.cases import ReportError, parse_report, parse_week
from processors.epidemics.communes import load_communes
from processors.epidemics.evaluate import judge, make_case_signal, week_start
from processors.epidemics.service import EpidemicsConfig

CONFIG = EpidemicsConfig.load()
RULE = CONFIG.rule
COMMUNES = CONFIG.communes.by_id.keys()
DISEASES = RULE.diseases.keys()
MY_BINH = "ag-longxuyen-mybinh"


def parse(text: str, kind: str = "csv"):  # type: ignore[no-untyped-def]
    return parse_report(text.encode(), kind, COMMUNES, DISEASES)


# ---- parsing ----------------------------------------------------------------------------


def test_csv_rows_are_read_whatever_the_column_order_and_bad_rows_say_why() -> None:
    good, bad = parse(
        "week,commune,disease,cases\n"
        f"2026-W27,{MY_BINH},dengue,12\n"
        f"2026-W27,{MY_BINH},HFMD,3\n"
        "2026-W27,nowhere,dengue,1\n"
        f"2026-W54,{MY_BINH},dengue,1\n"
        f"2026-W27,{MY_BINH},cholera,1\n"
        f"2026-W27,{MY_BINH},dengue,-4\n"
        f"2026-W27,{MY_BINH}\n"
        f"2026-W27,{MY_BINH},dengue,5\n"
        f"2026-W28,{MY_BINH},dengue,1,extra\n"
    )
    assert [(r.commune, r.disease, r.week, r.cases) for r in good] == [
        (MY_BINH, "dengue", "2026-W27", 12),
        (MY_BINH, "hfmd", "2026-W27", 3),
    ]
    reasons = {p.index: p.reason for p in bad}
    assert "unknown commune 'nowhere'" in reasons[2]
    assert "2026 has no ISO week 54" in reasons[3]
    assert "unknown disease 'cholera'" in reasons[4]
    assert "not a whole number" in reasons[5]
    assert "missing disease, cases" in reasons[6]
    assert "twice" in reasons[7]
    assert "not a row" in reasons[8]
    assert bad[0].raw == "2026-W27,nowhere,dengue,1"


def test_json_reports_take_a_list_or_rows_and_check_each_item() -> None:
    rows = [
        {"commune": MY_BINH, "disease": "dengue", "week": "2026W27", "cases": 4},
        {"commune": MY_BINH, "disease": "dengue", "week": "2026-W28", "cases": 2.5},
        "not an object",
        {"commune": MY_BINH, "disease": "dengue", "week": "2026-W29", "cases": True},
    ]
    good, bad = parse(json.dumps({"rows": rows}), "json")
    assert [(r.week, r.cases) for r in good] == [("2026-W27", 4)]
    assert [p.index for p in bad] == [1, 2, 3]


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        (b"commune;disease;week;cases\n", "csv", "header lacks"),
        (b"commune,disease,week,cases\n", "csv", "no rows"),
        (b"\xff\xfe\x00", "csv", "not UTF-8"),
        (b'{"rows": 3}', "json", "expected a JSON list"),
        (b"[1, 2", "json", "not JSON"),
        # Found by schemathesis: a bare carriage return in an unquoted cell was a 500.
        ("ú¸\x1f\xf2\r\x182in".encode(), "csv", "not CSV"),
    ],
)
def test_unreadable_bodies_are_refused_as_a_whole(body: bytes, kind: str, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        parse_report(body, kind, COMMUNES, DISEASES)


def test_iso_weeks() -> None:
    assert parse_week("2026-W01") == (2026, 1)
    assert parse_week("2020-W53") == (2020, 53)  # 2020 had 53 ISO weeks
    for bad in ("2026-W00", "2026-27", "W27", "1999-W10"):
        with pytest.raises(ValueError):
            parse_week(bad)
    # Monday 00:00 in Vietnam is Sunday 17:00 UTC.
    assert week_start(2026, 27).isoformat() == "2026-06-28T17:00:00+00:00"


# ---- baselines --------------------------------------------------------------------------


def test_baseline_pools_the_same_weeks_of_past_years() -> None:
    history = {(y, w): float(y - 2000 + w) for y in range(2019, 2026) for w in range(1, 53)}
    base = seasonal_baseline(history, 2026, 27, years=5, around=1, min_years=3)
    assert base is not None and base.years == 5 and base.source == "history"
    pooled = [float(y - 2000 + w) for y in range(2021, 2026) for w in (26, 27, 28)]
    assert base.mean == pytest.approx(statistics.fmean(pooled))
    assert base.sd == pytest.approx(statistics.stdev(pooled))
    assert base.line(2) == pytest.approx(base.mean + 2 * base.sd)


def test_baseline_needs_enough_years_and_crosses_the_new_year() -> None:
    history = {(2024, 1): 3.0, (2025, 1): 5.0}
    assert seasonal_baseline(history, 2026, 1, years=5, around=0, min_years=3) is None
    base = seasonal_baseline(history, 2026, 1, years=5, around=0, min_years=2)
    assert base is not None and (base.mean, base.years) == (4.0, 2)
    # Week 1 ± 1 of 2025 reaches back into 2024's last week.
    assert same_weeks(2026, 1, 2025, 1) == [(2024, 52), (2025, 1), (2025, 2)]
    # Week 53 asked of a year with 52 weeks takes its week 52.
    assert same_weeks(2026, 53, 2025, 0) == [(2025, 52)]


def test_baselines_file_rows_are_checked() -> None:
    rows, problems = parse_baselines(
        [
            {
                "commune": MY_BINH,
                "disease": "dengue",
                "week": "27",
                "mean": "4.2",
                "sd": "1.5",
                "years": "5",
            },
            {
                "commune": MY_BINH,
                "disease": "dengue",
                "week": "60",
                "mean": "1",
                "sd": "1",
                "years": "5",
            },
            {
                "commune": MY_BINH,
                "disease": "dengue",
                "week": "2",
                "mean": "nan",
                "sd": "1",
                "years": "5",
            },
        ],
        COMMUNES,
        DISEASES,
    )
    assert rows == [(MY_BINH, "dengue", 27, 4.2, 1.5, 5)]
    assert [p.split(":")[0] for p in problems] == ["row 2", "row 3"]


# ---- the rule ---------------------------------------------------------------------------


def _baseline(mean: float, sd: float):  # type: ignore[no-untyped-def]
    history = {
        (y, 27): v
        for y, v in zip(range(2021, 2026), [mean - sd, mean, mean + sd, mean, mean], strict=True)
    }
    return seasonal_baseline(history, 2026, 27, years=5, around=0, min_years=3)


def test_verdicts_on_baseline_and_fixed_lines() -> None:
    base = _baseline(3.0, 1.0)  # values 2,3,4,3,3: mean 3, sd 0.707
    assert base is not None
    assert judge(RULE, "dengue", 3, base).step is None  # not above mean + sd
    watch = judge(RULE, "dengue", 4, base)  # 4 > 3.71
    assert watch.step is not None and watch.step.key == "watch" and watch.measure == "baseline"
    warn = judge(RULE, "dengue", 5, base)  # 5 > 4.41
    assert warn.step is not None and warn.step.key == "warning"
    # No baseline: only the fixed lines (dengue watch 5, warning 10).
    assert judge(RULE, "dengue", 4, None).step is None
    fixed = judge(RULE, "dengue", 10, None)
    assert fixed.step is not None and fixed.step.key == "warning" and fixed.measure == "fixed"
    # A quiet commune (mean 0, sd 0): two cases are not an outbreak (min_cases 3).
    quiet = _baseline(0.0, 0.0)
    assert judge(RULE, "dengue", 2, quiet).step is None
    assert judge(RULE, "dengue", 3, quiet).step.key == "warning"  # type: ignore[union-attr]


def test_signal_carries_the_contract_labels_and_values() -> None:
    commune = load_communes().get(MY_BINH)
    assert commune is not None
    base = _baseline(3.0, 1.0)
    signal = make_case_signal(RULE, MY_BINH, commune, "dengue", 2026, 27, 12, base)
    assert signal.rule == "epidemic.cases" and signal.domain is Domain.EPIDEMICS
    assert signal.state is SignalState.FIRING and signal.severity is Severity.HIGH
    assert dict(signal.labels) == {
        "commune": "phường Mỹ Bình", "district": "Long Xuyên", "province": "An Giang",
        "disease": "dengue",
    }  # fmt: skip
    v = signal.values
    assert (v["cases"], v["week"], v["level"], v["measure"]) == (
        12,
        "2026-W27",
        "warning",
        "baseline",
    )
    assert v["baseline"] == pytest.approx(3.0 + 2 * 0.7071, abs=0.01)
    assert v["threshold"] == pytest.approx(v["baseline"], abs=0.01)
    assert (v["disease_vi"], v["disease_en"]) == ("sốt xuất huyết Dengue", "dengue fever")
    assert (v["lat"], v["lon"]) == (10.386, 105.435)
    assert "phun hóa chất diệt muỗi" in v["action_vi"] and "spray" in v["action_en"]
    assert signal.title_vi == (
        "sốt xuất huyết Dengue vượt mức cảnh báo tại phường Mỹ Bình (Long Xuyên, An Giang)"
        " tuần 2026-W27"
    )
    assert "12 ca; vượt mức nền theo mùa 4,4 ca" in signal.summary_vi
    quiet = make_case_signal(RULE, MY_BINH, commune, "dengue", 2026, 28, 1, base)
    assert quiet.state is SignalState.RESOLVED and quiet.values["level"] is None
    assert quiet.fingerprint == signal.fingerprint  # one alert per commune and disease


# ---- the simulated health department -----------------------------------------------------


def test_simulated_counts_follow_the_seasons_and_repeat() -> None:
    from datetime import date

    from simulators.case_reports import (
        poisson,
        report_csv,
        report_rows,
        seasonal_mean,
        week_count,
        weeks_before,
    )

    assert seasonal_mean("dengue", 36) == pytest.approx(3.0)
    assert seasonal_mean("dengue", 10) < 0.7 < seasonal_mean("dengue", 32)
    assert seasonal_mean("hfmd", 42) > seasonal_mean("hfmd", 28)
    draws = [poisson(2.0, i / 2000 + 0.00025) for i in range(2000)]
    assert statistics.fmean(draws) == pytest.approx(2.0, abs=0.05)
    assert week_count(MY_BINH, "dengue", 2026, 36, 7) == week_count(MY_BINH, "dengue", 2026, 36, 7)
    assert weeks_before(date(2026, 1, 7), 2) == [(2025, 52), (2026, 1)]
    body = report_csv(report_rows([MY_BINH], ["dengue", "hfmd"], [(2026, 36)], seed=7))
    good, bad = parse(body.decode())
    assert not bad and [(r.disease, r.week) for r in good] == [
        ("dengue", "2026-W36"),
        ("hfmd", "2026-W36"),
    ]
