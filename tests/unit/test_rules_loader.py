"""Rule packs: loading, and errors that say file:line: field: message."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.config_check import Report, check_configuration
from cli.rules import rules_app
from config.settings import REPO_ROOT, get_settings
from config.yaml_loader import display_path
from processors.environment.engine import RuleBook, RuleErrors, format_duration, parse_duration
from processors.environment.engine.specs import level_spec

TEXT = """\
    text:
      firing: {title_vi: "Giá trị {value}", title_en: "Value {value}"}
      resolved: {title_vi: "Hết", title_en: "Over"}
"""


def pack(tmp_path: Path, body: str, name: str = "pack.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).replace("    <TEXT>\n", TEXT), encoding="utf-8")
    return path


def problems(*paths: Path) -> list[str]:
    with pytest.raises(RuleErrors) as caught:
        RuleBook.load(list(paths))
    return [str(e) for e in caught.value.errors]


THRESHOLD = """\
  - id: env.test_{n}
    kind: threshold
    metric: salinity
    for: {duration}
    steps:
      - {{key: watch, value: 1, clear: 0.8, severity: medium, vi: a, en: b}}
    <TEXT>
"""


# ---- the shipped packs ------------------------------------------------------------------


def test_shipped_packs_load() -> None:
    book = RuleBook.load()
    assert book.counts() == {
        "threshold": 6,
        "levels": 1,
        "rate_of_change": 1,
        "stuck": 2,
        "out_of_range": 1,
        "no_data": 1,
        "aqi": 1,
        "qcvn": 1,
        "night_count": 1,
        "weekly_cases": 1,
    }
    ids = {r.id for r in book.rules}
    assert {"env.water_level", "env.salinity", "env.water_rise_rate"} <= ids
    assert {"health.stuck", "health.out_of_range", "health.offline"} <= ids
    assert book.get("env.water_level").origin.endswith("flood.yaml:12")
    assert book.get("health.stuck", "salinity").for_ == timedelta(hours=12)
    assert book.get("health.stuck", "pm25").for_ == timedelta(hours=6)


def test_check_command_summarises_the_shipped_packs() -> None:
    result = CliRunner().invoke(rules_app, ["check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 16 rules in 8 files (threshold 6, levels 1,")
    for summary in [
        "ok: ingest routes: 4 MQTT routes, 10 Kafka routes, 9 HTTP routes",
        "ok: alert channels: 4 channels",
        "ok: security site and agencies: 5 agencies, 10 log sources, 13 HOME_NET ranges",
        "ok: security detections: 7 detections, 8 Sigma rules, 2 Sigma correlations\n",
        "ok: TAXII: 0 pull sources",
        "ok: case grouping and playbooks: 4 grouping rules, 6 playbooks",
    ]:
        assert summary in result.output
    assert "warning" not in result.output


# ---- precise errors ---------------------------------------------------------------------


def test_bad_duration_names_file_line_and_field(tmp_path: Path) -> None:
    body = "rules:\n" + "".join(
        THRESHOLD.format(n=n, duration=d) for n, d in enumerate(["5m", "90s", "soon"])
    )
    path = pack(tmp_path, body)
    rule_lines = 9  # each THRESHOLD block with its text is 9 lines
    line = 1 + 2 * rule_lines + 4
    assert problems(path) == [
        f"{path}:{line}: rules[2].for: expected a duration like '5m', got 'soon'"
    ]


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = pack(tmp_path, "rules:\n  - id: env.x\n    kind: [threshold\n    metric: salinity\n")
    [message] = problems(path)
    assert message.startswith(f"{path}:4: YAML syntax error: while parsing a flow sequence")


def test_unknown_kind(tmp_path: Path) -> None:
    path = pack(
        tmp_path,
        """\
        rules:
          - id: env.x
            kind: treshold
            metric: salinity
        """,
    )
    [message] = problems(path)
    assert message.startswith(f"{path}:3: rules[0].kind: unknown kind 'treshold'; expected one of")


def test_missing_field_points_at_the_rule(tmp_path: Path) -> None:
    path = pack(
        tmp_path,
        """\
        rules:
          - id: health.frozen
            kind: stuck
            for: 1h
            severity: low
            <TEXT>
        """,
    )
    assert problems(path) == [f"{path}:2: rules[0].metric: missing required field"]


def test_unknown_metric_and_alias(tmp_path: Path) -> None:
    path = pack(
        tmp_path,
        """\
        rules:
          - id: health.frozen
            kind: stuck
            metric: [waterLvl, pm2.5]
            for: 1h
            severity: low
            <TEXT>
        """,
    )
    assert problems(path) == [
        f"{path}:4: rules[0].metric[0]: unknown metric 'waterLvl' (not in events/metrics.yaml);"
        " did you mean 'waterLevel'?",
        f"{path}:4: rules[0].metric[1]: 'pm2.5' is an alias; write the canonical name 'pm25'",
    ]


def test_several_errors_across_files_are_reported_together(tmp_path: Path) -> None:
    first = pack(
        tmp_path,
        """\
        rules:
          - id: env.salt
            kind: threshold
            metric: salinity
            colour: red
            steps:
              - {key: watch, value: 1, clear: 1.2, severity: urgent, vi: a, en: b}
            text:
              firing: {title_vi: "{valeu}", title_en: "{value:.2q}"}
              resolved: {title_vi: "x", title_en: "x"}
          - id: env.salt
            kind: threshold
            metric: salinity
            steps:
              - {key: watch, value: 1, clear: 1.2, severity: high, vi: a, en: b}
            text:
              firing: {title_vi: "{valeu}", title_en: "{value:.2q}"}
              resolved: {title_vi: "x", title_en: "x"}
        """,
        "a.yaml",
    )
    second = pack(tmp_path, "rules:\n  - id: env.y\n    kind: stuck\n    kind: stuck\n", "b.yaml")
    assert problems(first, second) == [
        f"{first}:5: rules[0].colour: unknown field",
        f"{first}:7: rules[0].steps[0].severity: severity 'urgent' is not one of"
        " info, low, medium, high, critical",
        f"{first}:15: rules[1].steps[0].clear: must be below value 1 for direction above",
        f"{first}:17: rules[1].text.firing.title_en: bad template:"
        " Unknown format code 'q' for object of type 'float'",
        f"{first}:17: rules[1].text.firing.title_vi: unknown template field 'valeu';"
        " a threshold rule offers rule, device_id, station, at, severity, metric, unit, value,"
        " level, level_vi, level_en, action_vi, action_en, threshold",
        f"{second}:2: rules[0].for: missing required field",
        f"{second}:2: rules[0].metric: missing required field",
        f"{second}:2: rules[0].severity: missing required field",
        f"{second}:2: rules[0].text: missing required field",
        f"{second}:4: rules[0].kind: duplicate key",
    ]


STUCK = """\
  - id: health.frozen
    kind: stuck
    metric: {metric}
    for: 1h
    severity: low
    <TEXT>
