"""The console's words: every text has a Vietnamese and an English version, every key
the page names exists, and the alert states read as a Vietnamese operator says them."""

from __future__ import annotations

import re
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "api" / "console"
ENTRY = re.compile(r'^\s+(\w+): "((?:[^"\\]|\\.)*)",$')


def _block(text: str, opening: str) -> dict[str, str]:
    """The `key: "text",` lines of the object literal opened by `opening`."""
    start = text.index(opening) + len(opening)
    entries: dict[str, str] = {}
    for line in text[start:].splitlines()[1:]:
        if line.strip().startswith("}"):
            break
        match = ENTRY.match(line)
        assert match, f"not a plain text entry: {line!r}"
        entries[match.group(1)] = match.group(2)
    return entries


def _texts() -> dict[str, dict[str, str]]:
    console = (CONSOLE / "console.js").read_text(encoding="utf-8")
    overview = (CONSOLE / "overview.js").read_text(encoding="utf-8")
    return {
        lang: {
            **_block(console, f"    {lang}: {{"),
            **_block(overview, f"Object.assign(IOC.TEXT.{lang}, {{"),
        }
        for lang in ("vi", "en")
    }


def test_every_text_is_in_both_languages() -> None:
    texts = _texts()
    assert len(texts["vi"]) > 80  # both files were read, not an empty match
    assert set(texts["vi"]) == set(texts["en"])
    assert all(texts["vi"].values()) and all(texts["en"].values())


def test_every_key_the_page_names_exists() -> None:
    page = (CONSOLE / "index.html").read_text(encoding="utf-8")
    named = set(re.findall(r'data-i18n(?:-label)?="(\w+)"', page))
    assert named and named <= set(_texts()["vi"])


def test_alert_states_read_as_an_operator_says_them() -> None:
    vi = _texts()["vi"]
    assert vi["s_firing"] == "Đang cảnh báo"
    assert vi["s_acknowledged"] == "Đã xác nhận"
    assert vi["s_resolved"] == "Đã xử lý"
    everything = "\n".join(p.read_text(encoding="utf-8") for p in CONSOLE.glob("*.*"))
    assert "Đang phát" not in everything


def test_numbers_are_formatted_for_the_language() -> None:
    # Decimal commas in Vietnamese come from Intl.NumberFormat('vi-VN'), never from
    # printing a JavaScript number as it is.
    console = (CONSOLE / "console.js").read_text(encoding="utf-8")
    overview = (CONSOLE / "overview.js").read_text(encoding="utf-8")
    assert 'new Intl.NumberFormat(lang === "vi" ? "vi-VN" : "en-GB"' in console
    assert "toFixed(" not in console + overview
    assert "IOC.formatNumber(reading.value)" in overview
