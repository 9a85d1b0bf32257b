"""Antivirus/EDR detections -> SecurityEvents on Elastic Common Schema names.

Shape: a Microsoft Defender for Endpoint alert as the Microsoft Graph security API
returns it (GET /security/alerts_v2/{id}, the "alert" resource; also what Defender XDR
streams to Sentinel and what Elastic's m365_defender integration reads): one JSON object
with `id`, `title`, `severity`, `category`, `detectionSource`, `threatDisplayName`,
`threatFamilyName`, `mitreTechniques`, `createdDateTime`, `first/lastActivityDateTime`
and `evidence`, a list of typed entities ("@odata.type": "#microsoft.graph.security.
fileEvidence" with `fileDetails` {fileName, filePath, sha256, sha1, md5…},
`detectionStatus` and `remediationStatus`; deviceEvidence with `deviceDnsName`;
userEvidence/processEvidence with `userAccount`). A list page ({"value": [...]}) is
rejected: the poller that ships alerts must send one alert per message.

What the product did is read from the malicious file's evidence: remediationStatus
"remediated" -> quarantined, "prevented"/"blocked" -> blocked, otherwise its
detectionStatus (detected/blocked/prevented). The same alert id arrives again when its
status changes; ecs event.id keeps the alert id so those updates can be related.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from events.models import SecurityEvent
from events.text import clean_json
from ingest.formats.base import DecodeError, register
from ingest.formats.common import (
    MAX_MESSAGE_CHARS,
    MAX_NAME,
    int_or_none,
    ip_or_none,
    iso_time,
    json_object,
    object_at,
    put,
    security_event_id,
    technique_ids,
    text_at,
    validated,
)
from ingest.message import RawMessage

DATASET = "m365_defender.alert"
VENDOR = "Microsoft"
_EVIDENCE = "#microsoft.graph.security."
_MAX_EVIDENCE = 64  # alerts carry a handful; a longer list is not read past this
# Graph severity words on the 0–10 scale CEF uses (higher is worse), top of each band.
SEVERITIES = {"informational": 1, "low": 3, "medium": 6, "high": 8}
SERVICE_PRODUCTS = {
    "microsoftDefenderForEndpoint": "Microsoft Defender for Endpoint",
    "microsoftDefenderForOffice365": "Microsoft Defender for Office 365",
    "microsoftDefenderForIdentity": "Microsoft Defender for Identity",
    "microsoftDefenderForCloudApps": "Microsoft Defender for Cloud Apps",
    "microsoft365Defender": "Microsoft Defender XDR",
}
# Alert categories (and detection sources) that mean "malware was found".
MALWARE_CATEGORIES = frozenset({"malware", "ransomware", "unwantedsoftware"})
MALWARE_SOURCES = frozenset({"antivirus"})
# evidence remediationStatus / detectionStatus -> event.action
REMEDIATION_ACTIONS = {"remediated": "quarantined", "prevented": "blocked", "blocked": "blocked"}
DETECTION_ACTIONS = {"detected": "detected", "blocked": "blocked", "prevented": "blocked"}
# event.action -> (event.outcome, the event.type that says whether it was stopped)
ACTION_RESULTS = {
    "quarantined": ("success", "denied"),
    "blocked": ("success", "denied"),
    "detected": ("unknown", "allowed"),
}
_FAILED_REMEDIATIONS = frozenset({"notRemediated", "declined", "notFound"})


@register("edr")
def decode_edr(msg: RawMessage) -> list[SecurityEvent]:
    alert = json_object(msg.payload, "a Defender alert")
    if isinstance(alert.get("value"), list):
        raise DecodeError("a Graph list page ({'value': [...]}); ship one alert per message")
    alert_id = text_at(alert, "id", 128)
    if alert_id is None:
        raise DecodeError("field 'id' missing or not a string: not a Defender alert")
    time = iso_time(alert, "createdDateTime")
    return validated(lambda: _event(msg, alert, alert_id, time))


# ---- evidence -----------------------------------------------------------------------


def _evidence(alert: dict[str, Any], kind: str) -> Iterator[dict[str, Any]]:
    items = alert.get("evidence")
    if not isinstance(items, list):
        return
    for item in items[:_MAX_EVIDENCE]:
        if isinstance(item, dict) and item.get("@odata.type") == _EVIDENCE + kind:
            yield item


def _first(alert: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(_evidence(alert, kind), {})


def _malicious_file(alert: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(evidence, fileDetails) of the file the alert is about: the first one judged
    malicious, else the first file, else the image of the first process (fileless)."""
    files = list(_evidence(alert, "fileEvidence"))
    chosen = next((f for f in files if f.get("verdict") == "malicious"), None)
    if chosen is None and files:
        chosen = files[0]
    if chosen is not None:
        return chosen, object_at(chosen, "fileDetails")
    process = _first(alert, "processEvidence")
    return process, object_at(process, "imageFile")


