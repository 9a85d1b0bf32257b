"""Vietnamese number, time and severity wording shared by the sections. Pure.

Vietnamese writes 1.234,5 (dot for thousands, comma for decimals); Python's locale
module would depend on the machine's installed locales, so this is done by hand.
"""

from __future__ import annotations

from datetime import datetime

from config.timezone import LOCAL_TZ

SEVERITY_VI = {0: "Thông tin", 1: "Thấp", 2: "Trung bình", 3: "Cao", 4: "Nghiêm trọng"}
SEVERITY_COLOUR = {0: "#9aa5b1", 1: "#4c9f70", 2: "#e0b400", 3: "#e06c00", 4: "#b3261e"}
DOMAIN_VI = {
    "environment": "Môi trường",
    "security": "An toàn thông tin",
    "camera": "Camera",
    "health": "Tình trạng thiết bị",
    "plates": "Biển số theo dõi",
    "pests": "Sâu bệnh",
    "epidemics": "Dịch bệnh",
}


def integer(value: float | int | None) -> str:
    if value is None:
        return "—"
    return f"{round(value):,}".replace(",", ".")


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def percent(part: float, whole: float) -> str:
    return "—" if not whole else f"{number(100.0 * part / whole)} %"


def hours(value: float | None) -> str:
    """3,25 → '3 giờ 15 phút'; under an hour in minutes."""
    if value is None:
        return "—"
    minutes = round(value * 60)
    whole, rest = divmod(minutes, 60)
    if whole == 0:
        return f"{rest} phút"
    return f"{whole} giờ" if rest == 0 else f"{whole} giờ {rest:02d} phút"


def seconds(value: float | None) -> str:
    return "—" if value is None else hours(value / 3600.0)


def moment(value: datetime | None) -> str:
    """Local time as operators read it: 14:05 02/12/2026."""
    return "—" if value is None else value.astimezone(LOCAL_TZ).strftime("%H:%M %d/%m/%Y")


def severity(level: int | None) -> str:
    return "—" if level is None else SEVERITY_VI.get(int(level), str(level))
