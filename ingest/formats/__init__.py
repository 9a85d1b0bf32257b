"""Wire formats. Each module registers its decoder under a name used in routes.yaml."""

from ingest.formats import (  # noqa: F401
    cef,
    edr,
    frigate,
    frigate_stats,
    native_json,
    senml,
    suricata,
    syslog,
    telemetry,
    winlog,
)
