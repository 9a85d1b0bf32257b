"""Which detectors run, built from the rule packs the settings name.

`load_detectors` is what the ingest worker's runner calls at start and on every
`ioc rules reload`; a pack that fails to load raises, and the runner keeps the set it
had (processors/runner.py).
"""

from __future__ import annotations

from pathlib import Path

from config import agencies
from config.agencies import Inventory
from config.settings import Settings
from processors.agencies.labels import labelled
from processors.alerts.channels import channels_path, load_channels
from processors.alerts.manager import AlertManager
from processors.cameras import load_camera_detectors
from processors.cameras.records import CameraRecordSink
from processors.environment.detector import EnvironmentDetector
from processors.environment.engine import RuleBook
from processors.runner import DetectorRunner, DetectorSet
from store import rule_generation


def load_detectors(settings: Settings) -> DetectorSet:
    from processors.security.detectors import load_security_detectors
    from processors.security.sigma.site import HOME_NET, Site

    book = RuleBook.load(settings.rules_paths())
    # Security alerts carry their agency; a reload reads the inventory again, and the
    # events' enrichment on the way in (ingest/decode.py) follows it.
    inventory = Inventory.load(settings.agencies_file)
    # Sigma placeholders: the site's file, its HOME_NET widened by every agency's ranges.
    site = Site.load(settings.security_site).with_networks(HOME_NET, inventory.home_networks())
    security = load_security_detectors(
        Path(settings.security_rules),
        indicators=Path(settings.indicators),
        sigma_rules=settings.sigma_paths(),
        site=site,
    )
    detectors = DetectorSet(
        measurements=[EnvironmentDetector(book)],
        security=labelled(security, inventory),
        cameras=load_camera_detectors(settings.camera_registry, settings.camera_rules),
        record_sink=CameraRecordSink.load(registry=settings.camera_registry),
    )
    agencies.use(inventory)
    return detectors


def build_runner(settings: Settings) -> DetectorRunner:
    routing = load_channels(channels_path(settings))
    return DetectorRunner(
        AlertManager(routing),
        lambda: load_detectors(settings),
        generation=lambda: rule_generation.read(settings.dsn()),
    )
