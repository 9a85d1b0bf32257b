"""CSIRT cases: incidents that group security alerts (issue 14, processors/cases/).

- `cases`: one incident. Status moves new -> investigating -> contained -> closed;
  `acknowledged_at` is the first time it left `new` (or was assigned), `closed_at` when it
  was closed with a `classification`: the times to acknowledge and to close are read from
  `created`. `shared` marks it for the national centre (the TAXII server, migration 23,
  reads only shared cases under its collection's TLP ceiling). `grouping_rule` and
  `grouping_key` say which grouping rule built it and for which value (a source IP, a
  host, an indicator), so the grouping job finds the open case to add to; `last_alert_at`
  bounds the rule's window.
- `case_alerts`: membership. No foreign key to `alerts`: resolved alerts are pruned after
  400 days (store/alert_pruning.py) and a closed case keeps the record of what it held,
  so the alert's rule, title and start are copied in when it is added.
- `case_observables`: IPs, users, hosts, hashes, URLs and domains taken from the alerts,
  one row per (case, type, value); the (type, value) index answers "where else seen".
- `case_tasks`: a playbook's tasks (processors/cases/playbooks/*.yaml), once per
  (case, playbook, task) however often the playbook is applied.
- `case_timeline`: notes and every change, who and when; alerts and their events are
  joined in when the timeline is read.
- `case_grouping_cursor`: how far the grouping job has read the alerts.

Nothing here is granted to the dashboard reader: security data is for csirt and admin
through the API only.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "CSIRT cases: cases, their alerts, observables, tasks and timeline"
TRANSACTIONAL = True

SQL = """
CREATE TABLE IF NOT EXISTS cases (
    id              uuid PRIMARY KEY,
    title           text NOT NULL,
    description     text NOT NULL DEFAULT '',
    severity        text NOT NULL DEFAULT 'medium'
                    CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    tlp             text NOT NULL DEFAULT 'amber'
                    CHECK (tlp IN ('clear', 'green', 'amber', 'amber+strict', 'red')),
    pap             text NOT NULL DEFAULT 'amber'
                    CHECK (pap IN ('clear', 'green', 'amber', 'amber+strict', 'red')),
    status          text NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'investigating', 'contained', 'closed')),
    classification  text CHECK (classification IN ('true_positive', 'false_positive', 'benign')),
    shared          boolean NOT NULL DEFAULT false,
    assignee        text,
    created         timestamptz NOT NULL DEFAULT now(),
    updated         timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL DEFAULT 'system',
    acknowledged_at timestamptz,
    acknowledged_by text,
    closed_at       timestamptz,
    closed_by       text,
    closure_note    text NOT NULL DEFAULT '',
    grouping_rule   text,
    grouping_key    text,
    last_alert_at   timestamptz,
    labels          jsonb NOT NULL DEFAULT '{}'::jsonb,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CHECK (status <> 'closed' OR classification IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS cases_recent ON cases (updated DESC);
CREATE INDEX IF NOT EXISTS cases_status ON cases (status, updated DESC);
CREATE INDEX IF NOT EXISTS cases_grouping ON cases (grouping_rule, grouping_key, last_alert_at DESC)
    WHERE status <> 'closed';
CREATE INDEX IF NOT EXISTS cases_shared ON cases (updated) WHERE shared;

CREATE TABLE IF NOT EXISTS case_alerts (
    case_id     uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    alert_id    uuid NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    added_by    text NOT NULL DEFAULT 'system',
    rule        text NOT NULL DEFAULT '',
    title_vi    text NOT NULL DEFAULT '',
    title_en    text NOT NULL DEFAULT '',
    severity    smallint,
    started_at  timestamptz,
    PRIMARY KEY (case_id, alert_id)
);
CREATE INDEX IF NOT EXISTS case_alerts_alert ON case_alerts (alert_id);

CREATE TABLE IF NOT EXISTS case_observables (
    case_id     uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    type        text NOT NULL
                CHECK (type IN ('ipv4', 'ipv6', 'user', 'host', 'sha256', 'sha1', 'md5',
                                'url', 'domain')),
    value       text NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    sightings   integer NOT NULL DEFAULT 1,
    PRIMARY KEY (case_id, type, value)
);
CREATE INDEX IF NOT EXISTS case_observables_value ON case_observables (type, value);

CREATE TABLE IF NOT EXISTS case_tasks (
    id          bigserial PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    playbook    text NOT NULL,
    task        text NOT NULL,
    position    integer NOT NULL DEFAULT 0,
    title_vi    text NOT NULL,
    title_en    text NOT NULL,
    done_at     timestamptz,
    done_by     text,
    UNIQUE (case_id, playbook, task)
);

CREATE TABLE IF NOT EXISTS case_timeline (
    id          bigserial PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    action      text NOT NULL,
    note        text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS case_timeline_case ON case_timeline (case_id, at, id);

-- Where the grouping job has read the alerts up to (one row per job name).
CREATE TABLE IF NOT EXISTS case_grouping_cursor (
    job         text PRIMARY KEY,
    recorded_at timestamptz NOT NULL,
    alert_id    uuid NOT NULL,
    updated     timestamptz NOT NULL DEFAULT now()
);
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
