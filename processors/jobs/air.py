"""Hourly VN_AQI and QCVN 05:2023 per station, when each hour has closed.

Each station's hours are computed once, in order, from the first hour not yet in
aqi_hourly (so a restart or an outage backfills), from the hourly rollup
(measurements_1h: means of GOOD and SUSPECT readings only, so a reading flagged bad never
reaches the AQI). The rollup is brought up to date first (on TimescaleDB it is a real-time
continuous aggregate). Stations are the devices heard from within the backfill window
that have air-quality means: no scan of raw readings. The AQI series is stored with its
category and colour, and each local (UTC+7) day that has closed gets its daily VN_AQI
in aqi_daily; signals go to the alert manager like any detector's.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import orjson
import psycopg
from psycopg.types.json import Jsonb

from config.timezone import LOCAL_TZ
from processors import state as state_store
from processors.alerts.manager import AlertManager
from processors.environment.aqi import HOURLY_GASES, PM_METRICS, AqiResult, daily_aqi
from processors.environment.aqi_signals import AqiOutcome, aqi_signal, qcvn_signals
from processors.environment.averaging import daily_inputs, day_hours, hour_start
from processors.environment.engine import RuleBook
from processors.environment.engine.model import AqiRule, QcvnRule
from store import rollups

HOUR = timedelta(hours=1)
# Readings may arrive a little late; an hour is computed this long after it closed.
GRACE = timedelta(minutes=2)
# How far back an outage is backfilled; how much history an hour's means need (24h QCVN).
BACKFILL = timedelta(hours=48)
HISTORY = timedelta(hours=24)
METRICS = sorted({*HOURLY_GASES, *PM_METRICS, "o3", "pm25", "pm10", "co", "so2", "no2"})

Series = dict[str, list[tuple[datetime, float]]]


class AirQualityJob:
    def __init__(self, manager: AlertManager, book: RuleBook) -> None:
        self.manager = manager
        self.aqi_rules = [r for r in book.of_kind("aqi") if isinstance(r, AqiRule)]
        self.qcvn_rules = [r for r in book.of_kind("qcvn") if isinstance(r, QcvnRule)]

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int:
        last_closed = hour_start(now - GRACE) - HOUR
        hours = 0
        for device_id, start in self._pending(conn, last_closed, now):
            hours += self._station(conn, device_id, start, last_closed)
        return hours

    def _pending(
        self, conn: psycopg.Connection, last_closed: datetime, now: datetime
    ) -> list[tuple[str, datetime]]:
        """Stations with air means and the first hour of theirs still to compute."""
        rollups.refresh(conn)
        horizon = hour_start(now - BACKFILL)
        rows = conn.execute(
            "SELECT s.device_id, (SELECT max(hour) FROM aqi_hourly a"
            " WHERE a.device_id = s.device_id),"
            " (SELECT min(bucket) FROM measurements_1h r WHERE r.device_id = s.device_id"
            "  AND r.metric = ANY(%s) AND r.bucket >= %s)"
            " FROM device_last_seen s WHERE s.last_seen >= %s ORDER BY s.device_id",
            (METRICS, horizon, horizon),
        ).fetchall()
        pending = []
        for device_id, last_done, first_mean in rows:
            if first_mean is None:
                continue
            start = first_mean if last_done is None else last_done + HOUR
            if start <= last_closed:
                pending.append((device_id, max(start, horizon)))
        return pending

    def _station(
        self, conn: psycopg.Connection, device_id: str, start: datetime, last: datetime
    ) -> int:
        series = hourly_means(conn, device_id, start - HISTORY, last + HOUR)
        keys = [f"{device_id}|aqi", f"{device_id}|qcvn"]
        states = state_store.lock_states(conn, "air", keys)
        aqi_state, qcvn_state = states.get(keys[0]), states.get(keys[1])
        hour, signals, done, days = start, [], 0, set()
        while hour <= last:
            days.add(hour.astimezone(LOCAL_TZ).date())
            upto = {m: [p for p in points if p[0] <= hour] for m, points in series.items()}
            for rule in self.aqi_rules:
                outcome = aqi_signal(rule, device_id, upto, hour, aqi_state)
                aqi_state = outcome.state
                _store_hour(conn, device_id, hour, outcome)
                signals += [outcome.signal] if outcome.signal else []
            for qrule in self.qcvn_rules:
                qcvn = qcvn_signals(qrule, device_id, upto, hour, qcvn_state)
                qcvn_state = qcvn.state
                signals += qcvn.signals
            hour += HOUR
            done += 1
        state_store.save_states(conn, "air", {keys[0]: aqi_state, keys[1]: qcvn_state})
        for day in sorted(days):
            if day_hours(day)[1] <= last + HOUR:  # the local day is over
                _store_day(conn, device_id, day, daily_aqi(daily_inputs(series, day)))
        self.manager.apply(conn, signals)
        return done


def hourly_means(
    conn: psycopg.Connection, device_id: str, start: datetime, end: datetime
) -> Series:
    series: Series = defaultdict(list)
    for metric, hour, mean in conn.execute(
        "SELECT metric, bucket, avg FROM measurements_1h WHERE device_id = %s"
        " AND metric = ANY(%s) AND bucket >= %s AND bucket < %s ORDER BY metric, bucket",
        (device_id, METRICS, start, end),
    ):
        series[metric].append((hour, float(mean)))
    return dict(series)


def _store_hour(
    conn: psycopg.Connection, device_id: str, hour: datetime, outcome: AqiOutcome
) -> None:
    result = outcome.result
    conn.execute(
        "INSERT INTO aqi_hourly (device_id, hour, aqi, category, colour, dominant,"
        " sub_indices, inputs) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (device_id, hour) DO UPDATE SET aqi = excluded.aqi,"
        " category = excluded.category, colour = excluded.colour,"
        " dominant = excluded.dominant, sub_indices = excluded.sub_indices,"
        " inputs = excluded.inputs, computed_at = now()",
        (
            device_id,
            hour,
            result.aqi,
            result.category,
            _hex(result.colour),
            result.dominant,
            _json(dict(result.sub_indices)),
            _json(dict(result.concentrations)),
        ),
    )


def _store_day(conn: psycopg.Connection, device_id: str, day: date, result: AqiResult) -> None:
    conn.execute(
        "INSERT INTO aqi_daily (device_id, day, aqi, category, colour, dominant, sub_indices)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, day) DO UPDATE SET"
        " aqi = excluded.aqi, category = excluded.category, colour = excluded.colour,"
        " dominant = excluded.dominant, sub_indices = excluded.sub_indices, computed_at = now()",
        (
            device_id,
            day,
            result.aqi,
            result.category,
            _hex(result.colour),
            result.dominant,
            _json(dict(result.sub_indices)),
        ),
    )


def _hex(colour: tuple[int, int, int] | None) -> str | None:
    return "#{:02x}{:02x}{:02x}".format(*colour) if colour else None


def _json(value: object) -> Jsonb:
    return Jsonb(value, dumps=lambda v: orjson.dumps(v, default=str).decode())
