"""The committed dashboard JSON: what the generator makes, and well-formed for Grafana.

Everything reads dashboards/json/*.json (what Grafana loads), not the builders. "Valid"
means checked against the typed models grafana-foundation-sdk ships for Grafana 11.3
(generated from Grafana's schema; the package ships no JSON Schema file): every key and
value survives a decode/encode (an unknown key is dropped by it), and every decoded value
has its model's declared type (enums, literals, numbers), plus the structural
rules Grafana itself does not check: unique ids, data sources that exist, variables that
resolve, relative time ranges only, a wall that fits its screen, and no raw readings read
beyond a day.
"""

from __future__ import annotations

import enum
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import generate, queries, wall
from dashboards.datasource import DATASOURCE_TYPE, DATASOURCE_UID

REPO = Path(__file__).resolve().parents[2]
PROVISIONED_SOURCES = REPO / "dashboards" / "provisioning" / "datasources"
CONTRACT_UIDS = {"ioc-wall", "ioc-environment", "ioc-soc", "ioc-cameras", "ioc-platform"}
# Grafana's own variables (and the macros' names) that a panel may use undefined.
BUILTIN = re.compile(r"^__")
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}")


def committed() -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(generate.JSON_DIR.glob("*.json"))
    }


def all_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return found


def targets(board: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(panel, target) for panel in all_panels(board) for target in panel.get("targets", [])]


BOARDS = committed()


def test_committed_json_is_what_the_generator_makes() -> None:
    assert generate.differences() == []
    assert set(BOARDS) == CONTRACT_UIDS
    for uid, board in BOARDS.items():
        assert board["uid"] == uid


def test_the_check_reports_a_stale_file(tmp_path: Path) -> None:
    for item in generate.render_all():
        (tmp_path / item.filename).write_text(item.text, encoding="utf-8")
    assert generate.differences(tmp_path) == []
    stale = tmp_path / "ioc-soc.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace("SOC", "S0C", 1), encoding="utf-8")
    (tmp_path / "ioc-old.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "ioc-wall.json").unlink()
    problems = generate.differences(tmp_path)
    assert len(problems) == 3
    assert any(p.startswith("ioc-soc.json: differs") and "+" in p for p in problems)
    assert any(p.startswith("ioc-wall.json: missing") for p in problems)
    assert any(p.startswith("ioc-old.json: no generator") for p in problems)


def test_json_is_sorted_two_space_utf8_with_trailing_newline() -> None:
    for path in generate.JSON_DIR.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _subset(small: Any, big: Any, where: str = "") -> list[str]:
    """Where `small` has something `big` lacks or holds differently."""
    if isinstance(small, dict) and isinstance(big, dict):
        return [
            problem
            for key, value in small.items()
            for problem in (
                _subset(value, big[key], f"{where}.{key}")
                if key in big
                else [f"{where}.{key}: dropped by the model (unknown key)"]
            )
        ]
    if isinstance(small, list) and isinstance(big, list) and len(small) == len(big):
        return [
            p
            for i, (a, b) in enumerate(zip(small, big, strict=True))
            for p in _subset(a, b, f"{where}[{i}]")
        ]
    return [] if small == big else [f"{where}: {small!r} became {big!r}"]


SDK_MODELS = "grafana_foundation_sdk.models"


def _is_model(value: object) -> bool:
    return type(value).__module__.startswith(SDK_MODELS)


# The SDK decodes without checking values against its type hints (an enum field keeps
# any string), so this walks the decoded models and checks them; written here because
# the SDK has no validator of its own.
def _type_problems(value: Any, hint: Any, where: str) -> list[str]:
    origin = typing.get_origin(hint)
    if hint in (typing.Any, object):
        # Panel options and field configs are typed `object` but decode to their models.
        return _model_problems(value, where) if _is_model(value) else []
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return []
        alternatives = [alt for alt in typing.get_args(hint) if alt is not type(None)]
        for alt in alternatives:  # a model value is checked against its own class
            if isinstance(alt, type) and _is_model(value) and isinstance(value, alt):
                return _type_problems(value, alt, where)
        found = [_type_problems(value, alt, where) for alt in alternatives]
        return [] if any(not f for f in found) else min(found, key=len)
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        return [] if value in allowed else [f"{where}: {value!r} not one of {allowed}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        (item,) = typing.get_args(hint)
        return [p for i, v in enumerate(value) for p in _type_problems(v, item, f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        item = typing.get_args(hint)[1]
        return [p for k, v in value.items() for p in _type_problems(v, item, f"{where}.{k}")]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint) or value in {member.value for member in hint}:
            return []
        return [f"{where}: {value!r} is not one of {[m.value for m in hint]}"]
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not a number"]
    if isinstance(hint, type) and hint.__module__.startswith(SDK_MODELS):
        if not isinstance(value, hint):
            return [f"{where}: {type(value).__name__} is not {hint.__name__}"]
        return _model_problems(value, where)
    if isinstance(hint, type) and not isinstance(value, hint):
        return [f"{where}: {value!r} is not {hint.__name__}"]
    return []


def _model_problems(model: object, where: str = "") -> list[str]:
    hints = typing.get_type_hints(type(model))
    return [
        problem
        for name, hint in hints.items()
        if hasattr(model, name)
        for problem in _type_problems(getattr(model, name), hint, f"{where}.{name}")
    ]


@pytest.mark.parametrize("uid", sorted(CONTRACT_UIDS))
def test_json_survives_the_sdk_dashboard_model(uid: str) -> None:
    register_default_plugins()  # panel options and field configs decode to their types
    board = BOARDS[uid]
    model = Dashboard.from_json(board)
    again = json.loads(JSONEncoder(sort_keys=True).encode(model))
    assert _subset(board, again) == []
    assert _model_problems(model) == []
    # Each panel's type is one the SDK (hence Grafana 11.3) knows.
    for panel in all_panels(board):
        assert runtime.panelcfg_config(panel["type"]) is not None, panel["type"]


def test_the_subset_check_sees_an_unknown_key() -> None:
    register_default_plugins()
    board = json.loads(json.dumps(BOARDS["ioc-soc"]))
    board["panels"][0]["gridpos"] = {"h": 1}
    again = json.loads(JSONEncoder(sort_keys=True).encode(Dashboard.from_json(board)))
    assert _subset(board, again) == [".panels[0].gridpos: dropped by the model (unknown key)"]


def test_the_type_check_sees_a_wrong_enum_value() -> None:
    register_default_plugins()
    board = json.loads(json.dumps(BOARDS["ioc-wall"]))
    geomap = next(p for p in board["panels"] if p["type"] == "geomap")
    geomap["options"]["tooltip"]["mode"] = "single"  # the timeseries word, not geomap's
    geomap["gridPos"]["h"] = "tall"
    problems = _model_problems(Dashboard.from_json(board))
    assert any(
        p.endswith(".options.tooltip.mode: 'single' is not one of ['none', 'details']")
        for p in problems
    ), problems
    assert ".panels[6].grid_pos.h: 'tall' is not int" in problems


@pytest.mark.parametrize("uid", sorted(CONTRACT_UIDS))
def test_panel_ids_are_unique(uid: str) -> None:
    ids = [panel["id"] for panel in all_panels(BOARDS[uid])]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids))


def provisioned_sources() -> dict[str, str]:
    sources = {}
    for path in PROVISIONED_SOURCES.glob("*.yaml"):
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]:
            sources[source["uid"]] = source["type"]
    return sources


