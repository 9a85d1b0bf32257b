"""Security, as aggregates for leadership: alerts per agency and severity, the sources
that caused most alerts, and how fast the SOC acknowledged them. Pure.

Addresses inside the agencies' networks (private ranges) are never named: a workstation
that attacked is CSIRT case material, not a leadership figure, so they are counted in
one line. Outside sources are named: they are the attackers' addresses, which the CSIRT
shares with CERTs anyway.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from config.yaml_loader import load_model
from processors.reports import text
from processors.reports.model import Block, Chart, Section, Series, Table

Rows = Sequence[Mapping[str, Any]]
AGENCIES_FILE = Path(__file__).with_name("agencies.yaml")
UNKNOWN = "Chưa xác định cơ quan"
NO_HOST = "Nhiều máy chủ / không xác định máy chủ"
TOP_SOURCES = 10


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    prefix: str
    vi: str
    en: str


class Agencies(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    agencies: tuple[Agency, ...] = ()


def load_agencies(path: Path = AGENCIES_FILE) -> tuple[Agency, ...]:
    return load_model(path, Agencies, empty={}).agencies


def agency_of(host: str, agencies: Sequence[Agency]) -> str:
    if not host:
        return NO_HOST
    return next((a.vi for a in agencies if host.startswith(a.prefix)), UNKNOWN)


# Networks an agency's own machines use. Not ipaddress's is_private, which also counts
# the documentation ranges (203.0.113.0/24 …) that the simulators' attackers use.
INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


def _private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in INTERNAL)


def agency_blocks(rows: Rows, agencies: Sequence[Agency]) -> list[Block]:
    if not rows:
        return ["Không phát sinh cảnh báo an toàn thông tin nào trong kỳ."]
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for r in rows:
        counts[(agency_of(r["host"], agencies), int(r["severity"]))] += int(r["alerts"])
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


def source_blocks(rows: Rows) -> list[Block]:
    if not rows:
        return []
    outside = [r for r in rows if not _private(r["source_ip"])]
    inside = [r for r in rows if _private(r["source_ip"])]
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


def section(results: Mapping[str, Rows | None], agencies: Sequence[Agency]) -> Section:
    return Section(
        "security",
        "An toàn thông tin",
        [
            *agency_blocks(results.get("security_by_host") or [], agencies),
            *source_blocks(results.get("security_sources") or []),
            *ack_blocks(results.get("security_ack") or []),
        ],
    )
