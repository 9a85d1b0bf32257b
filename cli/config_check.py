"""The configuration files, besides the environment rule packs, that `ioc rules check`
validates (ingest routes, alert channels, cameras, security, TAXII, cases): each
through the loader its service calls at start and on reload, so the check finds what a
reload would refuse and nothing a reload would accept.

Problems come as the loaders word them (`file:line: field: message`, or the file and
the loader's message where it gives no line); a group that loads gets one summary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from config.settings import Settings
from config.yaml_loader import ConfigErrors

if TYPE_CHECKING:
    from processors.security.sigma.site import Site

T = TypeVar("T")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    # What a reload logs and then runs without (a Sigma rule left out): said, not failed.
    warnings: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)

    def load(self, loader: Callable[[], T]) -> T | None:
        """The loader's result, or None with its problems recorded."""
        from processors.security.sigma.site import SiteError

        try:
            return loader()
        except ConfigErrors as errors:
            self.problems += [str(error) for error in errors.errors]
        except SiteError as error:
            # It wraps the YAML loader's lines, or says file and entry in one.
            self.problems += str(error).splitlines()
        return None

    def run(self, check: Callable[[], str]) -> None:
        summary = self.load(check)
        if summary is not None:
            self.summaries.append(summary)


def check_configuration(
    settings: Settings,
    report: Report,
    grouping_file: Path | None = None,
    playbook_dir: Path | None = None,
) -> None:
    """Every group the settings name; the case files are not settings (the alert
    service reads processors/cases/), so the defaults are theirs."""
    from processors.cases.grouping import GROUPING_FILE
    from processors.cases.playbooks import PLAYBOOK_DIR

    report.run(lambda: ingest_routes(settings))
    report.run(lambda: alert_channels(settings))
    report.run(lambda: cameras(settings))
    site = security_site(settings, report)
    report.run(lambda: detections(settings, site, report.warnings))
    report.run(lambda: taxii(settings))
    cases(grouping_file or GROUPING_FILE, playbook_dir or PLAYBOOK_DIR, report)


def ingest_routes(settings: Settings) -> str:
    """routes.yaml: the ingest workers' topics and the API's HTTP ingest routes."""
    from ingest.routes import load_routes

    config = load_routes(settings.routes_file)
    return (
        f"ingest routes: {plural(len(config.mqtt.routes), 'MQTT route')},"
        f" {plural(len(config.kafka.routes), 'Kafka route')},"
        f" {plural(len(config.http.routes), 'HTTP route')}"
    )


def alert_channels(settings: Settings) -> str:
    """channels.yaml, as the alert service's dispatcher and the API read it."""
    from processors.alerts.channels import channels_path, load_channels

    config = load_channels(channels_path(settings))
    return f"alert channels: {plural(len(config.channels), 'channel')}"


def cameras(settings: Settings) -> str:
    """The camera registry, camera rule pack and plate watch list (processors/cameras/)."""
    from processors.cameras import load_camera_detectors
    from processors.cameras.records import CameraRecordSink
    from processors.cameras.registry import load_registry

    detectors = load_camera_detectors(settings.camera_registry, settings.camera_rules)
    registry = load_registry(settings.camera_registry)
    CameraRecordSink.load(registry=settings.camera_registry)  # plate_watch.yaml
    lines = sum(len(c.lines) for c in registry.cameras.values())
    return (
        f"{plural(len(registry.cameras), 'camera')}, {plural(lines, 'counting line')},"
        f" {plural(len(registry.segments), 'segment')}, {plural(len(detectors), 'camera rule')}"
    )


def security_site(settings: Settings, report: Report) -> Site | None:
    """The agencies and the site file as the worker reads them (processors/catalog.py):
    HOME_NET is the site's widened by every agency's ranges. Both files are read
    whatever the other holds, so each one's problems are listed."""
    from config.agencies import Inventory
    from processors.security.sigma.site import HOME_NET, Site

    inventory = report.load(lambda: Inventory.load(settings.agencies_file))
    site = report.load(lambda: Site.load(settings.security_site))
    if inventory is None or site is None:
        return None
    site = site.with_networks(HOME_NET, inventory.home_networks())
    home_net = len(site.networks.get(HOME_NET, ()))
    placeholders = len(site.networks) + len(site.values)
    report.summaries.append(
        f"security site and agencies: {plural(len(inventory.agencies), 'agency', 'agencies')},"
        f" {plural(len(inventory.sources), 'log source')},"
        f" {plural(home_net, 'HOME_NET range')}, {plural(placeholders, 'site placeholder')}"
    )
    return site


def detections(settings: Settings, site: Site | None, warnings: list[str]) -> str:
    """detections.yaml, the indicator lists and the Sigma rules, built as the worker
    builds them. Without a usable site (its problems are listed already) the Sigma rules
    are left out: their placeholders would be judged against the wrong networks."""
    from processors.security.detectors import load_security_detectors
    from processors.security.sigma_detector import SigmaDetector

    with _logged_warnings("processors.security.detectors") as logged:
        built = load_security_detectors(
            Path(settings.security_rules),
            indicators=Path(settings.indicators),
            sigma_rules=settings.sigma_paths() if site is not None else None,
            site=site,
        )
    warnings += logged
    sigma = [d for d in built if isinstance(d, SigmaDetector)]
    summary = f"security detections: {plural(len(built) - len(sigma), 'detection')}"
    for detector in sigma:
        ruleset = detector.engine.ruleset
        summary += (
            f", {plural(len(ruleset.rules), 'Sigma rule')},"
            f" {plural(len(ruleset.correlations), 'Sigma correlation')}"
        )
        if ruleset.rejected:
            summary += f" ({len(ruleset.rejected)} not loaded, see the warnings)"
    return summary


def taxii(settings: Settings) -> str:
    from processors.taxii.config import config_path, load_config

    config = load_config(config_path(settings))
    return f"TAXII: {plural(len(config.pull), 'pull source')}"


def cases(grouping_file: Path, playbook_dir: Path, report: Report) -> None:
    """grouping.yaml and the CSIRT playbooks, as the alert service's case-grouping job
    reads them; both are read whatever the other holds."""
    from processors.cases.grouping import load_grouping
    from processors.cases.playbooks import load_playbooks

    grouping = report.load(lambda: load_grouping(grouping_file))
    books = report.load(lambda: load_playbooks(playbook_dir))
    if grouping is not None and books is not None:
        report.summaries.append(
            f"case grouping and playbooks: {plural(len(grouping.rules), 'grouping rule')},"
            f" {plural(len(books), 'playbook')}"
        )


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


@contextmanager
def _logged_warnings(logger_name: str) -> Iterator[list[str]]:
    """What the loader logs at WARNING or above while it runs: the problems a reload
    logs and then works around (an indicator line, a Sigma rule left out)."""
    collected: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            collected.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield collected
    finally:
        logger.removeHandler(handler)
