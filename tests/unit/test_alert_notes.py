"""The notes the system writes into alert history: Vietnamese first, English beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.errors import catalog
from config.yaml_loader import ConfigErrors, load_model
from events.alerts import Domain, Severity, Signal, SignalState
from processors.alerts import notes
from processors.alerts.lifecycle import InvalidTransition


def _signal(vi: str, en: str) -> Signal:
    return Signal(
        rule="env.water_level",
        domain=Domain.ENVIRONMENT,
        labels={"device_id": "kg-xeoro-wl01"},
        state=SignalState.FIRING,
        severity=Severity.HIGH,
        at=datetime(2026, 11, 20, 3, 0, tzinfo=UTC),
        title_vi="Mực nước vượt báo động II",
        title_en="Water level above alarm II",
        summary_vi=vi,
        summary_en=en,
    )


def test_renotified_reads_naturally_in_both_languages() -> None:
    assert notes.system_note("renotified", count=2) == (
        "Đã gửi tới 2 kênh thông báo vì chưa có ai xác nhận",
        "Sent to 2 notification channels as nobody has acknowledged it",
    )
    vi, en = notes.system_note("renotified", count=1)
    assert vi == "Đã gửi tới 1 kênh thông báo vì chưa có ai xác nhận"
    assert en == "Sent to 1 notification channel as nobody has acknowledged it"
    assert "(s)" not in en


def test_a_signal_note_is_its_summary_vietnamese_first() -> None:
    vi, en = "Mực nước 0,95 m, trên BĐ II", "Water level 0.95 m, above alarm II"
    assert notes.signal_note(_signal(vi, en)) == (vi, en)
    assert notes.signal_note(_signal(vi, "")) == (vi, None)
    # Only English: kept as a one-language note rather than lost.
    assert notes.signal_note(_signal("", en)) == (en, None)
    assert notes.signal_note(_signal("", "")) == ("", None)


def test_every_note_has_the_same_placeholders_in_both_languages(tmp_path: Path) -> None:
    assert set(notes.texts()) == {"renotified"}
    broken = tmp_path / "notes.yaml"
    broken.write_text("renotified:\n  vi: tới {count} kênh\n  en: to {n} channels\n")
    with pytest.raises(
        ConfigErrors, match=r"notes.yaml:1: renotified: vi uses \[.count.\], en uses \[.n.\]"
    ):
        load_model(broken, notes.NoteTexts)


def test_refused_transitions_are_explained_in_both_languages() -> None:
    """The API answers a refused acknowledge/resolve with the exception's code as its
    problem: each must have its Vietnamese and English text."""
    problems = catalog()["problems"]
    for code in InvalidTransition.CODES:
        assert problems[code]["vi"] and problems[code]["en"], code
        assert InvalidTransition(code).code == code
    with pytest.raises(ValueError, match="unknown transition problem"):
        InvalidTransition("alert is resolved")