def _account(alert: dict[str, Any]) -> dict[str, Any]:
    for kind in ("userEvidence", "processEvidence"):
        account = object_at(_first(alert, kind), "userAccount")
        if text_at(account, "accountName"):
            return account
    users = _first(alert, "deviceEvidence").get("loggedOnUsers")
    if isinstance(users, list) and users and isinstance(users[0], dict):
        return users[0]
    return {}


# ---- the event ----------------------------------------------------------------------


def _event(msg: RawMessage, alert: dict[str, Any], alert_id: str, time: datetime) -> SecurityEvent:
    evidence, details = _malicious_file(alert)
    ecs = _base_ecs(alert, alert_id, time)
    _action(ecs, evidence)
    _file(ecs, details)
    _host_user_process(ecs, alert)
    _rule_threat(ecs, alert)
    event = ecs["event"]
    return SecurityEvent(
        time=time,
        event_id=security_event_id(msg),
        dataset=DATASET,
        category=tuple(event["category"]),
        action=event["action"],
        outcome=event["outcome"],
        severity=event.get("severity"),
        source_ip=ecs.get("source", {}).get("ip"),
        user_name=ecs.get("user", {}).get("name"),
        host_name=ecs.get("host", {}).get("name"),
        process_name=ecs.get("process", {}).get("name"),
        observer_vendor=VENDOR,
        observer_product=ecs["observer"]["product"],
        rule_id=ecs["rule"].get("id"),
        rule_name=ecs["rule"].get("name"),
        technique_ids=tuple(ecs.get("threat", {}).get("technique", {}).get("id", ())),
        message=ecs.get("message"),
        ecs=ecs,
        raw=msg.payload,
    )


def _base_ecs(alert: dict[str, Any], alert_id: str, time: datetime) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "alert",
        "module": "m365_defender",
        "dataset": DATASET,
        "id": alert_id,
        "category": ["malware"] if _is_malware(alert) else ["intrusion_detection"],
    }
    severity = alert.get("severity")
    if type(severity) is str and severity.lower() in SEVERITIES:
        event["severity"] = SEVERITIES[severity.lower()]
    put(event, ("provider",), text_at(alert, "detectionSource", MAX_NAME))
    put(event, ("reference",), text_at(alert, "alertWebUrl"))
    for ecs_key, key in (("start", "firstActivityDateTime"), ("end", "lastActivityDateTime")):
        put(event, (ecs_key,), _optional_time(alert, key))
    service = alert.get("serviceSource")
    product = text_at(alert, "productName", MAX_NAME) or SERVICE_PRODUCTS.get(
        service if type(service) is str else "", "Microsoft Defender"
    )
    ecs: dict[str, Any] = {
        "@timestamp": time.isoformat(),
        "event": event,
        "observer": {"vendor": VENDOR, "product": product, "type": "edr"},
        "m365_defender": {"alert": clean_json(alert, max_string=4096, max_items=128)},
    }
    put(ecs, ("message",), text_at(alert, "title", MAX_MESSAGE_CHARS))
    return ecs


def _is_malware(alert: dict[str, Any]) -> bool:
    category = alert.get("category")
    source = alert.get("detectionSource")
    return (
        (type(category) is str and category.lower() in MALWARE_CATEGORIES)
        or (type(source) is str and source in MALWARE_SOURCES)
        or bool(text_at(alert, "threatFamilyName"))
    )


def _optional_time(alert: dict[str, Any], key: str) -> str | None:
    # Secondary times are context: a bad one is dropped, not a reason to lose the alert.
    try:
        return iso_time(alert, key).isoformat()
    except DecodeError:
        return None


