"""Indicator lists (IoCs) for the indicator-match detector.

Two sources, both files an analyst can drop into a folder:
- plain lists (.txt, .list): one value per line, `#` starts a comment. A value is an IP
  address or network (CIDR), a domain, or an MD5/SHA-1/SHA-256 hash; its type is
  inferred, unless a word of the file name fixes it ("bad-ips.txt", "c2-domains.list",
  "sha256.txt"), and then a value of another type is reported, not guessed at;
- STIX 2.1 bundles (.json), e.g. from a national CERT or a MISP export: Indicators of
  pattern_type "stix" whose pattern is equality (or IN) on an address, domain, or file
  hash, alternatives joined by OR. Patterns are parsed by stix2-patterns' grammar (through
  the stix2 library's pattern objects), never by regular expressions.

Nothing is dropped silently: a line that is no indicator, an Indicator that is revoked or
whose pattern cannot be matched here (AND, LIKE, qualifiers, an URL …) becomes a Problem
naming the file, the line or the STIX id, and the reason. An OR with some unsupported
alternatives loads the supported ones (matching any alternative satisfies the pattern)
and reports the rest; an AND cannot be loaded in part and is reported whole.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import stix2
from stix2 import patterns as ast
from stix2.exceptions import STIXError
from stix2.pattern_visitor import create_pattern_object
from stix2patterns.exceptions import ParseException

INDICATORS_DIR = Path(__file__).resolve().parents[3] / "deploy" / "security" / "indicators"
IndicatorType = Literal["ip", "domain", "md5", "sha1", "sha256"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LIST_SUFFIXES = (".txt", ".list")
STIX_SUFFIXES = (".json",)
HASH_LENGTHS: dict[int, IndicatorType] = {32: "md5", 40: "sha1", 64: "sha256"}
# STIX hash algorithm names (the vocabulary, and spellings feeds use) -> ours.
STIX_HASHES: dict[str, IndicatorType] = {
    "MD5": "md5", "SHA-1": "sha1", "SHA1": "sha1", "SHA-256": "sha256", "SHA256": "sha256",
}  # fmt: skip
# A word of a list's file name that fixes the type of its values. "hash" admits any hash.
NAME_HINTS: dict[str, str] = {
    "ip": "ip", "ips": "ip", "ipv4": "ip", "ipv6": "ip", "cidr": "ip", "cidrs": "ip",
    "addresses": "ip", "domain": "domain", "domains": "domain", "fqdn": "domain",
    "hostnames": "domain", "hash": "hash", "hashes": "hash", "md5": "md5", "sha1": "sha1",
    "sha256": "sha256",
}  # fmt: skip
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_HEX = re.compile(r"[0-9a-fA-F]+")
_MAX_LINES = 1_000_000  # a list past this is a mistake (a log file dropped in the folder)


@dataclass(frozen=True, slots=True)
class Indicator:
    value: str  # canonical: "203.0.113.0/24", "198.51.100.66", "evil.example", lower hex
    type: IndicatorType
    source: str  # "bad-ips.txt:3" or "feed.json indicator--…"
    name: str | None = None
    valid_until: float | None = None  # epoch seconds (STIX valid_until)

    def valid_at(self, moment: float) -> bool:
        # Only the end is enforced: an old event matched against newer intelligence is
        # still worth a look (retro-hunting); expired intelligence is not.
        return self.valid_until is None or moment < self.valid_until


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    where: str  # "line 7", a STIX id, or "-" for the whole file
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.reason}"


@dataclass
class IndicatorSet:
    """Indicators by type, for O(1) lookups (networks: one lookup per prefix length).

    Addresses and networks are held as integers (a network by its first address, per
    (version, prefix length)): every security event's addresses are looked up here, and
    building ipaddress objects per prefix length per event was the detector's main cost
    (bench/security.py)."""

    addresses: dict[tuple[int, int], Indicator] = field(default_factory=dict)
    networks: dict[tuple[int, int], dict[int, Indicator]] = field(default_factory=dict)
    domains: dict[str, Indicator] = field(default_factory=dict)
    hashes: dict[str, Indicator] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _prefixes: list[tuple[int, int, int]] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        nets = sum(len(table) for table in self.networks.values())
        return len(self.addresses) + nets + len(self.domains) + len(self.hashes)

    def add(self, indicator: Indicator) -> None:
        """The first source listing a value wins: feeds overlap, and that is no error."""
        if indicator.type == "ip":
            network = ipaddress.ip_network(indicator.value)
            first = int(network.network_address)
            if network.num_addresses == 1:
                self.addresses.setdefault((network.version, first), indicator)
            else:
                table = self.networks.setdefault((network.version, network.prefixlen), {})
                table.setdefault(first, indicator)
                self._prefixes = None
        elif indicator.type == "domain":
            self.domains.setdefault(indicator.value, indicator)
        else:
            self.hashes.setdefault(indicator.value, indicator)

    def match_ip(self, text: str) -> Indicator | None:
        parsed = _address(text)
        if parsed is None:
            return None
        found = self.addresses.get(parsed)
        if found is not None:
            return found
        version, value = parsed
        for net_version, prefix, mask in self._by_specificity():
            if net_version == version:
                found = self.networks[(version, prefix)].get(value & mask)
                if found is not None:
                    return found
        return None

    def _by_specificity(self) -> list[tuple[int, int, int]]:
        """(version, prefix length, mask), most specific first, so a /28 note wins over
        its /16."""
        if self._prefixes is None:
            self._prefixes = [
                (version, prefix, _mask(version, prefix))
                for version, prefix in sorted(self.networks, key=lambda k: -k[1])
            ]
        return self._prefixes

    def match_domain(self, name: str) -> Indicator | None:
        """The name or a parent of it: a listed domain covers its subdomains."""
        labels = name.strip().rstrip(".").lower().split(".")
        for start in range(len(labels) - 1):
            found = self.domains.get(".".join(labels[start:]))
            if found is not None:
                return found
        return None

    def match_hash(self, value: str) -> Indicator | None:
        return self.hashes.get(value.strip().lower())


# ---- values ---------------------------------------------------------------------------


def parse_value(text: str, hint: str | None = None) -> tuple[IndicatorType, str]:
    """(type, canonical value); ValueError with the reason when it is not one (or not
    of the type the hint demands)."""
    kind = _infer(text)
    if kind is None:
        raise ValueError(f"{text[:80]!r} is not an IP address, network, domain or hash")
    if hint is not None and kind[0] != hint and not (hint == "hash" and kind[0] in _HASHES):
        raise ValueError(f"{text[:80]!r} is of type {kind[0]}; this list holds {hint} values")
    return kind


_HASHES = frozenset(HASH_LENGTHS.values())


def _infer(text: str) -> tuple[IndicatorType, str] | None:
    address = _ip_value(text)
    if address is not None:
        return "ip", address
    if _HEX.fullmatch(text) and len(text) in HASH_LENGTHS:
        return HASH_LENGTHS[len(text)], text.lower()
    domain = _domain_value(text)
    return ("domain", domain) if domain is not None else None


def _ip_value(text: str) -> str | None:
    try:
        if "/" in text:
            # strict: "203.0.113.5/24" is a typo for a host or a network; say so.
            network = ipaddress.ip_network(text, strict=True)
            return str(network.network_address if network.num_addresses == 1 else network)
        return str(ipaddress.ip_address(text))
    except ValueError as error:
        if "/" in text and "host bits set" in str(error):
            raise ValueError(f"{text!r} has host bits set; write the network address") from None
        return None


def _domain_value(text: str) -> str | None:
    name = text.strip().lower().rstrip(".").removeprefix("*.")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = name.split(".")
    # At least two labels: a bare word on a list line is more likely a mistake than a TLD.
    if len(labels) < 2 or len(name) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
        return None
    if labels[-1].isdigit():  # "10.0.0.300" is a broken address, not a domain
        return None
    return name


# ---- files ----------------------------------------------------------------------------


def load_indicators(paths: Path | Iterable[Path] = INDICATORS_DIR) -> IndicatorSet:
    """Indicators from files and folders (a folder: its .txt, .list and .json files)."""
    indicators = IndicatorSet()
    for path in _files([paths] if isinstance(paths, Path) else paths, indicators.problems):
        text = _read(path, indicators.problems)
        if text is None:
            continue
        if path.suffix.lower() in STIX_SUFFIXES:
            read_stix(str(path), text, indicators)
        else:
            read_list(str(path), text, indicators, _hint(path))
    return indicators


def _files(paths: Iterable[Path], problems: list[Problem]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.name.startswith(".") or child.name.lower().startswith("readme"):
                    continue  # notes beside the lists are not lists
                if child.suffix.lower() in LIST_SUFFIXES + STIX_SUFFIXES:
                    yield child
                else:
                    reason = "not an indicator file (expected .txt, .list or .json)"
                    problems.append(Problem(str(child), "-", reason))
        elif path.exists():
            yield path
        else:
            problems.append(Problem(str(path), "-", "not found"))


def _read(path: Path, problems: list[Problem]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(str(path), "-", f"cannot read: {error}"))
        return None


def _hint(path: Path) -> str | None:
    words = re.split(r"[^a-z0-9]+", path.stem.lower())
    hints = {NAME_HINTS[word] for word in words if word in NAME_HINTS}
    return hints.pop() if len(hints) == 1 else None


def read_list(name: str, text: str, into: IndicatorSet, hint: str | None = None) -> None:
    for number, line in enumerate(text.splitlines()[:_MAX_LINES], start=1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        try:
            kind, canonical = parse_value(value, hint)
        except ValueError as error:
            into.problems.append(Problem(name, f"line {number}", str(error)))
            continue
        into.add(Indicator(canonical, kind, f"{Path(name).name}:{number}"))


# ---- STIX 2.1 -------------------------------------------------------------------------


def read_stix(name: str, text: str, into: IndicatorSet) -> None:
    try:
        document = json.loads(text)
    except ValueError as error:
        into.problems.append(Problem(name, "-", f"not JSON: {error}"))
        return
    objects = document.get("objects") if isinstance(document, dict) else None
    if isinstance(document, dict) and document.get("type") == "indicator":
        objects = [document]
    if not isinstance(objects, list):
        into.problems.append(Problem(name, "-", "not a STIX bundle (no 'objects' list)"))
        return
    for index, item in enumerate(objects):
        if isinstance(item, dict) and item.get("type") == "indicator":
            _stix_indicator(name, index, item, into)


def _stix_indicator(name: str, index: int, item: dict[str, Any], into: IndicatorSet) -> None:
    where = str(item.get("id") or f"objects[{index}]")
    try:
        indicator = stix2.parse(item, allow_custom=True, version="2.1")
    except (STIXError, ValueError, ParseException) as error:
        into.problems.append(Problem(name, where, f"invalid Indicator: {error}"))
        return
    if indicator.get("revoked"):
        into.problems.append(Problem(name, where, "revoked; not loaded"))
        return
    if indicator.pattern_type != "stix":
        reason = f"pattern_type {indicator.pattern_type!r} is not supported (only 'stix')"
        into.problems.append(Problem(name, where, reason))
        return
    until = indicator.get("valid_until")
    origin = Indicator(
        value=indicator.id,  # a template: each value found in the pattern replaces it
        type="ip",
        source=f"{Path(name).name} {indicator.id}",
        name=indicator.get("name"),
        valid_until=until.timestamp() if until is not None else None,
    )
    _stix_pattern(name, where, indicator.pattern, origin, into)


def _stix_pattern(
    name: str, where: str, pattern: str, origin: Indicator, into: IndicatorSet
) -> None:
    tree = create_pattern_object(pattern, version="2.1")
    loaded: list[tuple[IndicatorType, str]] = []
    unsupported: list[str] = []
    for node in _alternatives(tree):
        try:
            loaded.extend(_comparison(node))
        except ValueError as error:
            unsupported.append(f"{node}: {error}")
    for kind, value in loaded:
        into.add(replace(origin, value=value, type=kind))
    if unsupported:
        state = "partly loaded" if loaded else "not loaded"
        reason = f"pattern {state}; unsupported: " + "; ".join(unsupported)
        into.problems.append(Problem(name, where, reason))


def _alternatives(node: Any) -> Iterator[Any]:
    """The OR-ed parts of a pattern, observation or comparison level alike."""
    if isinstance(node, ast.ParentheticalExpression):
        yield from _alternatives(node.expression)
    elif isinstance(node, ast.ObservationExpression):
        yield from _alternatives(node.operand)
    elif isinstance(node, ast.OrObservationExpression | ast.OrBooleanExpression):
        for operand in node.operands:
            yield from _alternatives(operand)
    else:
        yield node


def _comparison(node: Any) -> list[tuple[IndicatorType, str]]:
    if isinstance(node, ast.AndBooleanExpression | ast.AndObservationExpression):
        raise ValueError("AND cannot be matched one value at a time")
    if isinstance(node, ast.QualifiedObservationExpression | ast.FollowedByObservationExpression):
        raise ValueError("qualifiers and FOLLOWEDBY need a sequence of events")
    if getattr(node, "negated", False):
        raise ValueError("negated comparisons are not supported")
    if isinstance(node, ast.EqualityComparisonExpression):
        values = [node.rhs]
    elif isinstance(node, ast.InComparisonExpression):
        values = list(node.rhs.value)
    else:
        raise ValueError(f"{type(node).__name__} is not supported (only '=' and IN)")
    kind = _path_type(node.lhs)
    found = []
    for constant in values:
        if not isinstance(constant, ast.StringConstant):
            raise ValueError("only string values can be indicators")
        found.append(parse_value(str(constant.value), kind))
    return found


def _path_type(path: ast.ObjectPath) -> str:
    """The indicator type an object path holds; ValueError for one not matched here."""
    props = [getattr(part, "property_name", None) for part in path.property_path]
    root = path.object_type_name
    if root in ("ipv4-addr", "ipv6-addr") and props == ["value"]:
        return "ip"
    if root == "network-traffic" and props in (["src_ref", "value"], ["dst_ref", "value"]):
        return "ip"
    if root == "domain-name" and props == ["value"]:
        return "domain"
    if root == "file" and len(props) == 2 and props[0] == "hashes":
        algorithm = STIX_HASHES.get(str(props[1]).upper())
        if algorithm is not None:
            return algorithm
        raise ValueError(f"hash algorithm {props[1]!r} is not matched (MD5, SHA-1, SHA-256)")
    raise ValueError(f"object path {root}:{'.'.join(map(str, props))} is not matched here")


@lru_cache(maxsize=65536)
def _address(text: str) -> tuple[int, int] | None:
    """(version, integer) of an address; cached: a SOC sees the same addresses again and
    again (its servers, its scanners)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address.version, int(address)


def _mask(version: int, prefix: int) -> int:
    bits = 32 if version == 4 else 128
    return ((1 << prefix) - 1) << (bits - prefix)
