"""What integrators need: device credentials apart from devices, disabled devices,
commands down to devices with their audit trail, and dead-letter replays.

Credentials. A device may hold several live secrets at once: a rotation with a grace
period keeps the old one working until `expires_at`, which a single hash column on
`devices` could not say. MQTT secrets are mosquitto `$7$` hashes (the broker's password
file is generated from the live rows); mosquitto's password file holds ONE hash per
username (the last line wins, checked on 2.0.11), so two MQTT secrets live at once need
two usernames: the first is the device id, a later one `<device id>~<n>` (`~` cannot
occur in a device id). HTTP tokens are random 32 bytes, so their SHA-256 suffices and
lets a request find its device by an indexed lookup (as for API tokens, m0004).

Commands have no foreign key to devices: their history is an audit record and outlives a
deleted device.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "device credentials, device commands and dead-letter replays"
TRANSACTIONAL = True

SQL = """
ALTER TABLE devices ADD COLUMN IF NOT EXISTS disabled_at timestamptz;

CREATE TABLE IF NOT EXISTS device_credentials (
    id          bigserial PRIMARY KEY,
    device_id   text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('mqtt', 'http')),
    username    text,
    secret_hash text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz,
    CHECK ((kind = 'mqtt') = (username IS NOT NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS device_credentials_http_token
    ON device_credentials (secret_hash) WHERE kind = 'http';
CREATE UNIQUE INDEX IF NOT EXISTS device_credentials_mqtt_username
    ON device_credentials (username) WHERE kind = 'mqtt' AND revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS device_credentials_device ON device_credentials (device_id);

INSERT INTO device_credentials (device_id, kind, username, secret_hash, created_by)
    SELECT id, 'mqtt', id, mqtt_password_hash, 'migration 13'
    FROM devices WHERE mqtt_password_hash IS NOT NULL;
ALTER TABLE devices DROP COLUMN IF EXISTS mqtt_password_hash;

ALTER TABLE api_users DROP CONSTRAINT IF EXISTS api_users_role_check;
ALTER TABLE api_users ADD CONSTRAINT api_users_role_check
    CHECK (role IN ('admin', 'operator', 'csirt', 'viewer', 'integrator'));

CREATE TABLE IF NOT EXISTS device_commands (
    id           uuid PRIMARY KEY,
    device_id    text NOT NULL,
    command      text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}'::jsonb,
    state        text NOT NULL
                 CHECK (state IN ('queued', 'sent', 'acknowledged', 'failed', 'expired')),
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    sent_at      timestamptz,
    finished_at  timestamptz,
    result       jsonb
);
CREATE INDEX IF NOT EXISTS device_commands_device
    ON device_commands (device_id, requested_at DESC);
CREATE INDEX IF NOT EXISTS device_commands_open
    ON device_commands (expires_at) WHERE state IN ('queued', 'sent');

CREATE TABLE IF NOT EXISTS device_command_history (
    id         bigserial PRIMARY KEY,
    command_id uuid NOT NULL REFERENCES device_commands (id),
    at         timestamptz NOT NULL DEFAULT now(),
    state      text NOT NULL,
    actor      text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS device_command_history_command
    ON device_command_history (command_id, at);

ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS replay_count integer NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS last_replayed_at timestamptz;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS resolved_at timestamptz;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS resolved_by_replay bigint;
CREATE INDEX IF NOT EXISTS dead_letters_topic ON dead_letters (topic, received_at DESC);

CREATE TABLE IF NOT EXISTS dead_letter_replays (
    id            bigserial PRIMARY KEY,
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    selection     jsonb NOT NULL,
    selected      integer NOT NULL,
    stored        integer NOT NULL,
    still_failing integer NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letter_replay_items (
    replay_id      bigint NOT NULL REFERENCES dead_letter_replays (id),
    dead_letter_id text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('stored', 'still_failing')),
    reason         text,
    PRIMARY KEY (replay_id, dead_letter_id)
);
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
