"""Versioned schema migrations, applied in order by store.migrate.migrate().

A migration is a module with NAME, TRANSACTIONAL and upgrade(conn, engine). Append new
ones to MIGRATIONS; never edit one that has shipped.
"""

from store.migrations import m0001_core, m0002_timeseries

MIGRATIONS = [(1, m0001_core), (2, m0002_timeseries)]
