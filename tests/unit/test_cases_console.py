"""The cases view of the console (api/console/cases/) shows titles, notes, observables and
events that can carry hostile log content: like the alert console, its scripts put data
into the page only as text, and the page runs no inline script."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_console_escaping import SINKS

VIEW = Path(__file__).resolve().parents[2] / "api" / "console" / "cases"


def test_cases_view_files_exist() -> None:
    assert sorted(p.name for p in VIEW.iterdir()) == ["cases.css", "cases.js", "index.html"]


def test_cases_script_uses_no_html_sinks() -> None:
    lines = (VIEW / "cases.js").read_text(encoding="utf-8").splitlines()
    found = [f"{n}: {line.strip()}" for n, line in enumerate(lines, 1) if SINKS.search(line)]
    assert found == []
    assert "textContent" in "\n".join(lines)


def test_cases_page_has_no_inline_script_or_handler() -> None:
    page = (VIEW / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert re.findall(r"\son[a-z]+\s*=", page) == []
    assert re.findall(r"<style|\sstyle\s*=", page) == []  # style-src 'self'
