"""events.text: untrusted text made storable and terminal-safe, faithfully."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from events.text import ELLIPSIS, MAX_JSON_DEPTH, clean_json, clean_text, show


def test_printable_text_is_returned_unchanged() -> None:
    text = "Cảnh báo mặn 4‰ tại Xẻo Rô, BĐ II"
    assert clean_text(text) is text  # the fast path copies nothing
    assert clean_text(text + "\t") == text + "\t"


def test_controls_become_control_pictures() -> None:
    assert clean_text("a\x00b\x1b[31mc\r\nd\x07\x7f") == "a␀b␛[31mc␍␊d␇␡"


def test_tab_is_kept() -> None:
    assert clean_text("a\tb") == "a\tb"


def test_c1_controls_and_surrogates_become_replacement_character() -> None:
    assert clean_text("x\x9by\ud800z") == "x\ufffdy\ufffdz"


def test_bytes_are_decoded_with_replacement() -> None:
    assert clean_text(b"caf\xc3\xa9 \xff\xfe \x00") == "café \ufffd\ufffd ␀"


def test_limit_marks_the_cut() -> None:
    assert clean_text("abcdef", 4) == "abc" + ELLIPSIS
    assert clean_text("abcd", 4) == "abcd"


def test_clean_json_cleans_keys_and_values_and_bounds_size() -> None:
    value = {"k\x00": ["v\x1b", 1, 2.5, None, True], "long": "x" * 50}
    assert clean_json(value, max_string=10, max_items=3) == {
        "k␀": ["v␛", 1, 2.5],
        "long": "x" * 9 + ELLIPSIS,
    }


def test_clean_json_cuts_deep_nesting() -> None:
    deep: object = "leaf"
    for _ in range(MAX_JSON_DEPTH + 50):
        deep = [deep]
    cleaned = clean_json(deep)
    depth = 0
    while isinstance(cleaned, list):
        cleaned, depth = cleaned[0], depth + 1
    assert (cleaned, depth) == (ELLIPSIS, MAX_JSON_DEPTH)


def test_show_renders_values_briefly_and_safely() -> None:
    assert show("abc") == "'abc'"
    assert show(None) == "null" and show(True) == "true"
    assert show({"a": 1}) == "{…}" and show([1]) == "[…]"
    assert show("\x00") == "'\\x00'"
    assert len(show("y" * 10_000)) < 80


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary()))
def test_clean_text_output_is_always_storable(value: str | bytes) -> None:
    cleaned = clean_text(value)
    cleaned.encode("utf-8")  # no lone surrogates
    assert not any((ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) < 0xA0 for c in cleaned), cleaned
    if isinstance(value, str):
        assert len(cleaned) == len(value)  # one character per character: nothing hidden
