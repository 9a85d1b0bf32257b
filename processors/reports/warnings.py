"""Warnings issued: the public CAP warnings sent in the period (helper A's
`public_warnings`, one row per message) and the pest and epidemic alerts raised. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from processors.reports import text
from processors.reports.model import Block, Chart, Heading, Section, Series, Table

Rows = Sequence[Mapping[str, Any]]

KIND_VI = {
    "flood": "Lũ, ngập",
    "salinity": "Xâm nhập mặn",
    "air": "Chất lượng không khí",
    "pest": "Sâu bệnh hại cây trồng",
    "epidemic": "Dịch bệnh",
    "manual": "Ban hành thủ công",
}
MSG_TYPE_VI = {"Alert": "Phát mới", "Update": "Cập nhật", "Cancel": "Hủy bỏ"}
MSG_COLOUR = {"Alert": "#b3261e", "Update": "#e0b400", "Cancel": "#6b7785"}
CAP_SEVERITY_VI = {
    "Extreme": "Cực kỳ nghiêm trọng",
    "Severe": "Nghiêm trọng",
    "Moderate": "Trung bình",
    "Minor": "Nhẹ",
    "Unknown": "Chưa xác định",
}
NO_TABLE = (
    "Chưa có dữ liệu: bảng bản tin cảnh báo công khai (public_warnings) chưa được tạo"
    " trên hệ thống này, nên mục này không có số liệu."
)


def public_blocks(by_kind: Rows | None, listed: Rows | None) -> list[Block]:
    if by_kind is None:
        return [NO_TABLE]
    if not by_kind:
        return ["Trong kỳ không phát bản tin cảnh báo công khai nào."]
    kinds = sorted({r["kind"] for r in by_kind})
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in by_kind:
        counts[(r["kind"], r["msg_type"])] += int(r["messages"])
    incidents = sum(int(r["incidents"]) for r in by_kind if r["msg_type"] == "Alert")
    names = [KIND_VI.get(k, k) for k in kinds]
    chart = Chart(
        "Bản tin cảnh báo công khai đã phát theo loại",
        names,
        [
            Series(MSG_TYPE_VI[m], [float(counts[(k, m)]) for k in kinds], MSG_COLOUR[m])
            for m in ("Alert", "Update", "Cancel")
            if any(counts[(k, m)] for k in kinds)
        ],
        "public_warnings_by_kind",
        unit="bản tin",
    )
    blocks: list[Block] = [
        f"Trong kỳ đã phát {text.integer(sum(counts.values()))} bản tin cảnh báo công khai"
        f" (chuẩn CAP 1.2), trong đó {text.integer(incidents)} cảnh báo mới.",
        chart,
    ]
    if listed:
        blocks.append(
            Table(
                "Các bản tin đã phát",
                ["Thời điểm", "Loại", "Kiểu", "Mức độ", "Địa bàn", "Tiêu đề"],
                [
                    [
                        text.moment(r["sent"]),
                        KIND_VI.get(r["kind"], r["kind"]),
                        MSG_TYPE_VI.get(r["msg_type"], r["msg_type"]),
                        CAP_SEVERITY_VI.get(r["severity"], r["severity"]),
                        ", ".join(p for p in (r["district"], r["province"]) if p) or "—",
                        r["headline_vi"] + (" (ban hành thủ công)" if r["manual"] else ""),
                    ]
                    for r in listed
                ],
                "public_warnings_list",
                nowrap=frozenset({2}),
            )
        )
    return blocks


def pest_epidemic_blocks(rows: Rows) -> list[Block]:
    if not rows:
        return ["Không phát sinh cảnh báo sâu bệnh hay dịch bệnh nào trong kỳ."]
    label = {"pest": "Sâu bệnh hại", "epidemic": "Dịch bệnh"}
    return [
        Table(
            "Cảnh báo sâu bệnh và dịch bệnh theo địa bàn",
            ["Loại", "Huyện", "Số cảnh báo", "Mức cao nhất"],
            [
                [
                    label.get(r["kind"], r["kind"]),
                    r["district"] or "—",
                    r["alerts"],
                    text.severity(r["severity"]),
                ]
                for r in rows
            ],
            "pest_epidemic_alerts",
            numeric=frozenset({2}),
        )
    ]


def section(results: Mapping[str, Rows | None]) -> Section:
    return Section(
        "warnings",
        "Cảnh báo đã phát",
        [
            Heading("Bản tin cảnh báo công khai"),
            *public_blocks(
                results.get("public_warnings_by_kind"), results.get("public_warnings_list")
            ),
            Heading("Sâu bệnh hại cây trồng và dịch bệnh"),
            *pest_epidemic_blocks(results.get("pest_epidemic_alerts") or []),
        ],
    )
