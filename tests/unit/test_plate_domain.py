"""Watch-listed plate alerts (domain plates) are personal data: who may see and handle
them, and every reader that is not the API (channels, dashboards, e-mail, console)
keeping them out unless told otherwise. The API paths are tested on the real stack in
tests/integration/test_plate_alert_visibility.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from api.auth import acting_domains, may_act, may_see, visible_domains
from dashboards import generate, reference
from events.alerts import BROADCAST_DOMAINS, PERSONAL_DATA, Domain, Severity
from processors.alerts.channels import DEFAULT_CHANNELS_FILE, load_channels
from processors.alerts.notify.email.render import DOMAIN_VI
from store.users import Role

REPO = Path(__file__).resolve().parents[2]
CONSOLE = REPO / "api" / "console"
# A table name read by a panel: FROM/JOIN alerts (not alert_history, not a column).
READS_ALERTS = re.compile(r"\b(?:FROM|JOIN)\s+alerts\b(?!_)", re.IGNORECASE)
DOMAIN_EQUALS = re.compile(r"\bdomain\s*=\s*'(\w+)'")
DOMAIN_IN = re.compile(r"\bdomain\s+IN\s*\(([^)]*)\)", re.IGNORECASE)


def test_only_operators_and_admins_see_and_handle_plate_alerts() -> None:
    for role in Role:
        expected = role in (Role.OPERATOR, Role.ADMIN)
        assert may_see(role, "plates") is expected, role
        assert may_act(role, "plates") is expected, role
        assert (Domain.PLATES in visible_domains(role)) is expected, role
        assert (Domain.PLATES in acting_domains(role)) is expected, role


def test_the_watch_list_rule_raises_plates_alerts() -> None:
    from processors.cameras.records import CameraRecordSink

    assert CameraRecordSink.load().pack.rule == "camera.plate_watch"
    assert {Domain.PLATES} == PERSONAL_DATA
    assert Domain.PLATES not in BROADCAST_DOMAINS
    assert set(BROADCAST_DOMAINS) | PERSONAL_DATA == set(Domain)


def test_no_shipped_channel_carries_plate_alerts() -> None:
    config = load_channels(DEFAULT_CHANNELS_FILE)
    assert config.for_alert(Domain.PLATES, Severity.CRITICAL) == []
    # The MQTT broadcast still carries every other domain, so the test above is not
    # passing because the broadcast went quiet.
    broadcast = config.channel("mqtt")
    assert broadcast is not None
    assert set(broadcast.domains) == set(BROADCAST_DOMAINS)
    assert broadcast in config.for_alert(Domain.CAMERA, Severity.INFO)


def _commented_example() -> str:
    """The commented plate channel at the end of channels.yaml, uncommented."""
    text = DEFAULT_CHANNELS_FILE.read_text(encoding="utf-8")
    lines = text[text.index("  # - name: plate-watch-desk") :].splitlines()
    return "\n".join(line.replace("  # ", "  ", 1) for line in lines if line.startswith("  # "))


def test_the_commented_private_channel_is_valid_and_the_only_one_to_get_plates(
    tmp_path: Path,
) -> None:
    shipped = DEFAULT_CHANNELS_FILE.read_text(encoding="utf-8")
    enabled = tmp_path / "channels.yaml"
    enabled.write_text(shipped + "\n" + _commented_example() + "\n", encoding="utf-8")
    config = load_channels(enabled)
    assert [c.name for c in config.for_alert(Domain.PLATES, Severity.HIGH)] == ["plate-watch-desk"]
    assert config.channel("plate-watch-desk") not in config.for_alert(
        Domain.CAMERA, Severity.CRITICAL
    )


def test_a_channel_with_no_domains_gets_everything_but_plates(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "channels:\n  - name: all\n    type: webhook\n    min_severity: info\n"
        "    settings: {url: 'http://127.0.0.1:9/x', secret: {env: HOOK_SECRET}}\n",
        encoding="utf-8",
    )
    config = load_channels(path)
    for domain in Domain:
        got = [c.name for c in config.for_alert(domain, Severity.CRITICAL)]
        assert got == ([] if domain in PERSONAL_DATA else ["all"]), domain


def _panel_sql() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(generate.JSON_DIR.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        panels = list(board.get("panels", []))
        panels += [inner for panel in board.get("panels", []) for inner in panel.get("panels", [])]
        for panel in panels:
            for target in panel.get("targets", []):
                found.append((path.stem, panel.get("title", ""), target.get("rawSql", "")))
        for variable in board.get("templating", {}).get("list", []):
            query = variable.get("query")
            if isinstance(query, str):
                found.append((path.stem, f"${variable.get('name')}", query))
    return found


def test_every_dashboard_query_on_alerts_names_a_domain_that_is_not_personal() -> None:
    readers = [(uid, title, sql) for uid, title, sql in _panel_sql() if READS_ALERTS.search(sql)]
    assert readers, "no panel reads alerts: the pattern no longer matches the SQL"
    for uid, title, sql in readers:
        listed = (re.findall(r"'(\w+)'", group) for group in DOMAIN_IN.findall(sql))
        domains = set(DOMAIN_EQUALS.findall(sql)).union(*listed)
        assert domains, f"{uid} / {title}: reads alerts without naming its domain"
        assert not domains & {d.value for d in PERSONAL_DATA}, f"{uid} / {title}"
    assert "plates" not in {domain for domain, _ in reference.DOMAINS}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_console_names_the_domain_in_both_languages(lang: str) -> None:
    console = (CONSOLE / "console.js").read_text(encoding="utf-8")
    words = {"vi": "Biển số theo dõi", "en": "Watch-listed plates"}[lang]
    assert f'd_plates: "{words}",' in console
    page = (CONSOLE / "index.html").read_text(encoding="utf-8")
    assert '<option value="plates" data-i18n="d_plates">Biển số theo dõi</option>' in page
    assert '"plates"' in (CONSOLE / "overview.js").read_text(encoding="utf-8")


def test_the_dashboard_reader_is_denied_every_personal_data_domain() -> None:
    # Row security (migration 15) names the domains it hides; a new personal-data domain
    # needs a migration that hides it too.
    from store.migrations.m0015_plate_alerts_hidden import HIDDEN_DOMAINS

    assert set(HIDDEN_DOMAINS) == {d.value for d in PERSONAL_DATA}


def test_every_domain_has_its_email_word() -> None:
    assert set(DOMAIN_VI) == {d.value for d in Domain}
