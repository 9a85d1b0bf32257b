"""The console's vendored Leaflet is the npm release byte for byte (its README lists the
sums), ships its licence, and is what the page loads; nothing is fetched from elsewhere."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "api" / "console"
LEAFLET = CONSOLE / "vendor" / "leaflet"


def _listed_sums() -> dict[str, str]:
    readme = (LEAFLET / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| ([\w./-]+) \| ([0-9a-f]{64}) \|$", readme, re.MULTILINE))


def test_vendored_files_match_the_listed_sums() -> None:
    listed = _listed_sums()
    shipped = {
        str(p.relative_to(LEAFLET)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in LEAFLET.rglob("*")
        if p.is_file() and p.name != "README.md"
    }
    assert listed, "README lists no sums"
    assert shipped == listed


def test_leaflet_is_the_release_named_and_licensed() -> None:
    assert "Leaflet 1.9.4" in (LEAFLET / "leaflet.js").read_text(encoding="utf-8")[:200]
    assert "BSD 2-Clause" in (LEAFLET / "LICENSE").read_text(encoding="utf-8")


def test_the_page_loads_only_its_own_files() -> None:
    page = (CONSOLE / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "vendor/leaflet/leaflet.js" in refs
    assert "vendor/leaflet/leaflet.css" in refs
    for ref in refs:
        # No other host; `data:,` is the empty icon that spares a favicon request.
        assert ref == "data:," or not re.match(r"^[a-z]+:|^//", ref), ref
    for script in CONSOLE.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), script.name