"""
NO_DATA = """\
  - id: health.frozen
    kind: no_data
    after: 3
    severity: low
    text:
      firing: {title_vi: "Mất kết nối", title_en: "Offline"}
      resolved: {title_vi: "Có kết nối", title_en: "Online"}
"""


def test_one_rule_per_id_and_metric(tmp_path: Path) -> None:
    metrics = ("[pm25, pm10]", "salinity", "pm10")
    body = "rules:\n" + "".join(STUCK.format(metric=m) for m in metrics) + NO_DATA
    path = pack(tmp_path, body)
    assert problems(path) == [
        f"{path}:18: rules[2].id: rule 'health.frozen' for 'pm10' is already defined at {path}:2",
        f"{path}:26: rules[3].id: id 'health.frozen' is already a stuck rule",
    ]


def test_missing_file_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert problems(tmp_path / "nope.yaml", tmp_path / "empty") == [
        f"{tmp_path / 'empty'}: no *.yaml rule files here",
        f"{tmp_path / 'nope.yaml'}: no such file or directory",
    ]


def test_check_command_prints_errors_and_fails(tmp_path: Path) -> None:
    path = pack(tmp_path, "rules:\n  - id: env.x\n    kind: magic\n")
    result = CliRunner().invoke(rules_app, ["check", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith(f"{path}:3: rules[0].kind: unknown kind")


# ---- the other files the services load (cli/config_check.py) ----------------------------

# A shipped file, one of its lines broken, and the start of the one problem it gives
# (without the file's name, which is the broken copy's).
MALFORMED = [
    (
        "IOC_ROUTES_FILE", "deploy/ingest/routes.yaml", "    isapi: 0.1", "    isapi: 5",
        ":65: http.linger_by_format: isapi: a linger of 5.0 s is not in [0, 1]",
    ),
    (
        "IOC_CHANNELS_FILE", "deploy/alerts/channels.yaml", "max_attempts: 10", "max_attempts: 0",
        ":29: max_attempts: input should be greater than 0",
    ),
    (
        "IOC_SECURITY_SITE", "deploy/security/site.yaml", "    - 172.16.0.0/12",
        "    - 172.16.0.0/33", ": networks.home_net: '172.16.0.0/33' does not appear",
    ),
    (
        "IOC_AGENCIES_FILE", "deploy/security/agencies.yaml",
        "    networks: [10.10.1.0/24, 10.10.20.0/24]",
        "    networks: [10.10.1.0/33, 10.10.20.0/24]",
        ":23: agencies[0].networks: '10.10.1.0/33' does not appear",
    ),
    (
        "IOC_TAXII_FILE", "deploy/security/taxii.yaml",
        "pull: []", "pull: [{name: cert, collection: 'ftp://cert.example/c/'}]",
        ":8: pull[0].collection: string should match pattern",
    ),
    (
        "IOC_SECURITY_RULES", "processors/security/rules/detections.yaml", "sigma:", "sigmaa:",
        ":182: sigmaa: unknown field",
    ),
]  # fmt: skip


def broken_copy(tmp_path: Path, shipped: str, line: str, broken: str) -> Path:
    text = (REPO_ROOT / shipped).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    assert sum(1 for x in lines if x.rstrip("\n") == line) == 1, line  # one line changes
    copy = tmp_path / Path(shipped).name
    copy.write_text(
        "".join(broken + "\n" if x.rstrip("\n") == line else x for x in lines),
        encoding="utf-8",
    )
    return copy


def check_with(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Result:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(rules_app, ["check"])
    finally:
        for name in env:
            monkeypatch.delenv(name)
        get_settings.cache_clear()


@pytest.mark.parametrize(("env", "shipped", "line", "broken", "expected"), MALFORMED)
def test_check_command_names_a_malformed_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    env: str, shipped: str, line: str, broken: str, expected: str,
) -> None:  # fmt: skip
    copy = broken_copy(tmp_path, shipped, line, broken)
    result = check_with(monkeypatch, {env: str(copy)})
    assert result.exit_code == 1, result.output
    (problem,) = result.stdout.splitlines()  # and no `ok:` for the groups that load
    assert problem.startswith(f"{copy}{expected}"), problem
    assert "1 problem found" in result.stderr


def test_check_command_warns_of_a_sigma_rule_a_reload_would_leave_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reload logs the rule and runs the others: a warning, not a failure.
    rule = tmp_path / "odd.yml"
    rule.write_text(
        "title: Odd\nid: 11111111-2222-3333-4444-555555555555\n"
        "logsource: {product: amiga}\ndetection: {sel: {a: 1}, condition: sel}\n",
        encoding="utf-8",
    )
    result = check_with(monkeypatch, {"IOC_SIGMA_RULES": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert f"warning: Sigma rule not loaded: {rule}: " in result.stdout
    assert "amiga" in result.stdout
    assert "0 Sigma rules, 0 Sigma correlations (1 not loaded" in result.stdout


def test_a_malformed_grouping_or_playbook_file_is_named(tmp_path: Path) -> None:
    # The case files are not settings: the alert service reads processors/cases/ only.
    grouping = broken_copy(
        tmp_path, "processors/cases/grouping.yaml", "lookback_minutes: 1440",
        "lookback_minutes: soon",
    )  # fmt: skip
    books = tmp_path / "playbooks"
    books.mkdir()
    for shipped in sorted((REPO_ROOT / "processors/cases/playbooks").glob("*.yaml")):
        (books / shipped.name).write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    malware = books / "malware.yaml"
    malware.write_text(malware.read_text(encoding="utf-8") + "owner: csirt\n", encoding="utf-8")
    report = Report()
    check_configuration(get_settings(), report, grouping_file=grouping, playbook_dir=books)
    assert [p for p in report.problems if "grouping.yaml" in p] == [
        f"{display_path(grouping)}:{line_of(grouping, 'lookback_minutes')}: lookback_minutes:"
        " input should be a valid integer, unable to parse string as an integer, got 'soon'"
    ]
    assert [p for p in report.problems if "malware.yaml" in p] == [
        f"{display_path(malware)}:{line_of(malware, 'owner')}: owner: unknown field"
    ]
    assert not any(s.startswith("case grouping") for s in report.summaries)


def line_of(path: Path, key: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, x in enumerate(lines, 1) if x.startswith(f"{key}:"))


# ---- per-station parameters -------------------------------------------------------------

STATIONS = """\
stations:
  st-a: {name: Trạm A, watch: 2.0, watch_clear: 1.5}
  st-b: {name: Trạm B, watch: 0.5}
  st-c: {name: Trạm C, watch: 0.3, watch_clear: 0.6}
  st-d: {name: Trạm D, watch: many}