def _action(ecs: dict[str, Any], evidence: dict[str, Any]) -> None:
    # Untrusted JSON: a status may be a list or object, which cannot be a dict key.
    remediation = _status(evidence, "remediationStatus")
    action = (
        REMEDIATION_ACTIONS.get(remediation)
        or DETECTION_ACTIONS.get(_status(evidence, "detectionStatus"))
        or "detected"
    )
    outcome, stopped = ACTION_RESULTS[action]
    if action == "detected" and remediation in _FAILED_REMEDIATIONS:
        outcome = "failure"  # a remediation was tried and did not happen
    ecs["event"].update(action=action, outcome=outcome, type=["info", stopped])


def _status(evidence: dict[str, Any], key: str) -> str:
    value = evidence.get(key)
    return value if type(value) is str else ""


def _file(ecs: dict[str, Any], details: dict[str, Any]) -> None:
    file: dict[str, Any] = {}
    put(file, ("name",), text_at(details, "fileName", MAX_NAME))
    put(file, ("path",), _file_path(details))
    put(file, ("size",), int_or_none(details.get("fileSize")))
    for algorithm in ("sha256", "sha1", "md5"):
        value = text_at(details, algorithm, 128)
        put(file, ("hash", algorithm), value.lower() if value else None)
    put(file, ("code_signature", "subject_name"), text_at(details, "signer", MAX_NAME))
    if not file:
        return
    ecs["file"] = file
    # A copy, not the same dicts: a later change to file.* must not rewrite the indicator.
    indicator = {
        key: dict(value) if isinstance(value, dict) else value
        for key, value in file.items()
        if key in ("name", "hash")
    }
    ecs["threat"] = {"indicator": {"type": "file", "file": indicator}}


def _file_path(details: dict[str, Any]) -> str | None:
    # Graph gives the folder in filePath and the name apart; ECS file.path is both.
    folder = text_at(details, "filePath", 1024)
    name = text_at(details, "fileName", MAX_NAME)
    if folder and name and not folder.endswith(name):
        return folder.rstrip("\\/") + ("/" if folder.startswith("/") else "\\") + name
    return folder


def _host_user_process(ecs: dict[str, Any], alert: dict[str, Any]) -> None:
    device = _first(alert, "deviceEvidence")
    host = text_at(device, "deviceDnsName", MAX_NAME) or text_at(device, "hostName", MAX_NAME)
    put(ecs, ("host", "name"), host)
    put(ecs, ("host", "id"), text_at(device, "mdeDeviceId", 128))
    put(ecs, ("host", "os", "platform"), text_at(device, "osPlatform", 64))
    account = _account(alert)
    put(ecs, ("user", "name"), text_at(account, "accountName", MAX_NAME))
    put(ecs, ("user", "domain"), text_at(account, "domainName", MAX_NAME))
    put(ecs, ("user", "id"), text_at(account, "userSid", 256))
    process = _first(alert, "processEvidence")
    image = object_at(process, "imageFile")
    put(ecs, ("process", "pid"), int_or_none(process.get("processId"), limit=2**32))
    put(ecs, ("process", "command_line"), text_at(process, "processCommandLine", 8192))
    put(ecs, ("process", "name"), text_at(image, "fileName", MAX_NAME))
    put(ecs, ("process", "executable"), _file_path(image))
    address = _first(alert, "ipEvidence").get("ipAddress")
    put(ecs, ("source", "ip"), ip_or_none(address) if type(address) is str else None)


def _rule_threat(ecs: dict[str, Any], alert: dict[str, Any]) -> None:
    # The threat's name is what analysts search for ("Trojan:Win32/Emotet"); the
    # title ("'Emotet' malware was prevented") is the message.
    name = (
        text_at(alert, "threatDisplayName", 1024)
        or text_at(alert, "threatFamilyName", 1024)
        or text_at(alert, "title", 1024)
    )
    rule: dict[str, Any] = {}
    put(rule, ("id",), text_at(alert, "detectorId", MAX_NAME))
    put(rule, ("name",), name)
    put(rule, ("category",), text_at(alert, "category", MAX_NAME))
    put(rule, ("description",), text_at(alert, "description"))
    ecs["rule"] = rule
    threat = ecs.setdefault("threat", {})
    put(threat, ("software", "name"), text_at(alert, "threatFamilyName", MAX_NAME))
    techniques = alert.get("mitreTechniques")
    if isinstance(techniques, list) and (ids := technique_ids(techniques)):
        threat.update(framework="MITRE ATT&CK", technique={"id": ids})
    if not threat:
        del ecs["threat"]
