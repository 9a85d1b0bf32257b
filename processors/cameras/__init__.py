"""Camera detectors, built from the camera registry and the camera rule pack.

    detectors = load_camera_detectors(settings.camera_registry, settings.camera_rules)

Each keeps the processors.detector.Detector contract (pure, event time only, plain JSON
state per camera) and runs on the camera events new to the database, in frame-time
order (store/writer.py). Alerts come as signals; line crossings and plate reads as
records for the record sink (processors/cameras/records.py).

- registry.py: cameras, zones (aliases, closed hours), lines, segments
- rules/: the rule pack (cameras.yaml) and its model
- plates.py: Vietnamese plates in one spelling
- geometry.py: boxes and lines in a frame
- intrusion, loitering, crowding, crossing, plate_reads, health: one rule each
"""

from __future__ import annotations

from pathlib import Path

from processors.cameras.crossing import CrossingDetector
from processors.cameras.crowding import CrowdingDetector
from processors.cameras.health import HealthDetector
from processors.cameras.intrusion import IntrusionDetector
from processors.cameras.loitering import LoiteringDetector
from processors.cameras.plate_reads import PlateReadDetector
from processors.cameras.registry import REGISTRY_FILE, Registry, RegistryError, load_registry
from processors.cameras.rules import RULES_FILE, CameraRules, CameraRulesError, load_camera_rules
from processors.detector import Detector

__all__ = [
    "REGISTRY_FILE",
    "RULES_FILE",
    "CameraRulesError",
    "RegistryError",
    "build_camera_detectors",
    "load_camera_detectors",
]


def load_camera_detectors(
    registry_path: Path = REGISTRY_FILE, rules_path: Path = RULES_FILE
) -> list[Detector]:
    """The enabled camera rules; a malformed registry or pack raises RegistryError /
    CameraRulesError (both config.yaml_loader.ConfigErrors) naming every problem."""
    return build_camera_detectors(load_registry(registry_path), load_camera_rules(rules_path))


def build_camera_detectors(registry: Registry, rules: CameraRules) -> list[Detector]:
    detectors: list[Detector] = []
    if rules.intrusion.enabled:
        detectors.append(IntrusionDetector(registry, rules))
    if rules.loitering.enabled:
        detectors.append(LoiteringDetector(registry, rules))
    if rules.crowding.enabled:
        detectors.append(CrowdingDetector(registry, rules))
    if rules.crossing.enabled:
        detectors.append(CrossingDetector(registry, rules))
    if rules.plates.enabled:
        detectors.append(PlateReadDetector())
    if rules.tamper.enabled or rules.video_loss.enabled:
        detectors.append(HealthDetector(registry, rules))
    return detectors
