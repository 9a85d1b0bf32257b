"""OpenSSH's sshd (sshd-session since 9.8): logins accepted, failed, invalid users."""

from __future__ import annotations

from ingest.formats.common import port_or_none
from ingest.formats.syslog.programs.facts import MAX_USER_CHARS, AuthFacts


def decode(message: str) -> AuthFacts | None:
    if message.startswith(("Failed ", "Accepted ")):
        # The user name is whatever the client sent, so it may itself contain
        # " from 1.2.3.4 port 1": the real address is after the LAST " from ".
        head, found, tail = message.rpartition(" from ")
        words = head.split(" ", 3)
        if not found or len(words) < 4 or words[2] != "for":
            return None
        verb, method, _, user = words
        success = verb == "Accepted"
        event = "Accepted" if success else "Failed"
        return _ssh_login(success, user.removeprefix("invalid user "), tail, event, method)
    if message.startswith("Invalid user "):
        head, found, tail = message.rpartition(" from ")
        if not found:
            return None
        return _ssh_login(False, head.removeprefix("Invalid user "), tail, "Invalid", None)
    return None


def _ssh_login(success: bool, user: str, tail: str, event: str, method: str | None) -> AuthFacts:
    address, found, after = tail.partition(" port ")
    if not found:  # older OpenSSH: "Invalid user x from 1.2.3.4"
        address = tail.split(" ", 1)[0]
    ssh = {"event": event} | ({"method": method} if method else {})
    return AuthFacts(
        action="ssh_login",
        outcome="success" if success else "failure",
        user=user[:MAX_USER_CHARS] or None,
        source=address,
        port=port_or_none(after.split(" ", 1)[0]) if found else None,
        details={"ssh": ssh},
    )
