"""Versioned schema migrations, applied in order by store.migrate.migrate().

A migration is a module with NAME, TRANSACTIONAL and upgrade(conn, engine). Append new
ones to MIGRATIONS; never edit one that has shipped.
"""

from store.migrations import (
    m0001_core,
    m0002_timeseries,
    m0003_alerts,
    m0004_api_users,
    m0005_rollup_scan,
    m0006_alert_pruning,
    m0007_hourly_from_minutes,
    m0008_minute_policy_window,
    m0009_dashboard_reads,
    m0010_history_note_en,
    m0011_policy_runs,
    m0012_daily_aqi_inputs,
    m0013_integrators,
    m0014_cameras,
    m0015_plate_alerts_hidden,
    m0016_plate_access_log,
    m0017_camera_plate_privacy,
    m0018_public_warnings,
    m0019_epidemics,
    m0020_open_data,
    m0021_reports,
    m0022_cases,
    m0023_taxii,
    m0024_agencies,
)

MIGRATIONS = [
    (1, m0001_core),
    (2, m0002_timeseries),
    (3, m0003_alerts),
    (4, m0004_api_users),
    (5, m0005_rollup_scan),
    (6, m0006_alert_pruning),
    (7, m0007_hourly_from_minutes),
    (8, m0008_minute_policy_window),
    (9, m0009_dashboard_reads),
    (10, m0010_history_note_en),
    (11, m0011_policy_runs),
    (12, m0012_daily_aqi_inputs),
    (13, m0013_integrators),
    (14, m0014_cameras),
    (15, m0015_plate_alerts_hidden),
    (16, m0016_plate_access_log),
    (17, m0017_camera_plate_privacy),
    (18, m0018_public_warnings),
    (19, m0019_epidemics),
    (20, m0020_open_data),
    (21, m0021_reports),
    (22, m0022_cases),
    (23, m0023_taxii),
    (24, m0024_agencies),
]
