"""ClamAV (clamd, clamonacc, clamav-milter): malware detections.

    /var/spool/uploads/a.zip: Win.Trojan.Agent-1234567 FOUND
    /tmp/eicar.com: Eicar-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND

A detection is event.category malware (what the per-agency summary counts), with the file
and the signature name where the antivirus Sigma rules read them (Filename, Signature).
Other clamd lines (SelfCheck, reloads, freshclam updates) give no facts: they stay plain
syslog lines, still searchable by SigmaHQ's keyword rule (service clamav).
"""

from __future__ import annotations

from ingest.formats.common import MAX_NAME, MAX_STRING
from ingest.formats.syslog.service import ServiceFacts

PROGRAMS = frozenset({"clamd", "clamonacc", "clamav-milter", "clamdscan", "clamscan"})
_FOUND = " FOUND"


def decode(message: str) -> ServiceFacts | None:
    text = message.strip()
    if not text.endswith(_FOUND):
        return None
    path, sep, signature = text[: -len(_FOUND)].rpartition(": ")
    signature = signature.partition("(")[0].strip()  # "(md5:size)" when clamd logs hashes
    if not sep or not path or not signature or " " in signature:
        return None
    path = path.removeprefix("fd[").strip()
    return ServiceFacts(
        action="malware-detected",
        outcome="success",
        category=("malware",),
        event_type=("info",),
        ecs={
            "file": {"path": path[:MAX_STRING], "name": path.rpartition("/")[2][:MAX_NAME]},
            "threat": {"software": {"name": signature[:MAX_NAME]}},
            "rule": {"name": signature[:MAX_NAME]},
        },
        vendor="Cisco Talos",
        product="ClamAV",
    )
