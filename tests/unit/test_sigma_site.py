"""The site configuration (deploy/security/site.yaml): validation, and HOME_NET."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.security.sigma import SITE_FILE, SigmaEngine, Site, SiteError

OUTSIDE_LOGIN = "3af87e78-b52a-4747-a1a9-f566a5635da1"
SERVICE_LOGON = "6c1d2b8e-3f0a-4d7e-9b52-8a4e1f0c7d93"


def login(ip: str) -> dict:
    return {"event": {"outcome": "success", "category": "authentication"}, "source": {"ip": ip}}


def test_the_shipped_site_file_loads_and_defines_home_net() -> None:
    site = Site.load(SITE_FILE)
    assert "10.0.0.0/8" in site.networks["home_net"]
    assert site.values["service_accounts"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"networks": {"home_net": []}}, "networks.home_net must be a non-empty list"),
        ({"networks": {"home_net": ["10.0.0.300/8"]}}, "networks.home_net: "),
        ({"networks": {"home_net": "10.0.0.0/8"}}, "non-empty list of CIDR"),
        ({"values": {"admins": [None]}}, "values.admins must list strings"),
        ({"hosts": {}}, "top level may only have networks, values"),
        ({"networks": {"x": ["10.0.0.0/8"]}, "values": {"x": ["a"]}}, "x in both"),
    ],
)
def test_bad_site_files_are_refused_with_the_entry(data: dict, message: str) -> None:
    with pytest.raises(SiteError, match=message.replace(".", r"\.")):
        Site.from_dict(data, "site.yaml")


def test_a_missing_file_is_an_empty_site(tmp_path: Path) -> None:
    assert Site.load(tmp_path / "none.yaml") == Site()


def test_host_bits_are_cleared_and_ranges_added_once() -> None:
    site = Site.from_dict({"networks": {"home_net": ["10.1.2.3/16"]}})
    assert site.networks["home_net"] == ("10.1.0.0/16",)
    more = site.with_networks("home_net", ["10.1.0.0/16", "203.0.113.0/24"])
    assert more.networks["home_net"] == ("10.1.0.0/16", "203.0.113.0/24")
    assert site.networks["home_net"] == ("10.1.0.0/16",)  # the original is unchanged


def test_outside_login_rule_reads_home_net_not_a_fixed_range() -> None:
    shipped = Site.load(SITE_FILE)
    site = Site({**shipped.networks, "home_net": ("172.16.0.0/12",)}, shipped.values)
    engine = SigmaEngine.load(site=site)
    assert engine.rejected == []

    def fires(ip: str) -> bool:
        return OUTSIDE_LOGIN in {r.info.key for r in engine.matching_rules(login(ip))}

    assert not fires("172.20.1.5")
    assert fires("10.1.2.3")  # the old hard-coded 10/8 is outside this site's network
    assert fires("203.0.113.5")
    assert not fires("127.0.0.1") and not fires("::1")
    # The agencies' ranges join HOME_NET.
    engine = SigmaEngine.load(site=site.with_networks("home_net", ["10.0.0.0/8"]))
    assert OUTSIDE_LOGIN not in {r.info.key for r in engine.matching_rules(login("10.1.2.3"))}


def test_without_home_net_the_rule_is_rejected_not_silently_wide() -> None:
    rejected = {r.rule.split(" ")[0]: r.reason for r in SigmaEngine.load(site=Site()).rejected}
    assert "%home_net%" in rejected[OUTSIDE_LOGIN]
    assert "%service_accounts%" in rejected[SERVICE_LOGON]


def test_service_account_logon_reads_the_site_lists() -> None:
    engine = SigmaEngine.load(site=Site.load(SITE_FILE))

    def fires(user: str, ip: str, logon_type: str = "10") -> bool:
        data = {"LogonType": logon_type, "TargetUserName": user, "IpAddress": ip}
        event = {"winlog": {"channel": "Security", "event_id": "4624", "event_data": data}}
        return SERVICE_LOGON in {r.info.key for r in engine.matching_rules(event)}

    assert fires("svc_backup", "203.0.113.4")  # svc_* in values.service_accounts
    assert fires("SQL_SERVICE", "10.1.1.1", "2")
    assert not fires("svc_backup", "10.0.250.7")  # from networks.admin_networks
    assert not fires("sql_service", "10.1.1.1", "3")  # a network logon: what services do
    assert not fires("nv.an", "203.0.113.4")


def test_the_worker_s_detectors_take_home_net_from_site_and_agencies(tmp_path: Path) -> None:
    """processors.catalog.load_detectors: Settings.security_site (IOC_SECURITY_SITE),
    widened by every agency's networks (Settings.agencies_file)."""
    from config.settings import Settings
    from processors.catalog import load_detectors

    site = tmp_path / "site.yaml"
    site.write_text(SITE_FILE.read_text(encoding="utf-8").replace("10.0.0.0/8", "10.9.0.0/16"))
    agencies = tmp_path / "agencies.yaml"
    agencies.write_text(
        "agencies:\n"
        "  - {id: so-tttt, name_vi: Sở TT&TT, name_en: DIC, networks: [198.51.100.0/24]}\n",
        encoding="utf-8",
    )
    settings = Settings(security_site=site, agencies_file=agencies)
    detectors = load_detectors(settings)
    (sigma,) = [d.inner for d in detectors.security if d.name == "sigma"]  # type: ignore[attr-defined]

    def fires(ip: str) -> bool:
        return OUTSIDE_LOGIN in {r.info.key for r in sigma.engine.matching_rules(login(ip))}

    assert not fires("198.51.100.20")  # an agency's range is HOME_NET
    assert not fires("10.9.1.1")  # the site's own
    assert fires("10.1.1.1")  # 10/8 is no longer in this site's HOME_NET
