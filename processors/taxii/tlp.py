"""TLP 2.0 levels in the order they tighten, and their STIX 2.1 marking definitions.

STIX 2.1 predefines only TLP 1.0 (white, green, amber, red) and stix2 ships only those;
cases carry TLP 2.0 (clear … amber+strict … red), so the markings are the ones OASIS
published for TLP 2.0 (cti-stix-common-objects, extension-definition-specifications/
tlp-2.0): fixed ids, created 2022-10-01, a property extension naming the level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stix2

LEVELS: tuple[str, ...] = ("clear", "green", "amber", "amber+strict", "red")
RANK: Mapping[str, int] = {level: index for index, level in enumerate(LEVELS)}

TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
_TLP2_IDS: Mapping[str, str] = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}


def level(name: str) -> str:
    """'amber', 'TLP:AMBER', 'white' (TLP 1.0 for clear) → the TLP 2.0 level; ValueError
    for anything else."""
    key = name.strip().lower().removeprefix("tlp:")
    key = "clear" if key == "white" else key
    if key not in RANK:
        raise ValueError(f"TLP {name!r} is not one of {', '.join(LEVELS)}")
    return key


def rank(name: str) -> int:
    return RANK[level(name)]


def _definition(name: str) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": _TLP2_IDS[name],
        "created": "2022-10-01T00:00:00.000Z",
        "name": f"TLP:{name.upper()}",
        "extensions": {TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": name}},
    }


MARKINGS: Mapping[str, stix2.v21.MarkingDefinition] = {
    name: stix2.parse(_definition(name), version="2.1") for name in LEVELS
}


def marking(name: str) -> stix2.v21.MarkingDefinition:
    return MARKINGS[level(name)]
