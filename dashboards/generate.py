"""Dashboards → the JSON Grafana stores, one file per dashboard in dashboards/json/.

The committed files are what Grafana loads (provisioning mounts the folder) and what the
tests read; `check` says where they and the generator disagree.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from dashboards import cameras, environment, platform, soc, wall

JSON_DIR = Path(__file__).with_name("json")
MODULES: tuple[ModuleType, ...] = (wall, environment, soc, cameras, platform)


@dataclass(frozen=True)
class Rendered:
    uid: str
    text: str

    @property
    def filename(self) -> str:
        return f"{self.uid}.json"


def number_panels(board: model.Dashboard) -> model.Dashboard:
    """Panel ids in the order the module adds panels: stable across runs, so the JSON diff
    shows real changes."""
    for number, panel in enumerate(board.panels or [], start=1):
        panel.id_val = number
    return board


def render(build: Callable[[], dash.Dashboard]) -> str:
    board = number_panels(build().build())
    encoder = JSONEncoder(sort_keys=True, indent=2, ensure_ascii=False)
    return encoder.encode(board) + "\n"


def render_all() -> list[Rendered]:
    return [Rendered(module.UID, render(module.build)) for module in MODULES]


def write_all(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for item in render_all():
        path = directory / item.filename
        path.write_text(item.text, encoding="utf-8")
        written.append(path)
    return written


def differences(directory: Path = JSON_DIR) -> list[str]:
    """One entry per file that is missing, stale or left over, with a short unified diff."""
    problems = []
    expected = {item.filename: item.text for item in render_all()}
    for name, text in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{name}: missing (run `ioc dashboards build`)")
            continue
        committed = path.read_text(encoding="utf-8")
        if committed != text:
            diff = list(
                difflib.unified_diff(
                    committed.splitlines(),
                    text.splitlines(),
                    f"committed/{name}",
                    f"generated/{name}",
                    lineterm="",
                    n=1,
                )
            )
            shown = "\n".join(diff[:40]) + ("\n…" if len(diff) > 40 else "")
            problems.append(f"{name}: differs from the generator ({len(diff)} diff lines)\n{shown}")
    for path in sorted(directory.glob("*.json")):
        if path.name not in expected:
            problems.append(f"{path.name}: no generator makes this file")
    return problems