"""

PARAM_PACK = """\
stations: params.yaml#stations
rules:
  - id: env.salt
    kind: threshold
    metric: salinity
    defaults: {watch: 1.0, watch_clear: 0.4}
    steps:
      - {key: watch, value: {param: watch}, clear: {param: watch_clear}, severity: medium,
         vi: a, en: b}
    <TEXT>
"""


def test_station_rows_override_defaults(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(
        STATIONS.replace("  st-c", "  #").replace("  st-d", "  #")
    )
    book = RuleBook.load([pack(tmp_path, PARAM_PACK)])
    rule = book.get("env.salt")
    lines = {dev: level_spec(rule, dev).levels[0] for dev in ("st-a", "st-b", "elsewhere")}
    assert {d: (lvl.threshold, lvl.margin) for d, lvl in lines.items()} == {
        "st-a": (2.0, 0.5),
        "st-b": (0.5, pytest.approx(0.1)),  # its own watch, the default clear line
        "elsewhere": (1.0, 0.6),
    }
    assert rule.station("st-a") == "Trạm A" and rule.station("elsewhere") == "elsewhere"


def test_bad_station_rows_are_reported_in_the_table_file(tmp_path: Path) -> None:
    table = tmp_path / "params.yaml"
    table.write_text(STATIONS)
    path = pack(tmp_path, PARAM_PACK)
    assert problems(path) == [
        f"{table}:4: stations.st-c: env.salt: step watch: clear 0.6 must be below value 0.3"
        " (direction above)",
        f"{table}:5: stations.st-d.watch: env.salt: watch must be a number",
    ]


def test_unknown_parameter(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(
        STATIONS.replace("  st-c", "  #").replace("  st-d", "  #")
    )
    path = pack(tmp_path, PARAM_PACK.replace("{param: watch_clear}", "{param: watch_clr}"))
    assert problems(path) == [
        f"{path}:8: rules[0].steps[0].clear: parameter 'watch_clr' is in no row of"
        f" {tmp_path / 'params.yaml'}#stations nor in defaults"
    ]


def test_missing_table_file(tmp_path: Path) -> None:
    path = pack(tmp_path, PARAM_PACK)
    [first, *_] = problems(path)
    assert first == f"{path}:1: stations: table file 'params.yaml' not found next to the pack"


# ---- durations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), (0, 0), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400)],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["soon", "5", "-5m", "5 minutes", True, None, "m"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="expected a duration like '5m'"):
        parse_duration(text)


def test_format_duration() -> None:
    assert format_duration(timedelta(seconds=5400)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"
