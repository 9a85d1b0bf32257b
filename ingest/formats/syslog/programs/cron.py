"""cron and crontab: jobs run, and crontabs edited.

    CRON[31201]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)
    crontab[40711]: (root) REPLACE (root)        (also BEGIN EDIT, END EDIT, LIST, DELETE)

A job is a process start with its command line (cron runs it through /bin/sh), so Linux
process_creation rules that test only CommandLine see cron jobs too; an edit is a
configuration change by the user in the first parentheses.
"""

from __future__ import annotations

from ingest.formats.common import MAX_STRING
from ingest.formats.syslog.programs.facts import MAX_USER_CHARS
from ingest.formats.syslog.service import ServiceFacts

PROGRAMS = frozenset({"cron", "CRON", "crond", "crontab", "anacron"})
_EDITS = {
    "REPLACE": "crontab-replace", "BEGIN EDIT": "crontab-edit", "END EDIT": "crontab-edit",
    "DELETE": "crontab-delete", "LIST": "crontab-list",
}  # fmt: skip


def decode(message: str) -> ServiceFacts | None:
    text = message.strip()
    if not text.startswith("("):
        return None
    user, found, rest = text[1:].partition(") ")
    if not found or not user or " " in user:
        return None
    user = user[:MAX_USER_CHARS]
    if rest.startswith("CMD (") and rest.endswith(")"):
        command = rest[5:-1].strip()[:MAX_STRING]
        return ServiceFacts(
            action="cron-job",
            outcome="success",
            category=("process",),
            event_type=("start",),
            user=user,
            ecs={"process": {"command_line": command}},
        )
    verb = next((v for v in _EDITS if rest.startswith(v + " (") or rest == v), None)
    if verb is None:
        return None
    return ServiceFacts(
        action=_EDITS[verb],
        outcome="success",
        category=("configuration",),
        event_type=("access",) if verb == "LIST" else ("change",),
        user=user,
    )
