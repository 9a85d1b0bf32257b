"""Device ids that would break the broker's password file, topics or service accounts are
refused before anything is written."""

from __future__ import annotations

import pytest

from config.settings import Settings
from ingest.provisioning import register_device, telemetry_topic
from store.devices import DeviceSpec


@pytest.mark.parametrize(
    ("device_id", "problem"),
    [
        ("a:b", "invalid"),  # ':' separates user and hash in mosquitto's password file
        ("a/b", "invalid"),
        ("a+b", "invalid"),
        ("#", "invalid"),
        ("", "invalid"),
        ("x" * 129, "invalid"),
        ("ioc-ingest", "reserved"),
        ("frigate", "reserved"),
        ("alerts", "reserved"),
    ],
)
def test_bad_device_ids_are_refused_before_any_io(tmp_path, device_id, problem):
    # No database is running at this DSN: a refusal must come before any connection.
    settings = Settings(run_dir=tmp_path, database_url="host=127.0.0.1 port=1 dbname=none")
    spec = DeviceSpec(id=device_id, type="air_quality", province="Kiên Giang", lat=10, lon=105)
    with pytest.raises(ValueError, match=problem):
        register_device(settings, spec)


def test_topic_is_the_devices_own():
    assert telemetry_topic("kg-rachgia-aq01") == "ioc/v1/kg-rachgia-aq01/telemetry"
