"""Platform: how complete each station's data was, how much was ingested, and the
messages that could not be used (dead letters). Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from config.timezone import LOCAL_TZ
from processors.reports import text
from processors.reports.model import Block, Chart, Heading, Section, Series, Table

Rows = Sequence[Mapping[str, Any]]

TYPE_VI = {
    "air_quality": "Quan trắc không khí",
    "water_level": "Đo mực nước",
    "salinity": "Đo độ mặn",
    "camera": "Camera",
    "traffic": "Giao thông",
    "traffic_counter": "Đếm phương tiện",
    "light_trap": "Bẫy đèn",
    "weather": "Khí tượng",
}
KIND_VI = {
    "measurements": "Số liệu đo",
    "security_events": "Sự kiện an toàn thông tin",
    "camera_events": "Sự kiện camera",
    "dead_letters": "Bản tin lỗi",
}
WORST_SHOWN = 12


def expected(row: Mapping[str, Any], start: datetime, end: datetime) -> int:
    """Readings the device should have sent in the period: from the later of the period's
    start and its registration, one per declared interval."""
    since = max(start, row["created_at"])
    return max(int((end - since).total_seconds() // int(row["expected_interval_s"])), 1)


def completeness(rows: Rows, start: datetime, end: datetime) -> list[tuple[Mapping, float]]:
    """(row, share received, 0..1) per device; more than expected counts as complete."""
    return [(r, min(int(r["received"]) / expected(r, start, end), 1.0)) for r in rows]


def completeness_blocks(rows: Rows, start: datetime, end: datetime) -> list[Block]:
    if not rows:
        return ["Chưa có thiết bị nào được đăng ký."]
    shares = completeness(rows, start, end)
    by_type: dict[str, list[float]] = defaultdict(list)
    for r, share in shares:
        by_type[r["type"]].append(share)
    types = sorted(by_type)
    mean = sum(s for _, s in shares) / len(shares)
    worst = sorted(shares, key=lambda p: (p[1], p[0]["device_id"]))[:WORST_SHOWN]
    return [
        f"Tỷ lệ đầy đủ số liệu bình quân của {len(shares)} thiết bị là"
        f" {text.number(100 * mean)} %; {sum(1 for _, s in shares if s < 0.8)} thiết bị"
        " đạt dưới 80 %.",
        Chart(
            "Tỷ lệ đầy đủ số liệu bình quân theo loại thiết bị",
            [TYPE_VI.get(t, t) for t in types],
            [Series("Đầy đủ", [100 * sum(by_type[t]) / len(by_type[t]) for t in types], "#1f6fb2")],
            "completeness",
            kind="barh",
            unit="%",
            reference=(80.0, "80 %"),
        ),
        Table(
            f"Thiết bị có tỷ lệ đầy đủ thấp nhất (tối đa {WORST_SHOWN})",
            ["Thiết bị", "Loại", "Chu kỳ gửi", "Đã nhận", "Cần có", "Tỷ lệ"],
            [
                [
                    r["name"],
                    TYPE_VI.get(r["type"], r["type"]),
                    f"{r['expected_interval_s']} giây",
                    r["received"],
                    expected(r, start, end),
                    f"{text.number(100 * share)} %",
                ]
                for r, share in worst
            ],
            "completeness",
            numeric=frozenset({2, 3, 4, 5}),
        ),
    ]


def buckets(start: datetime, end: datetime, hourly: bool) -> list[datetime]:
    """Every step of the period in local time, naive, as the query's buckets are."""
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    moment, last = start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)
    found = []
    while moment < last:
        found.append(moment.replace(tzinfo=None))
        moment += step
    return found


def volume_blocks(
    volume: Rows, totals: Rows, start: datetime, end: datetime, hourly: bool
) -> list[Block]:
    label = "%H:%M" if hourly else "%d/%m"
    blocks: list[Block] = []
    if volume:
        # Steps without a reading are drawn as 0, not left out.
        counted = {r["bucket"]: float(r["readings"]) for r in volume}
        steps = buckets(start, end, hourly)
        blocks.append(
            Chart(
                "Số bản ghi đo đã nhận theo " + ("giờ" if hourly else "ngày"),
                [b.strftime(label) for b in steps],
                [Series("Bản ghi", [counted.get(b, 0.0) for b in steps], "#1f6fb2")],
                "ingest_volume",
                kind="line" if len(steps) > 12 else "bar",
                unit="bản ghi",
            )
        )
    if totals:
        blocks.append(
            Table(
                "Dữ liệu đã lưu trong kỳ",
                ["Loại dữ liệu", "Số bản ghi"],
                [[KIND_VI.get(r["kind"], r["kind"]), text.integer(r["records"])] for r in totals],
                "ingest_totals",
                numeric=frozenset({1}),
            )
        )
    return blocks


def dead_letter_blocks(rows: Rows) -> list[Block]:
    if not rows:
        return ["Không có bản tin lỗi (dead letter) nào trong kỳ."]
    return [
        Table(
            "Bản tin lỗi theo đường truyền, định dạng và nguyên nhân",
            ["Đường truyền", "Định dạng", "Nguyên nhân", "Số bản tin"],
            [[r["transport"], r["format"] or "—", r["reason"], r["letters"]] for r in rows],
            "dead_letters",
            numeric=frozenset({3}),
        )
    ]


def section(
    results: Mapping[str, Rows | None], start: datetime, end: datetime, hourly: bool
) -> Section:
    return Section(
        "platform",
        "Vận hành nền tảng",
        [
            Heading("Độ đầy đủ số liệu"),
            *completeness_blocks(results.get("completeness") or [], start, end),
            Heading("Lưu lượng dữ liệu"),
            *volume_blocks(
                results.get("ingest_volume") or [],
                results.get("ingest_totals") or [],
                start,
                end,
                hourly,
            ),
            *dead_letter_blocks(results.get("dead_letters") or []),
        ],
    )
