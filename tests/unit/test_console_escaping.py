"""The alert console shows titles and notes that can carry hostile log content, so its
scripts may put data into the page only as text: no HTML-parsing sinks at all, not even
in comments (a rule with exceptions is a rule nobody checks)."""

from __future__ import annotations

import re
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "api" / "console"
SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\s*\.\s*write(?:ln)?\b"
    r"|createContextualFragment|\beval\s*\(|new\s+Function\s*\("
)


def test_console_scripts_exist() -> None:
    # The console's own scripts; vendor/ holds third-party code that is checked by its
    # sums instead (test_console_vendor.py) and reached only through its public API.
    assert sorted(p.name for p in CONSOLE.glob("*.js")) == ["console.js", "overview.js"]
    assert (CONSOLE / "index.html").is_file()


def test_console_scripts_use_no_html_sinks() -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(CONSOLE.glob("*.js"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SINKS.search(line)
    ]
    assert found == []


def test_console_page_has_no_inline_script() -> None:
    # The page is served with script-src 'self': inline code would not run anyway, and
    # an inline handler here would be a sign someone is working around that.
    page = (CONSOLE / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert re.findall(r"\son[a-z]+\s*=", page) == []


def test_the_scanner_catches_the_sinks() -> None:
    for line in (
        "el.innerHTML = alert.title;",
        "el.outerHTML = x",
        "el.insertAdjacentHTML('beforeend', x)",
        "document.write(x)",
        "document.writeln(x)",
        "eval(code)",
    ):
        assert SINKS.search(line), line
    assert not SINKS.search("el.textContent = alert.title;")
