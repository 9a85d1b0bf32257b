"""What the camera decoders (Frigate, Hikvision ISAPI, ONVIF) share: the object classes
rules speak of, and bounded, cleaned names.

Rules (processors/cameras/) name six classes; each camera system has its own words for
them (Frigate+ `school_bus`, Hikvision `largeBus`, `SUVMPV`, `twoWheelVehicle`, ONVIF
`Human`, `Vehicle`). They are mapped here once, so a restricted zone's `labels: [car]`
means the same whatever camera saw the car. A class not listed is kept as sent, in lower
case, so nothing is silently turned into something else.
"""

from __future__ import annotations

from events.text import clean_text

CLASSES = ("person", "bicycle", "motorcycle", "car", "bus", "truck")
MAX_NAME = 128
MAX_ZONES = 64

# Lower-cased system words -> class. Hikvision's and ONVIF's generic "vehicle" (no
# finer class reported) counts as a car: that is what a road camera mostly sees, and a
# rule restricted to cars should not let an unclassified vehicle through.
_ALIASES = {
    # people
    "human": "person",
    "pedestrian": "person",
    "people": "person",
    # two wheels
    "bike": "bicycle",
    "cycle": "bicycle",
    "nonmotorvehicle": "bicycle",
    "motorbike": "motorcycle",
    "scooter": "motorcycle",
    "twowheelvehicle": "motorcycle",
    "motorcyclecar": "motorcycle",
    # cars
    "vehicle": "car",
    "motorvehicle": "car",
    "smallcar": "car",
    "minicar": "car",
    "sedan": "car",
    "suvmpv": "car",
    "suv": "car",
    "mpv": "car",
    "van": "car",
    "minivan": "car",
    "threewheelvehicle": "car",
    "buggy": "car",
    # buses
    "largebus": "bus",
    "mediumbus": "bus",
    "minibus": "bus",
    "school_bus": "bus",
    "coach": "bus",
    # trucks
    "pickuptruck": "truck",
    "lighttruck": "truck",
    "heavytruck": "truck",
    "garbage_truck": "truck",
    "tanker": "truck",
}


def normalise_label(value: str | None) -> str | None:
    """One of CLASSES when the word is known, else the word itself in lower case."""
    if value is None:
        return None
    word = clean_text(value.strip(), MAX_NAME).lower()
    if not word or word == "unknown":
        return None
    return _ALIASES.get(word, word)


def name(value: str) -> str:
    """A zone, rule or camera name, cleaned and bounded."""
    return clean_text(value, MAX_NAME)


def names(values: list[str]) -> tuple[str, ...]:
    """Zone names in order, each once, at most MAX_ZONES."""
    return tuple(dict.fromkeys(name(v) for v in values if v))[:MAX_ZONES]
