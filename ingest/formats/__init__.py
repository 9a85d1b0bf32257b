"""Wire formats. Each module registers its decoder under a name used in routes.yaml."""

from ingest.formats import (  # noqa: F401
    cef,
    edr,
    frigate,
    frigate_reviews,
    frigate_stats,
    isapi,
    native_json,
    onvif,
    senml,
    suricata,
    syslog,
    telemetry,
    winlog,
)
