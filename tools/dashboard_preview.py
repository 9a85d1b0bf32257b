"""Render each committed Grafana dashboard as a PNG close to what Grafana would show, from
real query results: a developer's tool (Grafana itself cannot be installed here), so the
dashboards can be looked at before anyone calls them done.

    .venv/bin/python -m tools.dashboard_preview [--dsn DSN] [--uid ioc-wall ...] [--out docs/img]

Reads dashboards/json/<uid>.json, resolves the variables (All), runs every target's SQL
expanded by dashboards.grafana_sql for the dashboard's default range as the read-only role
ioc_dashboard_reader, and draws each panel at its gridPos. The wall is drawn as Grafana's
kiosk mode on a 3840×2160 screen at 200 % (1920×1080 CSS px); the desks at 1920×1080 with
Grafana's top bar, the part below the screen's bottom edge drawn past a marked fold.
Without --dsn the stack's own database (config.settings) is read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from psycopg.conninfo import conninfo_to_dict

from config.settings import REPO_ROOT, Settings
from tools import preview_draw as draw
from tools.preview_data import (
    PanelData,
    Reader,
    dashboard_context,
    load_dashboard,
    panel_data,
    walk,
)
from tools.preview_layout import (
    Screen,
    content_box,
    grid_bottom,
    grid_box,
    overlaps,
    relative_label,
)

DASHBOARDS = REPO_ROOT / "dashboards" / "json"
DATASOURCES = REPO_ROOT / "dashboards" / "provisioning" / "datasources"
PROVINCES = REPO_ROOT / "api" / "console" / "geo" / "provinces.geojson"
OUT = REPO_ROOT / "docs" / "img"
# The wall: a 3840×2160 TV at 200 % in kiosk mode. Desks: 1920×1080 at 100 %, with
# Grafana's top bar (40 px) and the variables/time-picker row (48 px) above the grid.
WALL = Screen(1920, 1080, scale=2.0, chrome=0)
DESK = Screen(1920, 1080, scale=1.0, chrome=88)
WALL_UIDS = {"ioc-wall"}
OPERATORS_TZ = ZoneInfo("Asia/Ho_Chi_Minh")  # "browser" time zone: the operators' browsers


def timescaledb_flag() -> bool:
    """jsonData.timescaledb of the provisioned data source: $__timeGroup follows it."""
    for path in sorted(DATASOURCES.glob("*.yaml")):
        for source in yaml.safe_load(path.read_text(encoding="utf-8")).get("datasources", []):
            if source.get("uid") == "ioc-timescaledb":
                return bool(source.get("jsonData", {}).get("timescaledb"))
    return True


def render(uid: str, reader: Reader, out: Path, now: datetime, source: str) -> list[str]:
    """Draw one dashboard; returns what the preview noticed (errors, empty panels, layout)."""
    dashboard = load_dashboard(DASHBOARDS / f"{uid}.json")
    screen = WALL if uid in WALL_UIDS else DESK
    panels = [p for p in walk(dashboard.get("panels", [])) if p.get("type") != "row"]
    ctx = dashboard_context(dashboard, reader, now, timescaledb_flag())
    bottom = grid_bottom(panels, screen)
    canvas = draw.new_canvas(screen, bottom + (screen.padding if bottom > screen.height else 0))
    view = draw.View(canvas, now, OPERATORS_TZ, PROVINCES)
    notes = [f"overlap: {a} / {b}" for a, b in overlaps(panels)]
    draw.chrome(
        canvas,
        screen,
        str(dashboard.get("title", uid)),
        _variables_text(dashboard, ctx),
        relative_label(ctx.time_from, ctx.time_to, now),
    )
    for panel in panels:
        frame = grid_box(panel["gridPos"], screen)
        data = panel_data(panel, ctx, reader, round(frame.w), now)
        draw.draw_panel(view, panel, data, frame, content_box(frame))
        notes.extend(_notes(panel, data))
    if bottom > screen.height:
        notes.append(f"grid ends at {bottom:.0f} px of a {screen.height} px screen")
    draw.fold(canvas, screen)
    draw.footer(
        canvas,
        f"{uid} · {dashboard.get('title', '')} · {source} · "
        f"{draw.local_now(now, OPERATORS_TZ)} · {screen.width}×{screen.height} CSS px"
        f" × {screen.scale:g}",
    )
    draw.save(canvas, out / f"dashboard-{uid}.png")
    return notes


def _variables_text(dashboard: Mapping[str, Any], ctx: Any) -> str:
    parts = []
    for raw in dashboard.get("templating", {}).get("list", []):
        variable = ctx.variables.get(raw["name"])
        if variable is None or raw.get("hide") == 2:
            continue
        value = (
            "All"
            if variable.is_all
            else (
                variable.text if isinstance(variable.text, str) else " + ".join(variable.text or [])
            )
        )
        parts.append(f"{raw.get('label') or raw['name']}  [ {value} ▾ ]")
    return "     ".join(parts)


def _notes(panel: Mapping[str, Any], data: PanelData) -> list[str]:
    title = panel.get("title", "")
    if data.error:
        return [f"{title}: query failed: {data.error}"]
    if data.empty:
        return [f"{title}: no rows"]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="database to read (default: the stack's, config.settings)")
    parser.add_argument("--uid", action="append", help="dashboard uid (default: all)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for dashboard-<uid>.png")
    args = parser.parse_args(argv)
    dsn = args.dsn or Settings().dsn()
    info = conninfo_to_dict(dsn)
    source = f"{info.get('dbname')}@{info.get('host')}:{info.get('port')}"  # never the password
    uids = args.uid or sorted(p.stem for p in DASHBOARDS.glob("*.json"))
    now = datetime.now(UTC)
    reader = Reader(dsn)
    try:
        for uid in uids:
            notes = render(uid, reader, args.out, now, source)
            print(f"{args.out / f'dashboard-{uid}.png'}")
            for note in notes:
                print(f"  - {note}")
    finally:
        reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
