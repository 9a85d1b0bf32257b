"""Core tables, the same on every engine.

Every event table has a uniqueness rule that includes its time column (TimescaleDB
requires the partitioning column in unique indexes) and a stable id, so a re-delivered
message is absorbed by ON CONFLICT instead of becoming a second row.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "core tables"
TRANSACTIONAL = True

SQL = """
CREATE TABLE IF NOT EXISTS devices (
    id                  text PRIMARY KEY,
    type                text NOT NULL,
    province            text NOT NULL,
    district            text,
    name                text,
    lat                 double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon                 double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    expected_interval_s integer NOT NULL DEFAULT 60 CHECK (expected_interval_s > 0),
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    mqtt_password_hash  text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS measurements (
    time        timestamptz NOT NULL,
    device_id   text NOT NULL,
    metric      text NOT NULL,
    value       double precision NOT NULL,
    quality     smallint NOT NULL DEFAULT 0,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS measurements_identity
    ON measurements (device_id, metric, time);

CREATE TABLE IF NOT EXISTS camera_events (
    time           timestamptz NOT NULL,
    event_id       text NOT NULL,
    source         text NOT NULL,
    camera         text NOT NULL,
    event_type     text NOT NULL,
    state          text NOT NULL,
    label          text,
    score          real,
    top_score      real,
    zones          text[] NOT NULL DEFAULT '{}',
    end_time       timestamptz,
    plate          text,
    has_snapshot   boolean NOT NULL DEFAULT false,
    false_positive boolean NOT NULL DEFAULT false,
    attributes     jsonb NOT NULL DEFAULT '{}'::jsonb,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS camera_events_identity ON camera_events (event_id, time);
CREATE INDEX IF NOT EXISTS camera_events_camera ON camera_events (camera, time DESC);

CREATE TABLE IF NOT EXISTS security_events (
    time             timestamptz NOT NULL,
    event_id         text NOT NULL,
    dataset          text NOT NULL,
    category         text[] NOT NULL DEFAULT '{}',
    action           text,
    outcome          text,
    severity         integer,
    source_ip        inet,
    source_port      integer,
    destination_ip   inet,
    destination_port integer,
    user_name        text,
    host_name        text,
    process_name     text,
    observer_vendor  text,
    observer_product text,
    rule_id          text,
    rule_name        text,
    technique_ids    text[] NOT NULL DEFAULT '{}',
    message          text,
    ecs              jsonb NOT NULL DEFAULT '{}'::jsonb,
    raw              bytea NOT NULL,
    ingested_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS security_events_identity ON security_events (event_id, time);
CREATE INDEX IF NOT EXISTS security_events_source_ip ON security_events (source_ip, time DESC);

-- Dead letters are few and must never be lost to a retention job by accident,
-- so they are a plain table everywhere.
CREATE TABLE IF NOT EXISTS dead_letters (
    id             text PRIMARY KEY,
    received_at    timestamptz NOT NULL,
    transport      text NOT NULL,
    topic          text NOT NULL,
    kafka_partition integer,
    kafka_offset   bigint,
    format         text,
    reason         text NOT NULL,
    payload        bytea NOT NULL,
    payload_size   integer NOT NULL,
    payload_sha256 text NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at DESC);
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
