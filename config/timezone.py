"""Local time of the province: Vietnam, UTC+7 all year.

Vietnam has kept UTC+7 without daylight saving since 1975, so a fixed offset is exact for
every date the system sees and needs no tz database. It is what operators read (alert
texts, e-mails, CAP), what a "day" of the daily AQI means, and the zone assumed for
sender timestamps that carry none (RFC 3164 syslog, some CEF and Windows logs), where
routes name zones by IANA name: LOCAL_TZ_NAME.
"""

from __future__ import annotations

from datetime import timedelta, timezone

LOCAL_TZ_NAME = "Asia/Ho_Chi_Minh"
LOCAL_TZ = timezone(timedelta(hours=7), "ICT")
