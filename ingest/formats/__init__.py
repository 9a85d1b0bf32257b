"""Wire formats. Each module registers its decoder under a name used in routes.yaml."""

from ingest.formats import frigate, native_json, senml, suricata, syslog, telemetry  # noqa: F401
