"""sudo: commands run as another user, and refusals."""

from __future__ import annotations

from ingest.formats.syslog.programs.facts import MAX_USER_CHARS, AuthFacts


def decode(message: str) -> AuthFacts | None:
    """'alice : [problem ; ]TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls'"""
    user, found, rest = message.strip().partition(" : ")
    if not found or not user or " " in user:
        return None
    # The command is last and may itself contain " ; ", so split it off first.
    before, has_command, command = rest.partition("COMMAND=")
    fields: dict[str, str] = {}
    problem = None
    for part in before.split(" ; "):
        key, equals, value = part.strip().partition("=")
        if equals and key.isupper():
            fields[key] = value
        elif part.strip() and problem is None:
            problem = part.strip()
    if not has_command and not fields:
        return None
    sudo = {k.lower(): v for k, v in fields.items()} | ({"command": command} if has_command else {})
    if problem:
        sudo["error"] = problem
    return AuthFacts(
        action="sudo",
        outcome="failure" if problem else "success",
        category=("authentication",) if problem else ("process",),
        event_type=("info",) if problem else ("start",),
        user=user[:MAX_USER_CHARS],
        effective_user=fields.get("USER"),
        details={"sudo": sudo},
    )
