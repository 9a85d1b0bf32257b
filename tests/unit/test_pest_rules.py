"""pest.light_trap (night_count rules): night counts and the 3-night mean against the
area's lines, per species; batches split anywhere give the same signals."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from events.alerts import Domain, Severity, Signal, SignalState
from events.models import Measurement
from processors.detector import State
from processors.environment.detector import EnvironmentDetector
from processors.environment.engine import RuleBook, RuleErrors

BOOK = RuleBook.load()
BPH = "insect_count_brown_planthopper"
THOAI_SON = "ag-thoaison-lt01"  # brown planthopper: night 800/2500, mean 500/1500
TRI_TON = "ag-triton-lt01"  # An Giang's lines: night 1000/3000, mean 700/2000
# Dawn 06:00 in Vietnam (UTC+7): the trap is emptied and read.
DAWN = datetime(2026, 6, 1, 23, 0, tzinfo=UTC)


def nights(device: str, counts: Sequence[float], metric: str = BPH) -> list[Measurement]:
    return [
        Measurement(time=DAWN + timedelta(days=i), device_id=device, metric=metric, value=v)
        for i, v in enumerate(counts)
    ]


def run(batches: Sequence[Sequence[Measurement]]) -> list[Signal]:
    detector = EnvironmentDetector(BOOK)
    states: dict[str, State] = {}
    signals: list[Signal] = []
    for batch in batches:
        keys = detector.keys(batch)
        loaded = {k: json.loads(json.dumps(states[k])) for k in keys if k in states}
        outcome = detector.process(loaded, batch)
        for key, state in outcome.states.items():
            if state is None:
                states.pop(key, None)
            else:
                states[key] = json.loads(json.dumps(state))
        signals += outcome.signals
    return signals


def test_a_night_over_the_warning_line_fires_a_warning_with_the_contract_fields() -> None:
    (signal,) = run([nights(TRI_TON, [3500])])
    assert signal.rule == "pest.light_trap" and signal.domain is Domain.PESTS
    assert signal.state is SignalState.FIRING and signal.severity is Severity.HIGH
    assert dict(signal.labels) == {
        "device_id": TRI_TON,
        "species": "brown_planthopper",
        "province": "An Giang",
        "district": "Tri Tôn",
    }
    v = signal.values
    assert (v["count"], v["mean_3n"], v["threshold"], v["level"]) == (3500, 3500, 3000, "warning")
    assert (v["species_vi"], v["species_en"]) == ("rầy nâu", "brown planthopper")
    assert "gieo sạ né" in v["action_vi"] and "sown after it" in v["action_en"]
    assert signal.title_vi.startswith("rầy nâu vào đèn vượt mức cảnh báo tại Bẫy đèn Tri Tôn")
    assert "3.500 con" in signal.summary_vi and "3,500" in signal.summary_en


def test_the_three_night_mean_fires_when_no_single_night_does() -> None:
    # 900, 650, 800: no night reaches 1000 (watch), their mean 783 passes 700; before,
    # (400, 900) = 650 and (400, 900, 650) = 650 do not.
    signals = run([nights(TRI_TON, [400, 900, 650, 800])])
    (signal,) = signals
    assert signal.values["level"] == "watch" and signal.values["threshold"] == 700
    assert signal.values["mean_3n"] == pytest.approx(783.33, abs=0.01)
    assert signal.values["measure"] == "mean"
    assert "trung bình 3 đêm" in signal.summary_vi


def test_district_lines_override_the_province_and_species_keep_their_own() -> None:
    # One night of 900 is a watch at Thoại Sơn (800) and nothing at Tri Tôn (1000).
    assert [s.labels["device_id"] for s in run([nights(THOAI_SON, [900])])] == [THOAI_SON]
    assert run([nights(TRI_TON, [900])]) == []
    # 900 leaffolders is a watch (300) at Tri Tôn.
    (leaf,) = run([nights(TRI_TON, [900], "insect_count_rice_leaffolder")])
    assert leaf.labels["species"] == "rice_leaffolder" and leaf.values["level"] == "watch"


def test_surge_escalates_then_resolves_when_night_and_mean_fall() -> None:
    counts = [200, 1200, 4000, 2600, 900, 300, 100, 80]
    signals = run([nights(TRI_TON, counts)])
    assert [(s.state, s.values["level"], s.values["count"]) for s in signals] == [
        (SignalState.FIRING, "watch", 1200),  # 1200 >= 1000
        (SignalState.FIRING, "warning", 4000),  # 4000 >= 3000
        (SignalState.FIRING, "warning", 2600),  # mean 2600 >= 2000: the numbers updated
        (SignalState.FIRING, "warning", 900),  # mean (4000+2600+900)/3 = 2500
        (SignalState.FIRING, "watch", 300),  # mean (2600+900+300)/3 = 1267
        (SignalState.RESOLVED, None, 100),  # mean 433 < 700
    ]
    assert [s.severity for s in signals[:5]] == [Severity.MEDIUM, *[Severity.HIGH] * 3,
                                                 Severity.MEDIUM]  # fmt: skip


def test_missing_nights_are_left_out_of_the_mean_not_counted_as_zero() -> None:
    readings = nights(TRI_TON, [650, 750])
    readings[1] = readings[1].model_copy(update={"time": DAWN + timedelta(days=2)})
    # Nights 0 and 2 (night 1 not reported): mean (650 + 750) / 2 = 700 reaches the
    # watch line; with the missing night as 0 it would be 467.
    (signal,) = run([readings])
    assert signal.values["nights"] == 2 and signal.values["mean_3n"] == 700
    # A night more than 3 nights back is out of the window: a single night, no mean.
    late = readings[1].model_copy(update={"time": DAWN + timedelta(days=3)})
    assert run([[readings[0], late]]) == []


def test_batches_split_anywhere_give_the_same_signals_and_repeats_are_ignored() -> None:
    counts = [200, 1200, 4000, 2600, 900, 300, 100]
    whole = run([nights(TRI_TON, counts)])
    readings = nights(TRI_TON, counts)
    for cut in range(1, len(readings)):
        split = run([readings[:cut], readings[cut - 1 :]])  # the cut night sent twice
        assert [(s.state, s.values) for s in split] == [(s.state, s.values) for s in whole]


def test_a_trap_without_lines_gets_no_alert() -> None:
    assert run([nights("unknown-lt99", [100000])]) == []


def test_thresholds_table_problems_are_reported_at_their_line(tmp_path: Path) -> None:
    rules = Path(__file__).resolve().parents[2] / "processors/environment/rules/pests.yaml"
    table = rules.parent.parent / "pest_traps.yaml"
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules/pests.yaml").write_text(rules.read_text(encoding="utf-8"), "utf-8")
    text = table.read_text(encoding="utf-8").replace(
        "rice_leaffolder: {night_watch: 300", "rice_leaf_folder: {night_watch: -3", 1
    )
    (tmp_path / "pest_traps.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RuleErrors) as raised:
        RuleBook.load(tmp_path / "rules/pests.yaml")
    messages = [str(e) for e in raised.value.errors]
    assert any("no species 'rice_leaf_folder'" in m for m in messages), messages
    assert any("pest_traps.yaml:" in m and ">= 0" in m for m in messages), messages
