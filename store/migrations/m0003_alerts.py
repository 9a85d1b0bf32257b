"""Alerts, their history, silences, the notification outbox, detector state and the
AQI series: the same on every engine (these tables are small next to the event tables).

An open alert is unique per fingerprint (partial unique index), so a condition that
stays true updates one row, and a resolved alert leaves room for the next episode.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "alerts, outbox, detector state, AQI series"
TRANSACTIONAL = True

SQL = """
CREATE TABLE IF NOT EXISTS alerts (
    id               uuid PRIMARY KEY,
    fingerprint      text NOT NULL,
    rule             text NOT NULL,
    domain           text NOT NULL,
    status           text NOT NULL CHECK (status IN ('firing', 'acknowledged', 'resolved')),
    severity         smallint NOT NULL,
    peak_severity    smallint NOT NULL,
    labels           jsonb NOT NULL,
    title_vi         text NOT NULL,
    title_en         text NOT NULL,
    summary_vi       text NOT NULL DEFAULT '',
    summary_en       text NOT NULL DEFAULT '',
    alert_values     jsonb NOT NULL DEFAULT '{}'::jsonb,
    technique_ids    text[] NOT NULL DEFAULT '{}',
    event_ids        text[] NOT NULL DEFAULT '{}',
    started_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    resolved_by      text,
    last_notified_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_fingerprint
    ON alerts (fingerprint) WHERE status <> 'resolved';
CREATE INDEX IF NOT EXISTS alerts_recent ON alerts (domain, updated_at DESC);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts (status, updated_at DESC);

CREATE TABLE IF NOT EXISTS alert_history (
    id          bigserial PRIMARY KEY,
    alert_id    uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    action      text NOT NULL,
    status      text NOT NULL,
    severity    smallint NOT NULL,
    note        text NOT NULL DEFAULT '',
    event_time  timestamptz
);
CREATE INDEX IF NOT EXISTS alert_history_alert ON alert_history (alert_id, id);

CREATE TABLE IF NOT EXISTS silences (
    id          uuid PRIMARY KEY,
    matchers    jsonb NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    created_by  text NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expired_by  text
);
CREATE INDEX IF NOT EXISTS silences_active ON silences (ends_at);

-- One row per (alert change, channel). A row is written in the same transaction as the
-- change it announces and marked sent only after the channel accepted it, so a crash
-- in between sends it again (at least once; receivers dedupe on the notification id).
CREATE TABLE IF NOT EXISTS outbox (
    id              bigserial PRIMARY KEY,
    notification_id uuid NOT NULL UNIQUE,
    alert_id        uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel         text NOT NULL,
    group_key       text NOT NULL,
    kind            text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    due_at          timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'silenced')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    sent_at         timestamptz,
    silence_id      uuid
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_alert ON outbox (alert_id);

CREATE TABLE IF NOT EXISTS detector_state (
    detector   text NOT NULL,
    key        text NOT NULL,
    state      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (detector, key)
);

-- Bumped by `ioc rules reload` after the rule files validated; workers poll it and
-- reload, keeping their running rules if a reload fails.
CREATE TABLE IF NOT EXISTS rule_generation (
    id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    generation  bigint NOT NULL,
    reloaded_at timestamptz NOT NULL DEFAULT now(),
    reloaded_by text NOT NULL
);

CREATE TABLE IF NOT EXISTS device_last_seen (
    device_id  text PRIMARY KEY,
    last_seen  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS aqi_hourly (
    device_id   text NOT NULL,
    hour        timestamptz NOT NULL,
    aqi         integer,
    category    text,
    colour      text,
    dominant    text,
    sub_indices jsonb NOT NULL DEFAULT '{}'::jsonb,
    inputs      jsonb NOT NULL DEFAULT '{}'::jsonb,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, hour)
);

CREATE TABLE IF NOT EXISTS aqi_daily (
    device_id   text NOT NULL,
    day         date NOT NULL,
    aqi         integer,
    category    text,
    colour      text,
    dominant    text,
    sub_indices jsonb NOT NULL DEFAULT '{}'::jsonb,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, day)
);
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
