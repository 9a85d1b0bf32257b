"""Windows channels other than Security (Sysmon, PowerShell, System, Application, Task
Scheduler, WMI-Activity, Defender) -> ECS, for the winlog decoder (winlog.py).

Which channel means what, each event id's action/category/type and where each insertion
string goes in ECS are data in winlog_channels.yaml. This module only reads values the
way the table says (an executable path also gives the process name, "DOMAIN\\user" gives
user.domain and user.name, Sysmon's "SHA1=…,MD5=…" gives the hashes).

The insertion strings themselves stay in winlog.event_data under the names Windows gives
them, so Sigma rules written against those names (Image, TargetObject, GrantedAccess,
ScriptBlockText…) read them through the field map (processors/security/sigma/
fieldmap.d/windows.yaml) whether or not an ECS field exists for them.

PowerShell script blocks longer than one event (4104 with MessageTotal > 1) arrive as
several events sharing a ScriptBlockId. Each part is one event here, with its own text
(powershell.file.script_block_text) and powershell.sequence/total, and each part is
matched by Sigma on its own: the decoder sees one Kafka message at a time and parts may
come on different partitions, in any order, or never. A rule's indicator cut in two by a
part boundary (every ~32 k characters) is missed, as it is in Winlogbeat + Elastic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from config.yaml_loader import load_data
from events.text import clean_json, clean_text
from ingest.formats.common import MAX_MESSAGE_CHARS, MAX_NAME, MAX_STRING, ip_or_none, port_or_none

_TABLES = load_data(Path(__file__).with_name("winlog_channels.yaml"))
# Channel names are matched without case: shippers and WEF differ in capitalisation.
CHANNELS: dict[str, dict[str, str]] = {k.lower(): v for k, v in _TABLES["channels"].items()}
EVENTS: dict[str, dict[int, dict[str, Any]]] = _TABLES["events"]
FIELDS: dict[str, dict[str, Any]] = {k: v for k, v in _TABLES["fields"].items() if k != "by_event"}
BY_EVENT: dict[str, dict[int, dict[str, Any]]] = _TABLES["fields"]["by_event"]
LONG_FIELDS = frozenset(_TABLES["long_fields"])
FORWARDED = {"dataset": "windows.forwarded", "module": "windows", "kind": ""}
MAX_LONG = 32768  # Windows' own limit on a command line
MAX_SCRIPT = MAX_MESSAGE_CHARS  # a script block part is at most ~32 k UTF-16 units
MAX_DATA_ITEMS = 256
_NONE = frozenset({"", "-"})
_HASH_NAMES = frozenset({"md5", "sha1", "sha256", "sha384", "sha512", "imphash"})
_PARAM = re.compile(r"param([0-9]{1,3})")


def channel_info(channel: str | None) -> dict[str, str]:
    """dataset, module and kind of a channel; forwarded (stored, not interpreted) if unknown."""
    return CHANNELS.get((channel or "").lower(), FORWARDED)


def event_spec(kind: str, event_id: int) -> dict[str, Any] | None:
    return EVENTS.get(kind, {}).get(event_id)


def event_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """winlog.event_data: the insertion strings, cleaned; long ones kept longer, the
    script block text moved to ECS (not stored twice), unnamed Data elements
    (Winlogbeat's param1…N) also listed under Data, the name Sigma rules read them by."""
    short = {k: v for k, v in data.items() if k not in LONG_FIELDS}
    out: dict[str, Any] = clean_json(short, max_string=MAX_STRING, max_items=MAX_DATA_ITEMS)
    for key in LONG_FIELDS & data.keys():
        out[key] = clean_json(data[key], max_string=MAX_LONG, max_items=MAX_DATA_ITEMS)
    if kind == "powershell":
        out.pop("ScriptBlockText", None)
    if "Data" not in out:
        params = _params(out)
        if params:
            out["Data"] = params
    return out


def _params(data: dict[str, Any]) -> list[Any]:
    numbered = []
    for key, value in data.items():
        found = _PARAM.fullmatch(key)
        if found:
            numbered.append((int(found.group(1)), value))
    return [value for _, value in sorted(numbered, key=lambda item: item[0])]


def apply(kind: str, event_id: int, data: dict[str, Any], ecs: dict[str, Any]) -> None:
    """Put the insertion strings of a known channel where the table says, then the
    channel's own extras (script blocks, PowerShell context, Defender paths)."""
    # Cached per event id with overrides only: ids come from the sender (0-65535).
    table = _table(kind, event_id if event_id in BY_EVENT.get(kind, {}) else -1)
    for key, value in data.items():  # an event has fewer strings than the table names
        entry = table.get(key)
        if entry is not None:
            raw = _text_value(value)
            if raw is not None:
                entry[1](ecs, entry[0], raw)
    extra = _EXTRAS.get(kind)
    if extra is not None:
        extra(event_id, data, ecs)


Reader = Callable[[dict[str, Any], tuple[str, ...], str], None]


@cache
def _table(kind: str, event_id: int) -> dict[str, tuple[tuple[str, ...], Reader]]:
    """Insertion string name (each spelling) -> (ECS path, reader), built once per event id."""
    specs = dict(FIELDS.get(kind, {}))
    specs.update(BY_EVENT.get(kind, {}).get(event_id, {}))
    table = {}
    for name, spec in specs.items():
        path, how = (spec, "text") if isinstance(spec, str) else (spec["path"], spec["as"])
        for spelling in _spellings(name):
            table[spelling] = (tuple(path.split(".")), _READERS[how])
    return table


def _spellings(name: str) -> tuple[str, ...]:
    # Defender's "Threat Name" arrives with the space, without it or with "_".
    return tuple(dict.fromkeys((name, name.replace(" ", ""), name.replace(" ", "_"))))


def detail(ecs: dict[str, Any]) -> str | None:
    """The one thing an analyst wants next to the event's name in the summary line."""
    for path in (
        ("process", "command_line"),
        ("registry", "path"),
        ("dns", "question", "name"),
        ("file", "path"),
        ("file", "name"),
        ("service", "name"),
        ("threat", "software", "name"),
        ("process", "executable"),
    ):
        value = _get(ecs, path)
        if isinstance(value, str):
            return value
    destination = ecs.get("destination", {})
    if "ip" in destination:
        return f"{destination['ip']}:{destination.get('port', '')}".rstrip(":")
    return None


# ---- reading one value --------------------------------------------------------------


def _lookup(data: dict[str, Any], name: str) -> str | None:
    """An insertion string as text, under any spelling of its name."""
    for key in _spellings(name):
        value = _text_value(data.get(key))
        if value is not None:
            return value
    return None


def _text_value(value: Any) -> str | None:
    """Text of an insertion string; NXLog sends some numbers as JSON numbers. Windows'
    "-" and empty strings mean no value."""
    if type(value) is int:
        return str(value)
    if type(value) is str and value.strip() not in _NONE:
        return value
    return None


def _put(ecs: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    if value is None:
        return
    node = ecs
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def _get(ecs: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = ecs
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


# Text is kept as Windows wrote it, spaces included: Sigma rules compare whole values
# ('"C:\Windows\system32\cmd.exe" ' with its trailing space is a real ParentCommandLine).
def _text(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    _put(ecs, path, clean_text(raw, MAX_STRING))


def _long(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    _put(ecs, path, clean_text(raw, MAX_LONG))


def _int(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    text = raw.strip()
    try:
        number = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return
    if 0 <= number < 2**63:
        _put(ecs, path, number)


def _port(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    port = port_or_none(raw.strip())
    _put(ecs, path, port or None)  # 0: no port


def _ip(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    _put(ecs, path, ip_or_none(raw.strip()))


def _bool(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    _put(ecs, path, {"true": True, "false": False}.get(raw.strip().lower()))


def _exe(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    executable = clean_text(raw, MAX_LONG)
    _put(ecs, path, executable)
    _put(ecs, (*path[:-1], "name"), clean_text(_basename(executable), MAX_NAME))


def _file(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    _exe(ecs, path, raw)
    name = _get(ecs, (*path[:-1], "name"))
    if isinstance(name, str) and "." in name.strip("."):
        _put(ecs, (*path[:-1], "extension"), name.rpartition(".")[2].lower()[:32])


def _user(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    domain, _, name = raw.strip().rpartition("\\")
    _put(ecs, (*path, "name"), clean_text(name, MAX_NAME) if name else None)
    _put(ecs, (*path, "domain"), clean_text(domain, MAX_NAME) if domain else None)


def _hashes(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    found = {}
    for item in raw.split(",")[:8]:
        kind, _, value = item.partition("=")
        kind = kind.strip().lower().replace("-", "")
        value = value.strip()
        if kind in _HASH_NAMES and value.isascii() and value.isalnum() and len(value) <= 128:
            found[kind] = value.lower()
    if found:
        _put(ecs, path, found)


def _registry(ecs: dict[str, Any], path: tuple[str, ...], raw: str) -> None:
    """registry.path as Sysmon wrote it ("HKLM\\SOFTWARE\\…\\Run\\evil"), plus ECS's
    hive, key (without the hive) and value (the last element)."""
    full = clean_text(raw, MAX_STRING)
    _put(ecs, path, full)
    hive, _, rest = full.partition("\\")
    parent = path[:-1]
    _put(ecs, (*parent, "hive"), hive[:64] or None)
    if rest:
        _put(ecs, (*parent, "key"), rest)
        _put(ecs, (*parent, "value"), rest.rpartition("\\")[2] or None)


def _basename(path: str) -> str:
    return path.replace("/", "\\").rpartition("\\")[2] or path


_READERS: dict[str, Reader] = {
    "text": _text,
    "long": _long,
    "int": _int,
    "port": _port,
    "ip": _ip,
    "bool": _bool,
    "exe": _exe,
    "file": _file,
    "user": _user,
    "hashes": _hashes,
    "registry": _registry,
}


# ---- what a table cannot say --------------------------------------------------------


def _sysmon(event_id: int, data: dict[str, Any], ecs: dict[str, Any]) -> None:
    if event_id == 3:
        initiated = (_lookup(data, "Initiated") or "").lower()
        direction = {"true": "egress", "false": "ingress"}.get(initiated)
        _put(ecs, ("network", "direction"), direction)
    if event_id == 13 and isinstance(_get(ecs, ("registry", "data", "strings")), str):
        ecs["registry"]["data"]["strings"] = [ecs["registry"]["data"]["strings"]]
    if event_id == 22:
        answers = _lookup(data, "QueryResults")
        ips = [ip_or_none(a.strip().removeprefix("::ffff:")) for a in (answers or "").split(";")]
        resolved = [ip for ip in ips[:32] if ip]
        _put(ecs, ("dns", "resolved_ip"), resolved or None)


def _powershell(event_id: int, data: dict[str, Any], ecs: dict[str, Any]) -> None:
    script = data.get("ScriptBlockText")
    if event_id == 4104 and type(script) is str:
        _put(ecs, ("powershell", "file", "script_block_text"), clean_text(script, MAX_SCRIPT))
    context = _lookup(data, "ContextInfo")
    if context:
        _context(ecs, _pairs(context))


def _powershell_classic(event_id: int, data: dict[str, Any], ecs: dict[str, Any]) -> None:
    # 400/403/600/800 carry "Name=value" lines in one unnamed Data element (param3 for
    # 400/403/600, param2 for 800 in Winlogbeat's naming; Data as NXLog names it).
    for key in ("Data", "param3", "param2", "param1"):
        value = data.get(key)
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if type(text) is str and "=" in text:
                _context(ecs, _pairs(text))
                return


def _context(ecs: dict[str, Any], pairs: dict[str, str]) -> None:
    """4103 ContextInfo and the classic events' details: the host application is the
    command line PowerShell runs under; the command, engine and user beside it."""
    host = pairs.get("hostapplication")
    if host:
        _long(ecs, ("process", "command_line"), host)
        executable = host.strip().strip('"').split('" ', 1)[0].split(" ", 1)[0]
        _exe(ecs, ("process", "executable"), executable)
    for key, path in (
        ("commandname", ("powershell", "command", "name")),
        ("commandtype", ("powershell", "command", "type")),
        ("commandpath", ("powershell", "command", "path")),
        ("scriptname", ("file", "path")),
        ("engineversion", ("powershell", "engine", "version")),
        ("hostname", ("powershell", "process", "host_name")),
        ("hostversion", ("powershell", "process", "executable_version")),
        ("runspaceid", ("powershell", "runspace_id")),
        ("pipelineid", ("powershell", "pipeline_id")),
        ("shellid", ("powershell", "id")),
        ("providername", ("powershell", "provider", "name")),
        ("newenginestate", ("powershell", "engine", "new_state")),
        ("previousenginestate", ("powershell", "engine", "previous_state")),
    ):
        if pairs.get(key):
            _text(ecs, path, pairs[key])
    if pairs.get("user") and "user" not in ecs:
        _user(ecs, ("user",), pairs["user"])


def _pairs(text: str) -> dict[str, str]:
    """Lines "Host Application = x" or "HostApplication=x" -> {"hostapplication": "x"}.
    str.partition, not a regular expression: the text is the attacker's."""
    found: dict[str, str] = {}
    for line in text.splitlines()[:128]:
        key, sep, value = line.partition("=")
        key = key.strip().replace(" ", "")
        if sep and 0 < len(key) <= 40 and key.isascii() and key.isalpha():
            found.setdefault(key.lower(), value.strip())
    return found


def _defender(event_id: int, data: dict[str, Any], ecs: dict[str, Any]) -> None:
    # Defender writes detected paths as "file:_C:\…" (or "containerfile:_…; file:_…").
    path = _get(ecs, ("file", "path"))
    if isinstance(path, str) and "_" in path and path.split("_", 1)[0].endswith("file:"):
        _file(ecs, ("file", "path"), path.split(";", 1)[0].split("_", 1)[1])


_EXTRAS: dict[str, Callable[[int, dict[str, Any], dict[str, Any]], None]] = {
    "sysmon": _sysmon,
    "powershell": _powershell,
    "powershell_classic": _powershell_classic,
    "defender": _defender,
}
