"""The site's own networks and names, for Sigma placeholders (`field|expand: '%name%'`).

Rules name what differs between sites (the internal networks, the admin workstations,
the service accounts) by placeholder, and the site fills them in here, in
deploy/security/site.yaml (IOC_SECURITY_SITE), never by editing rules:

    networks:            # CIDR lists: `source.ip|expand: '%home_net%'` matches inside them
      home_net: [10.0.0.0/8, 172.16.0.0/12]
    values:              # string lists: `Computer|expand: '%admin_hosts%'` is any of them
      admin_hosts: [QTHT-PC01, QTHT-PC02]

Replacement is pySigma's: its ValueListPlaceholderTransformation turns a value
placeholder into the strings listed (wildcards work in them, and a placeholder may sit
inside a longer value: `'%systemroot%\\x.exe'`); a network placeholder, written as the
whole value, becomes one SigmaCIDRExpression per range, as if the rule had written
`|cidr` with the list, through the small ValueTransformation below (pySigma's own
placeholder transformations only produce strings). A placeholder the site does not
define leaves the rule rejected with its name in the reason, never matching nothing or
everything silently.

The agencies' ranges (G's inventory) are HOME_NET too: `with_networks("home_net", ...)`
adds them to the site's own list.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.base import ValueTransformation
from sigma.processing.transformations.placeholder import ValueListPlaceholderTransformation
from sigma.rule import SigmaDetection, SigmaRule
from sigma.types import Placeholder, SigmaCIDRExpression, SigmaRegularExpression, SigmaString

from config.yaml_loader import ConfigErrors, load_data

SITE_FILE = Path(__file__).resolve().parents[3] / "deploy" / "security" / "site.yaml"
HOME_NET = "home_net"
_SECTIONS = ("networks", "values")


class SiteError(ValueError):
    """site.yaml is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Site:
    networks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> CIDRs
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> strings

    @classmethod
    def load(cls, path: Path = SITE_FILE) -> Site:
        """The site file; a missing file is an empty site (rules with placeholders are
        then rejected with the placeholder named)."""
        if not path.exists():
            return cls()
        try:
            data = load_data(path)
        except ConfigErrors as error:
            raise SiteError(str(error)) from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = "<site>") -> Site:
        if data is None:
            return cls()
        if not isinstance(data, dict) or set(data) - set(_SECTIONS):
            raise SiteError(f"{source}: top level may only have {', '.join(_SECTIONS)}")
        networks = {
            name: _networks(source, name, raw)
            for name, raw in _section(source, "networks", data).items()
        }
        values = {
            name: _strings(source, name, raw)
            for name, raw in _section(source, "values", data).items()
        }
        both = set(networks) & set(values)
        if both:
            raise SiteError(f"{source}: {', '.join(sorted(both))} in both networks and values")
        return cls(networks, values)

    def with_networks(self, name: str, extra: Iterable[str]) -> Site:
        """The site with more ranges under a network placeholder (e.g. the agencies'
        ranges added to home_net)."""
        extra = [str(network) for network in extra]
        if not extra:
            return self
        added = _networks("<added>", name, extra)
        merged = tuple(dict.fromkeys([*self.networks.get(name, ()), *added]))
        return Site({**self.networks, name: merged}, self.values)

    def pipeline(self) -> ProcessingPipeline:
        items = [ProcessingItem(_NetworkPlaceholders(dict(self.networks)))]
        if self.values:
            items.append(
                ProcessingItem(ValueListPlaceholderTransformation(include=list(self.values)))
            )
        return ProcessingPipeline(
            name="site", items=items, vars={k: list(v) for k, v in self.values.items()}
        )

    def apply(self, rule: SigmaRule) -> None:
        """Fill the rule's placeholders in place (a rule without any is left alone)."""
        if _has_placeholders(rule.detection.detections.values()):
            self.pipeline().apply(rule)


@dataclass
class _NetworkPlaceholders(ValueTransformation):
    """A value that is exactly one network placeholder -> one CIDR test per range."""

    networks: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def apply_value(self, field: str | None, val: SigmaString) -> list[SigmaCIDRExpression] | None:
        parts = val.s
        if len(parts) != 1 or not isinstance(parts[0], Placeholder):
            return None
        ranges = self.networks.get(parts[0].name)
        if ranges is None:
            return None
        return [SigmaCIDRExpression(cidr) for cidr in ranges]


def _has_placeholders(detections: Iterable[SigmaDetection]) -> bool:
    for detection in detections:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                if _has_placeholders([item]):
                    return True
                continue
            for value in item.value:
                if isinstance(value, SigmaString | SigmaRegularExpression) and (
                    value.contains_placeholder()
                ):
                    return True
    return False


def _section(source: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
    raw = data.get(name) or {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and k for k in raw):
        raise SiteError(f"{source}: '{name}' must map placeholder names to lists")
    return raw


def _strings(source: str, name: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise SiteError(f"{source}: values.{name} must be a non-empty list")
    if not all(isinstance(item, str | int) and str(item) for item in raw):
        raise SiteError(f"{source}: values.{name} must list strings")
    return tuple(str(item) for item in raw)


def _networks(source: str, name: str, raw: Any) -> tuple[str, ...]:
    # An empty list would make "not in home_net" true for every address: refused.
    if not isinstance(raw, list) or not raw:
        raise SiteError(f"{source}: networks.{name} must be a non-empty list of CIDR ranges")
    found = []
    for item in raw:
        try:
            found.append(str(ipaddress.ip_network(str(item), strict=False)))
        except ValueError as error:
            raise SiteError(f"{source}: networks.{name}: {error}") from None
    return tuple(dict.fromkeys(found))
