"""Hourly VN_AQI and QCVN 05:2023 per station, when each hour has closed.

Each station's hours are computed once, in order, from the first hour not yet in
aqi_hourly (so a restart or an outage backfills), from hourly means of the station's
GOOD and SUSPECT readings (a reading flagged bad never reaches the AQI). The means come
from the readings, not the hourly rollup, so hours a station uploads late are computed
from their data on either engine (store/air_quality.py says why). Stations are the
devices heard from within the backfill window that have air readings. The AQI series
is stored with its category and colour, and each local (UTC+7) day that has closed gets
its daily VN_AQI in aqi_daily; signals go to the alert manager like any detector's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import psycopg

from config.timezone import LOCAL_TZ
from processors import state as state_store
from processors.alerts.manager import AlertManager
from processors.environment.aqi import HOURLY_GASES, PM_METRICS, AqiResult, daily_aqi
from processors.environment.aqi_signals import aqi_signal, qcvn_signals
from processors.environment.averaging import daily_inputs, day_hours, hour_start
from processors.environment.engine import RuleBook
from processors.environment.engine.model import AqiRule, QcvnRule
from store import air_quality as air_store

HOUR = timedelta(hours=1)
# Readings may arrive a little late; an hour is computed this long after it closed.
GRACE = timedelta(minutes=2)
# How far back an outage is backfilled; how much history an hour's means need (24h QCVN).
BACKFILL = timedelta(hours=48)
HISTORY = timedelta(hours=24)
METRICS = sorted({*HOURLY_GASES, *PM_METRICS, "o3", "pm25", "pm10", "co", "so2", "no2"})


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

    def _pending(self, conn: psycopg.Connection, last_closed: datetime, now: datetime
                 ) -> list[tuple[str, datetime]]:  # fmt: skip
        """Stations with air readings and the first hour of theirs still to compute."""
        horizon = hour_start(now - BACKFILL)
        pending = []
        for station in air_store.station_progress(conn, METRICS, horizon):
            if station.first_reading is None:
                continue
            first_hour = hour_start(station.first_reading)
            start = first_hour if station.last_done is None else station.last_done + HOUR
            if start <= last_closed:
                pending.append((station.device_id, max(start, horizon)))
        return pending

    def _station(
        self, conn: psycopg.Connection, device_id: str, start: datetime, last: datetime
    ) -> int:
        series = air_store.hourly_means(conn, device_id, METRICS, start - HISTORY, last + HOUR)
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
                air_store.store_hour(conn, device_id, hour, _with_inputs(outcome.result))
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
                air_store.store_day(
                    conn, device_id, day, _with_inputs(daily_aqi(daily_inputs(series, day)))
                )
        self.manager.apply(conn, signals)
        return done


def _row(result: AqiResult) -> air_store.AqiRow:
    colour = "#{:02x}{:02x}{:02x}".format(*result.colour) if result.colour else None
    return air_store.AqiRow(result.aqi, result.category, colour, result.dominant,
                            dict(result.sub_indices))  # fmt: skip


def _with_inputs(result: AqiResult) -> air_store.AqiRow:
    """With the concentrations it was computed from: the hour's, or the day's 24-hour
    means and maximum hourly means that the environment dashboard draws for long ranges."""
    return replace(_row(result), inputs=dict(result.concentrations))
