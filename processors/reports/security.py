"""Security, as aggregates for leadership: alerts per agency and severity, the sources
that caused most alerts, and how fast the SOC acknowledged them. Pure, apart from the
loader of its configuration (`load_security`).

An alert's agency is its `agency` label, set when it fired from the event that made it
fire (processors/agencies/labels.py: the log source, address or host the inventory
deploy/security/agencies.yaml gives it). An alert without a known one (fired before
the label existed, or `unknown`) falls back to its host's agency in the same
inventory: one list of servers to keep, not a second one for the report that drifts
from it.

Addresses inside the site's HOME_NET (the ranges the detections call internal: the site
file's `home_net` and every agency's networks, `load_security`) are never named: a
workstation that attacked is CSIRT case material, not a leadership figure, so they are
counted in one line. Outside sources are named: they are the attackers' addresses, which
the CSIRT shares with CERTs anyway.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.agencies import UNKNOWN as UNKNOWN_LABEL
from config.agencies import Inventory
from config.yaml_loader import ConfigErrors
from processors.reports import text
from processors.reports.model import Block, Chart, Section, Series, Table

Rows = Sequence[Mapping[str, Any]]
UNKNOWN = "Chưa xác định cơ quan"
NO_HOST = "Nhiều máy chủ / không xác định máy chủ"
TOP_SOURCES = 10


def agency_of(host: str, agencies: Inventory) -> str:
    if not host:
        return NO_HOST
    found = agencies.agency_of_host(host)
    return found.name_vi if found is not None else UNKNOWN


def agency_name(label: str, host: str, agencies: Inventory) -> str:
    """The name of an alert's agency: its label's, else its host's. A label naming an
    agency the inventory no longer lists is shown as it is rather than lost."""
    known = agencies.agencies.get(label)
    if known is not None:
        return known.name_vi
    if label and label != UNKNOWN_LABEL:
        return label
    return agency_of(host, agencies)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The machine itself and its own link, on every site whatever HOME_NET holds: never an
# outside attacker's address (the outside-login Sigma rule leaves loopback out as well).
LOCAL = tuple(
    ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10")
)
NO_HOME_NET = (
    "Chưa cấu hình dải mạng nội bộ (HOME_NET) nên không nêu địa chỉ nguồn gây cảnh báo:"
    " không phân biệt được địa chỉ nội bộ với địa chỉ bên ngoài."
)


class ConfigUnusable(ValueError):
    """A configuration file the report reads is malformed: one line naming the file and
    what is wrong, for a command's error or a job's log."""


@dataclass(frozen=True)
class SecurityConfig:
    agencies: Inventory
    home_net: tuple[Network, ...]


def load_security(site_file: Path, agencies_file: Path) -> SecurityConfig:
    """The agencies, and HOME_NET as the worker's detections get it
    (processors/catalog.py): the site file's `home_net` widened by every agency's
    networks. HOME_NET is empty when neither defines any, as a missing site file and an
    empty inventory leave it for the detections too."""
    # Imported here: the site file's parser brings pySigma, which the pure sections of
    # this module do not need.
    from processors.security.sigma.site import HOME_NET, Site, SiteError

    try:
        agencies = Inventory.load(agencies_file)
        site = Site.load(site_file).with_networks(HOME_NET, agencies.home_networks())
    except (ConfigErrors, SiteError) as error:
        # Their messages name the file and line already, one problem a line.
        raise ConfigUnusable("; ".join(str(error).splitlines())) from None
    home_net = tuple(ipaddress.ip_network(n) for n in site.networks.get(HOME_NET, ()))
    return SecurityConfig(agencies, home_net)


def load_home_net(site_file: Path, agencies_file: Path) -> tuple[Network, ...]:
    return load_security(site_file, agencies_file).home_net


def _inside(address: str, home_net: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in (*home_net, *LOCAL))


def agency_blocks(rows: Rows, agencies: Inventory) -> list[Block]:
    if not rows:
        return ["Không phát sinh cảnh báo an toàn thông tin nào trong kỳ."]
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for r in rows:
        name = agency_name(r.get("agency") or "", r["host"], agencies)
        counts[(name, int(r["severity"]))] += int(r["alerts"])
    names = sorted({a for a, _ in counts}, key=lambda a: (a in (UNKNOWN, NO_HOST), a))
    levels = sorted({s for _, s in counts})
    total = sum(counts.values())
    serious = sum(n for (_, s), n in counts.items() if s >= 3)
    return [
        f"Phát sinh {text.integer(total)} cảnh báo an toàn thông tin, trong đó"
        f" {text.integer(serious)} cảnh báo mức Cao hoặc Nghiêm trọng.",
        Chart(
            "Cảnh báo an toàn thông tin theo cơ quan và mức độ",
            names,
            [
                Series(
                    text.severity(s),
                    [float(counts[(a, s)]) for a in names],
                    text.SEVERITY_COLOUR.get(s),
                )
                for s in levels
            ],
            "security_by_host",
            kind="barh",
            unit="cảnh báo",
        ),
        Table(
            "Cảnh báo theo cơ quan và mức độ",
            ["Cơ quan", *[text.severity(s) for s in levels], "Tổng"],
            [
                [a, *[counts[(a, s)] for s in levels], sum(counts[(a, s)] for s in levels)]
                for a in names
            ],
            "security_by_host",
            numeric=frozenset(range(1, len(levels) + 2)),
        ),
    ]


def source_blocks(rows: Rows, home_net: Sequence[Network]) -> list[Block]:
    if not rows:
        return []
    if not home_net:
        # Without it every workstation would be named as an outside attacker; the
        # detections refuse a rule that needs HOME_NET then, and this table is left out.
        return [NO_HOME_NET]
    outside = [r for r in rows if not _inside(r["source_ip"], home_net)]
    inside = [r for r in rows if _inside(r["source_ip"], home_net)]
    table_rows: list[list[Any]] = [
        [r["source_ip"], r["alerts"], text.severity(r["severity"])] for r in outside[:TOP_SOURCES]
    ]
    if inside:
        table_rows.append(
            [
                f"Địa chỉ trong mạng nội bộ ({len(inside)} địa chỉ)",
                sum(int(r["alerts"]) for r in inside),
                text.severity(max(int(r["severity"]) for r in inside)),
            ]
        )
    return [
        Table(
            f"Nguồn tấn công gây nhiều cảnh báo nhất (tối đa {TOP_SOURCES} nguồn bên ngoài)",
            ["Địa chỉ nguồn", "Số cảnh báo", "Mức cao nhất"],
            table_rows,
            "security_sources",
            numeric=frozenset({1}),
            note="Địa chỉ nội bộ chỉ được tổng hợp, không nêu cụ thể.",
        )
    ]


def ack_blocks(rows: Rows) -> list[Block]:
    if not rows:
        return []
    return [
        Table(
            "Thời gian tiếp nhận cảnh báo (từ lúc phát sinh đến lúc được tiếp nhận)",
            ["Mức độ", "Số cảnh báo", "Đã tiếp nhận", "Tỷ lệ", "Trung vị", "90 % trong vòng"],
            [
                [
                    text.severity(r["severity"]),
                    r["alerts"],
                    r["acknowledged"],
                    text.percent(r["acknowledged"], r["alerts"]),
                    text.seconds(r["median_s"]),
                    text.seconds(r["p90_s"]),
                ]
                for r in rows
            ],
            "security_ack",
            numeric=frozenset({1, 2, 3, 4, 5}),
        )
    ]


def section(
    results: Mapping[str, Rows | None], agencies: Inventory, home_net: Sequence[Network]
) -> Section:
    return Section(
        "security",
        "An toàn thông tin",
        [
            *agency_blocks(results.get("security_by_host") or [], agencies),
            *source_blocks(results.get("security_sources") or [], home_net),
            *ack_blocks(results.get("security_ack") or []),
        ],
    )
