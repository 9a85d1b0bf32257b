"""taxii: the TAXII 2.1 server's consumers, collections and published objects, and the
state of the pulls from other TAXII servers (issue 14, api/taxii/, processors/taxii/).

- `taxii_collections`: what the national centre (or another consumer) can read. Each has
  a TLP ceiling: an object of a case whose TLP is above it is never in the collection.
  One collection is created here (`incidents`, ceiling amber); `ioc taxii collections
  add` makes more.
- `taxii_consumers`: who may read, each with their own secret (HTTP Basic, as TAXII
  clients log in), kept as SHA-256 only: the secrets are random 256-bit tokens, for
  which a fast hash is right (the reasoning of m0004_api_users). `collections` NULL
  means every collection. Revoking keeps the row, so the name stays reserved.
- `taxii_objects`: the STIX 2.1 objects built from the cases marked `shared`, one row
  per (case, object id), the nil UUID for objects of no case (the centre's identity,
  the TLP marking definitions). `date_added` is when this server added the object's
  current version, set from clock_timestamp() under the publishing lock, so it only
  grows and a consumer's `added_after` never skips an object (store/taxii.py).
  `tlp_rank` is the case's TLP at publication: 0 clear … 4 red.
- `taxii_published`: which version of each shared case is in `taxii_objects` (its
  `updated` and TLP); a case that changed, was unshared or deleted is published again
  or withdrawn on the next sync.
- `taxii_pulls`: per pulled source, when it was last pulled, what came and the error.

Nothing here is granted to the dashboard reader.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "TAXII 2.1: consumers, collections, published objects, pulls"
TRANSACTIONAL = True

SQL = """
CREATE TABLE IF NOT EXISTS taxii_collections (
    id           uuid PRIMARY KEY,
    alias        text NOT NULL UNIQUE CHECK (alias ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    title        text NOT NULL,
    description  text NOT NULL DEFAULT '',
    tlp_ceiling  text NOT NULL
                 CHECK (tlp_ceiling IN ('clear', 'green', 'amber', 'amber+strict', 'red')),
    created      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO taxii_collections (id, alias, title, description, tlp_ceiling)
VALUES ('3f5bd1d6-6a0e-5c55-9f39-6ef7d2ac3a21', 'incidents',
        'Sự cố đã chia sẻ / Shared incidents',
        'Sự cố của CSIRT tỉnh được đánh dấu chia sẻ, TLP tối đa AMBER.'
        ' Incidents the provincial CSIRT marked for sharing, up to TLP:AMBER.',
        'amber')
ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS taxii_consumers (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    secret_sha256  bytea NOT NULL,
    collections    text[],
    created        timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL DEFAULT 'cli',
    revoked_at     timestamptz
);

CREATE TABLE IF NOT EXISTS taxii_objects (
    case_id      uuid NOT NULL,
    id           text NOT NULL,
    type         text NOT NULL,
    spec_version text NOT NULL DEFAULT '2.1',
    version      timestamptz NOT NULL,
    date_added   timestamptz NOT NULL,
    tlp_rank     smallint NOT NULL CHECK (tlp_rank BETWEEN 0 AND 4),
    object       jsonb NOT NULL,
    PRIMARY KEY (case_id, id)
);
CREATE INDEX IF NOT EXISTS taxii_objects_added ON taxii_objects (date_added, id);
CREATE INDEX IF NOT EXISTS taxii_objects_id ON taxii_objects (id);

CREATE TABLE IF NOT EXISTS taxii_published (
    case_id       uuid PRIMARY KEY,
    case_updated  timestamptz NOT NULL,
    tlp           text NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS taxii_pulls (
    source       text PRIMARY KEY,
    pulled_at    timestamptz,
    ok_at        timestamptz,
    indicators   integer NOT NULL DEFAULT 0,
    problems     integer NOT NULL DEFAULT 0,
    digest       text,
    error        text
);
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
