"""Linux-PAM modules' authentication failures, whichever program loaded the module."""

from __future__ import annotations

from ingest.formats.syslog.programs.facts import MAX_USER_CHARS, AuthFacts

PREMATCH = "pam_"  # pam_unix, pam_sss, pam_ldap…: the message starts with the module
_KEPT_FIELDS = ("logname", "uid", "euid", "tty", "ruser")


def decode(message: str) -> AuthFacts | None:
    """'pam_unix(sshd:auth): authentication failure; logname= uid=0 … rhost=1.2.3.4 user=root'"""
    head, found, rest = message.partition("): authentication failure;")
    module, bracket, context = head.partition("(")
    if not found or not bracket or " " in module:
        return None
    service, _, phase = context.partition(":")
    fields = dict(token.partition("=")[::2] for token in rest.split(" ") if "=" in token)
    details = {"module": module, "service": service, "phase": phase} | {
        key: value for key, value in fields.items() if key in _KEPT_FIELDS
    }
    return AuthFacts(
        action="pam_authentication",
        outcome="failure",
        user=fields.get("user", "")[:MAX_USER_CHARS] or None,
        source=fields.get("rhost") or None,
        details={"pam": details},
    )
