"""Environment: daily VN_AQI per station, QCVN 05:2023 exceedances, flood and salinity
episodes with their peaks and durations. Pure: query rows in, a Section out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from processors.reports import text
from processors.reports.model import Block, Chart, Heading, Section, Series, Table

Rows = Sequence[Mapping[str, Any]]

# VN_AQI categories (processors/environment/aqi_tables.yaml, Decision 1459/QĐ-TCMT).
AQI_CATEGORIES = (
    ("good", "Tốt", "#00e400"),
    ("moderate", "Trung bình", "#ffff00"),
    ("poor", "Kém", "#ff7e00"),
    ("bad", "Xấu", "#ff0000"),
    ("very_bad", "Rất xấu", "#8f3f97"),
    ("hazardous", "Nguy hại", "#7e0023"),
)
_CATEGORY_KEY = {vi.lower(): key for key, vi, _ in AQI_CATEGORIES}
MISSING = ("missing", "Không đủ số liệu", "#d0d4d9")
# The severities flood.yaml and salinity.yaml give their levels.
FLOOD_LEVEL = {2: "Báo động I", 3: "Báo động II", 4: "Báo động III"}
SALINITY_LEVEL = {2: "Mức theo dõi", 3: "Mức cảnh báo"}
KIND = {"env.water_level": ("Lũ", "m"), "env.salinity": ("Mặn", "‰")}
POLLUTANT = {"pm25": "PM2,5", "pm10": "PM10", "o3": "O₃", "no2": "NO₂", "so2": "SO₂", "co": "CO"}


def _category(value: str) -> str:
    return _CATEGORY_KEY.get(value.lower(), value)


def aqi_blocks(rows: Rows, period_days: int = 1) -> list[Block]:
    if not rows:
        return ["Không có số liệu VN_AQI ngày của trạm nào trong kỳ."]
    stations = sorted({r["station"] for r in rows})
    days: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        days[(r["station"], _category(r["category"]))] += int(r["days"])
    for station in stations:  # days without a daily VN_AQI (too few valid hours)
        counted = sum(n for (s, _), n in days.items() if s == station)
        days[(station, MISSING[0])] = max(period_days - counted, 0)
    present = [c for c in (*AQI_CATEGORIES, MISSING) if any(days[(s, c[0])] for s in stations)]
    series = [
        Series(vi, [float(days[(s, key)]) for s in stations], colour) for key, vi, colour in present
    ]
    chart = Chart(
        "Số ngày theo mức chất lượng không khí (VN_AQI ngày), mỗi trạm",
        stations,
        series,
        "aqi_days",
        kind="barh",
        unit="ngày",
    )
    table = Table(
        "Số ngày theo mức VN_AQI",
        ["Trạm", *[vi for _, vi, _ in present]],
        [[s, *[days[(s, key)] for key, _, _ in present]] for s in stations],
        "aqi_days",
        numeric=frozenset(range(1, len(present) + 1)),
    )
    bad = sum(n for (_, cat), n in days.items() if cat in {"bad", "very_bad", "hazardous"})
    good = sum(n for (_, cat), n in days.items() if cat == "good")
    total = sum(n for (_, cat), n in days.items() if cat != MISSING[0])
    summary = (
        f"Trong kỳ có {text.integer(total)} ngày-trạm có chỉ số VN_AQI ngày tại"
        f" {len(stations)} trạm quan trắc không khí; {text.integer(good)} ngày-trạm ở mức Tốt"
        f" và {text.integer(bad)} ngày-trạm ở mức Xấu trở lên."
    )
    return [summary, chart, table]


def aqi_day_blocks(rows: Rows) -> list[Block]:
    """A one-day report: each station's daily VN_AQI, coloured by its category."""
    if not rows:
        return ["Không có số liệu VN_AQI ngày của trạm nào trong ngày."]
    stations = [r["station"] for r in rows]
    keys = [_category(r["category"] or "") for r in rows]
    series = [
        Series(
            vi,
            [float(r["aqi"]) if k == key else 0.0 for r, k in zip(rows, keys, strict=True)],
            colour,
        )
        for key, vi, colour in AQI_CATEGORIES
        if key in keys
    ]
    worst = rows[0]
    name = {key: vi for key, vi, _ in AQI_CATEGORIES}
    return [
        f"VN_AQI ngày cao nhất là {worst['aqi']} tại {worst['station']}"
        f" (mức {name.get(keys[0], worst['category'])}); {sum(k == 'good' for k in keys)}/"
        f"{len(rows)} trạm ở mức Tốt.",
        Chart(
            "VN_AQI ngày của các trạm quan trắc không khí",
            stations,
            series,
            "aqi_daily_values",
            kind="barh",
            unit="VN_AQI",
        ),
        Table(
            "VN_AQI ngày theo trạm",
            ["Trạm", "VN_AQI", "Mức", "Thông số chính"],
            [
                [
                    r["station"],
                    r["aqi"],
                    name.get(k, r["category"]),
                    POLLUTANT.get(r["dominant"] or "", r["dominant"] or "—"),
                ]
                for r, k in zip(rows, keys, strict=True)
            ],
            "aqi_daily_values",
            numeric=frozenset({1}),
        ),
    ]