@pytest.mark.parametrize("uid", sorted(CONTRACT_UIDS))
def test_every_panel_and_target_reads_a_provisioned_data_source(uid: str) -> None:
    sources = provisioned_sources()
    assert sources.get(DATASOURCE_UID) == DATASOURCE_TYPE
    board = BOARDS[uid]
    for panel in all_panels(board):
        if panel["type"] == "row":
            continue
        ref = panel["datasource"]
        assert sources.get(ref["uid"]) == ref["type"], panel["title"]
        assert panel.get("targets"), f"{panel['title']}: no query"
    for variable in board.get("templating", {}).get("list", []):
        if variable["type"] == "query":
            ref = variable["datasource"]
            assert sources.get(ref["uid"]) == ref["type"], variable["name"]
    for panel, target in targets(board):
        ref = target["datasource"]
        assert sources.get(ref["uid"]) == ref["type"], panel["title"]
        assert target["rawQuery"] is True and target["format"] in ("table", "time_series")
        assert target["rawSql"].strip(), panel["title"]


def referenced(sql: str) -> set[str]:
    names = {braced or bare for braced, bare in VARIABLE.findall(sql)}
    return {name for name in names if not BUILTIN.match(name)}


@pytest.mark.parametrize("uid", sorted(CONTRACT_UIDS))
def test_variables_used_in_sql_are_defined_above_their_use(uid: str) -> None:
    board = BOARDS[uid]
    defined: list[str] = []
    for variable in board.get("templating", {}).get("list", []):
        if variable["type"] == "query":
            # A variable's own query may use only the variables before it.
            assert referenced(variable["query"]) <= set(defined), variable["name"]
        defined.append(variable["name"])
    for panel, target in targets(board):
        missing = referenced(target["rawSql"]) - set(defined)
        assert not missing, f"{panel['title']}: undefined {sorted(missing)}"
        if panel.get("repeat"):
            assert panel["repeat"] in defined


def test_variables_are_multi_value_with_all_where_sql_uses_in() -> None:
    for board in BOARDS.values():
        for variable in board.get("templating", {}).get("list", []):
            uses = [t["rawSql"] for _, t in targets(board) if f"${variable['name']}" in t["rawSql"]]
            if variable.get("multi"):
                for sql in uses:  # a list of quoted values fits only IN (…) or ARRAY[…]
                    assert re.search(rf"(IN \(|ARRAY\[)\${variable['name']}[\])]", sql), sql


