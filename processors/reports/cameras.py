"""Cameras: time offline, intrusions and the other camera alerts, watch-list plate hits.
Counts only: no plate and no picture reaches the report (personal data, Decree
13/2023/NĐ-CP). Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from processors.reports import text
from processors.reports.model import Block, Chart, Section, Series, Table

Rows = Sequence[Mapping[str, Any]]

ALERT_KIND_VI = {
    "camera.intrusion": "Xâm nhập vùng cấm",
    "camera.loitering": "Lảng vảng bất thường",
    "camera.crowding": "Tụ tập đông người",
    "camera.plate_watch": "Phương tiện trong danh sách theo dõi (lượt phát hiện)",
}
TOP_OFFLINE = 12


def offline_blocks(rows: Rows) -> list[Block]:
    if not rows:
        return ["Các camera hoạt động liên tục, không ghi nhận mất kết nối hay mất hình."]
    hours: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    episodes: dict[str, int] = defaultdict(int)
    for r in rows:
        hours[r["name"]][r["rule"]] += float(r["hours"] or 0)
        episodes[r["name"]] += int(r["episodes"])
    names = sorted(hours, key=lambda n: (-sum(hours[n].values()), n))[:TOP_OFFLINE]
    total = sum(sum(h.values()) for h in hours.values())
    return [
        f"{len(hours)} camera bị gián đoạn trong kỳ, tổng thời gian gián đoạn {text.hours(total)}.",
        Chart(
            "Thời gian camera gián đoạn trong kỳ",
            names,
            [
                Series("Mất kết nối", [hours[n]["health.offline"] for n in names], "#6b7785"),
                Series("Mất hình", [hours[n]["camera.video_loss"] for n in names], "#b3261e"),
            ],
            "camera_offline",
            kind="barh",
            unit="giờ",
        ),
        Table(
            "Camera gián đoạn nhiều nhất",
            ["Camera", "Số lần", "Mất kết nối", "Mất hình"],
            [
                [
                    n,
                    episodes[n],
                    text.hours(hours[n]["health.offline"]),
                    text.hours(hours[n]["camera.video_loss"]),
                ]
                for n in names
            ],
            "camera_offline",
            numeric=frozenset({1, 2, 3}),
        ),
    ]


def alert_blocks(kinds: Rows, intrusions: Rows) -> list[Block]:
    counts = {r["rule"]: r for r in kinds}
    blocks: list[Block] = [
        Table(
            "Sự kiện camera trong kỳ (chỉ thống kê số lượng)",
            ["Loại sự kiện", "Số cảnh báo", "Số camera"],
            [
                [
                    vi,
                    counts[rule]["alerts"] if rule in counts else 0,
                    counts[rule]["cameras"] if rule in counts else 0,
                ]
                for rule, vi in ALERT_KIND_VI.items()
            ],
            "camera_alerts",
            numeric=frozenset({1, 2}),
            note="Biển số xe là dữ liệu cá nhân (Nghị định 13/2023/NĐ-CP): báo cáo chỉ"
            " nêu số lượt phát hiện, không nêu biển số.",
        )
    ]
    if intrusions:
        blocks.append(
            Chart(
                "Xâm nhập vùng cấm theo camera",
                [r["name"] for r in intrusions],
                [Series("Xâm nhập", [float(r["alerts"]) for r in intrusions], "#b3261e")],
                "camera_intrusions",
                kind="barh",
                unit="cảnh báo",
            )
        )
    return blocks


def section(results: Mapping[str, Rows | None]) -> Section:
    return Section(
        "cameras",
        "Camera giám sát",
        [
            *offline_blocks(results.get("camera_offline") or []),
            *alert_blocks(
                results.get("camera_alerts") or [], results.get("camera_intrusions") or []
            ),
        ],
    )