def qcvn_blocks(rows: Rows) -> list[Block]:
    if not rows:
        return ["Không ghi nhận đợt vượt giới hạn QCVN 05:2023/BTNMT nào trong kỳ."]
    total = sum(int(r["episodes"]) for r in rows)
    return [
        f"Ghi nhận {text.integer(total)} đợt nồng độ trung bình vượt giới hạn QCVN 05:2023/BTNMT.",
        Table(
            "Đợt vượt QCVN 05:2023/BTNMT",
            ["Thông số", "Thời gian trung bình", "Số đợt", "Số trạm"],
            [
                [
                    POLLUTANT.get(r["pollutant"], r["pollutant"]),
                    r["period"],
                    r["episodes"],
                    r["stations"],
                ]
                for r in rows
            ],
            "qcvn_exceedances",
            numeric=frozenset({2, 3}),
        ),
    ]


def _level(row: Mapping[str, Any]) -> str:
    levels = FLOOD_LEVEL if row["rule"] == "env.water_level" else SALINITY_LEVEL
    return levels.get(int(row["peak_severity"]), text.severity(row["peak_severity"]))


def _peak(row: Mapping[str, Any]) -> str:
    unit = KIND.get(row["rule"], ("", ""))[1]
    return "—" if row["peak"] is None else f"{text.number(row['peak'], 2)} {unit}"


def water_blocks(rows: Rows) -> list[Block]:
    if not rows:
        return ["Không có đợt lũ vượt mức báo động hay xâm nhập mặn vượt ngưỡng trong kỳ."]
    floods = [r for r in rows if r["rule"] == "env.water_level"]
    salinity = [r for r in rows if r["rule"] == "env.salinity"]
    table = Table(
        "Các đợt lũ và xâm nhập mặn",
        [
            "Loại",
            "Trạm",
            "Huyện",
            "Mức cao nhất",
            "Đỉnh trong kỳ",
            "Bắt đầu",
            "Kết thúc",
            "Trong kỳ",
        ],
        [
            [
                KIND.get(r["rule"], (r["rule"],))[0],
                r["station"],
                r["district"] or "—",
                _level(r),
                _peak(r),
                text.moment(r["started_at"]),
                text.moment(r["resolved_at"]) if r["resolved_at"] else "đang diễn ra",
                text.hours(r["hours"]),
            ]
            for r in rows
        ],
        "water_episodes",
        numeric=frozenset({4, 7}),
        nowrap=frozenset({0, 2, 3}),
    )
    stations = sorted({r["station"] for r in rows})
    hours: dict[tuple[str, str], float] = defaultdict(float)
    for r in rows:
        hours[(r["station"], r["rule"])] += float(r["hours"] or 0)
    chart = Chart(
        "Thời gian lũ vượt báo động và xâm nhập mặn trong kỳ, mỗi trạm",
        stations,
        [
            Series(label, [hours[(s, rule)] for s in stations], colour)
            for rule, label, colour in (
                ("env.water_level", "Lũ vượt báo động", "#1f6fb2"),
                ("env.salinity", "Mặn vượt ngưỡng", "#c47f00"),
            )
            if any(hours[(s, rule)] for s in stations)
        ],
        "water_episodes",
        kind="barh",
        unit="giờ",
    )
    summary = (
        f"Ghi nhận {len(floods)} đợt mực nước vượt mức báo động và {len(salinity)} đợt"
        " độ mặn vượt ngưỡng (tính các đợt có thời gian nằm trong kỳ báo cáo)."
    )
    return [summary, chart, table]


def section(results: Mapping[str, Rows | None], period_days: int = 1) -> Section:
    blocks: list[Block] = [
        Heading("Chất lượng không khí"),
        *(
            aqi_day_blocks(results.get("aqi_daily_values") or [])
            if period_days == 1
            else aqi_blocks(results.get("aqi_days") or [], period_days)
        ),
        *qcvn_blocks(results.get("qcvn_exceedances") or []),
        Heading("Lũ và xâm nhập mặn"),
        *water_blocks(results.get("water_episodes") or []),
    ]
    return Section("environment", "Môi trường", blocks)