@pytest.mark.parametrize("uid", sorted(CONTRACT_UIDS))
def test_no_absolute_time_ranges(uid: str) -> None:
    board = BOARDS[uid]
    assert board["time"]["from"].startswith("now") and board["time"]["to"].startswith("now")
    for panel in all_panels(board):
        for key in ("timeFrom", "timeShift"):
            if key in panel:
                assert re.fullmatch(r"\d+[smhdwMy]", panel[key]), (panel["title"], panel[key])
    for panel, target in targets(board):
        sql = target["rawSql"]
        assert not ISO_DATE.search(sql), panel["title"]
        if target["format"] == "time_series":
            assert "$__timeFilter(" in sql or "$__timeFrom()" in sql, panel["title"]


def test_wall_fits_one_screen_without_scrolling() -> None:
    board = BOARDS["ioc-wall"]
    panels = all_panels(board)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        assert pos["y"] + pos["h"] <= wall.SCREEN_ROWS, panel["title"]
        assert panel["type"] != "row" and "repeat" not in panel, panel["title"]
        covered = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered
    # 28 rows of 30 px with 8 px gaps fit a 1080 px tall screen (3840x2160 at 200 %).
    assert wall.SCREEN_ROWS * 30 + (wall.SCREEN_ROWS - 1) * 8 <= 1080
    assert len(cells) == 24 * wall.SCREEN_ROWS, "the wall leaves part of the screen empty"
    assert board["refresh"] and not board.get("templating", {}).get("list")


def test_wall_text_is_large() -> None:
    for panel in all_panels(BOARDS["ioc-wall"]):
        if panel["type"] == "stat":
            assert panel["options"]["text"]["valueSize"] >= 40, panel["title"]


RAW = re.compile(r"\bFROM measurements\b(?!_)")
FIXED_WINDOW = re.compile(r"time > now\(\) - INTERVAL '(1 hour|1 day)'")


def test_no_branch_reads_raw_readings_beyond_a_day() -> None:
    guard = f"{queries.RANGE} <= INTERVAL '{queries.RAW_MAX}'"
    assert queries.RAW_MAX == "1 day"
    seen = 0
    for board in BOARDS.values():
        for panel, target in targets(board):
            for branch in target["rawSql"].split("UNION ALL"):
                if RAW.search(branch):
                    seen += 1
                    assert guard in branch or FIXED_WINDOW.search(branch), panel["title"]
    assert seen >= 4  # wall river table, ingest age, water level, salinity, ingest rate


def test_series_by_range_has_one_branch_per_source() -> None:
    sql = queries.series_by_range("m.metric = 'x'")
    branches = sql.split("UNION ALL")
    assert [RAW.search(b) is not None for b in branches] == [True, False, False]
    assert "FROM measurements_1m" in branches[1] and "FROM measurements_1h" in branches[2]
    raw_max, minute_max = f"INTERVAL '{queries.RAW_MAX}'", f"INTERVAL '{queries.MINUTE_MAX}'"
    assert f"<= {raw_max}" in branches[0]
    assert f"> {raw_max}" in branches[1] and f"<= {minute_max}" in branches[1]
    assert f"> {minute_max}" in branches[2]


def test_no_timescaledb_only_sql() -> None:
    # $__timeGroup becomes time_bucket() with the data source's timescaledb flag, and
    # time_bucket does not exist on plain PostgreSQL.
    for board in BOARDS.values():
        for panel, target in targets(board):
            sql = target["rawSql"]
            assert "time_bucket" not in sql and "$__timeGroup" not in sql, panel["title"]


def test_dead_letter_payloads_and_raw_logs_are_never_selected() -> None:
    # The reader role cannot read them either (the SQL tests run under it); this names
    # the panel at fault without a database.
    for board in BOARDS.values():
        for panel, target in targets(board):
            sql = re.sub(r"--[^\n]*", "", target["rawSql"])
            assert not re.search(r"\bpayload\b(?!_)", sql), panel["title"]
            assert not re.search(r"\braw\b", sql), panel["title"]
            assert "device_credentials" not in sql and "api_users" not in sql


def test_lines_come_from_the_rule_files() -> None:
    env = json.dumps(BOARDS["ioc-environment"], ensure_ascii=False)
    # QCVN 05:2023 PM2.5 24 h: both entries with their dates, chosen per hour in SQL.
    assert "(NULL::date, 50)" in env and "('2026-01-01'::date, 45)" in env
    salinity = next(p for p in all_panels(BOARDS["ioc-environment"]) if "Độ mặn" in p["title"])
    steps = salinity["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 1.0, 4.0]
    river = next(p for p in all_panels(BOARDS["ioc-wall"]) if "Mực nước" in p["title"])
    assert "'alarm_levels'" in river["targets"][0]["rawSql"]
