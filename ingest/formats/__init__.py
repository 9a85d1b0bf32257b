"""Wire formats. Each module registers its decoder under a name used in routes.yaml."""

from ingest.formats import (  # noqa: F401
    cef,
    edr,
    frigate,
    native_json,
    senml,
    suricata,
    syslog,
    telemetry,
    winlog,
)
