"""Stream detectors over security events, built from the rule pack (detections.yaml).

    detectors = load_security_detectors()        # shipped pack, indicator folder, Sigma rules

Each detector keeps the processors.detector.Detector contract: pure, event time only,
bounded JSON state per key, and every state carries "expires" (epoch seconds of event
time) after which it holds nothing, so stale rows can be deleted by age.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from processors.detector import Detector
from processors.security.detectors.auth import (
    BruteForceDetector,
    PasswordSprayDetector,
    SuccessAfterFailuresDetector,
)
from processors.security.detectors.ids import IdsAlertDetector
from processors.security.detectors.indicators import IndicatorDetector
from processors.security.detectors.malware import MalwareDetector
from processors.security.detectors.portscan import PortScanDetector
from processors.security.detectors.rules import (
    RULES_FILE,
    BruteForceSpec,
    DetectionSpec,
    IdsAlertSpec,
    IndicatorMatchSpec,
    MalwareSpec,
    PasswordSpraySpec,
    PortScanSpec,
    Rule,
    RulePack,
    RulePackError,
    SuccessAfterFailuresSpec,
    compile_rule,
    load_rule_pack,
)
from processors.security.indicators.loader import INDICATORS_DIR, IndicatorSet, load_indicators
from processors.security.sigma.fieldmap import FieldMap
from processors.security.sigma.loader import RULES_DIR as SIGMA_RULES_DIR
from processors.security.sigma.site import Site
from processors.security.sigma_detector import SigmaDetector

log = logging.getLogger(__name__)

Indicators = IndicatorSet | Path | Iterable[Path] | None
_BUILDERS: dict[type[DetectionSpec], Callable[[Rule[Any]], Detector]] = {
    BruteForceSpec: BruteForceDetector,
    PasswordSpraySpec: PasswordSprayDetector,
    SuccessAfterFailuresSpec: SuccessAfterFailuresDetector,
    PortScanSpec: PortScanDetector,
    IdsAlertSpec: IdsAlertDetector,
    MalwareSpec: MalwareDetector,
}

__all__ = [
    "RULES_FILE",
    "RulePackError",
    "build_detectors",
    "load_security_detectors",
]


def load_security_detectors(
    rules_path: Path = RULES_FILE,
    indicators: Indicators = INDICATORS_DIR,
    sigma_rules: Path | Iterable[Path] | None = SIGMA_RULES_DIR,
    fieldmap: FieldMap | None = None,
    site: Site | None = None,
) -> list[Detector]:
    """Every enabled detection of the pack, the indicator matcher (indicators: a loaded
    set, files/folders to load, or None for none) and, when the pack enables it, the
    Sigma rules (their placeholders filled from `site`, default deploy/security/site.yaml).
    A malformed pack raises RulePackError; indicator lines and Sigma rules
    that cannot be used are logged as warnings, one per problem, and left out."""
    fieldmap = fieldmap or FieldMap.load()
    pack = load_rule_pack(rules_path)
    loaded = _indicators(indicators)
    for problem in loaded.problems:
        log.warning("indicator not loaded: %s", problem)
    detectors = build_detectors(pack, fieldmap, loaded)
    if pack.sigma.enabled and sigma_rules is not None:
        sigma = SigmaDetector.load(sigma_rules, pack.sigma, fieldmap, site)
        for rejection in sigma.engine.rejected:
            log.warning("Sigma rule not loaded: %s", rejection)
        _check_titles(pack, sigma)
        detectors.append(sigma)
    return detectors


def build_detectors(pack: RulePack, fieldmap: FieldMap, indicators: IndicatorSet) -> list[Detector]:
    """The pack's enabled detections as detectors (no Sigma, no file access)."""
    detectors: list[Detector] = []
    for index, spec in enumerate(pack.detections):
        if spec.enabled:
            detectors.append(_build(compile_rule(spec, fieldmap, pack, index), indicators))
    return detectors


def _build(rule: Rule[Any], indicators: IndicatorSet) -> Detector:
    if isinstance(rule.spec, IndicatorMatchSpec):
        return IndicatorDetector(rule, indicators)
    return _BUILDERS[type(rule.spec)](rule)


def _indicators(indicators: Indicators) -> IndicatorSet:
    if indicators is None:
        return IndicatorSet()
    if isinstance(indicators, IndicatorSet):
        return indicators
    return load_indicators(indicators)


def _check_titles(pack: RulePack, sigma: SigmaDetector) -> None:
    known = {rule.info.key for rule in sigma.engine.ruleset.rules}
    known |= {c.info.key for c in sigma.engine.ruleset.correlations}
    for rule_id in sorted(set(pack.sigma.titles_vi) - known):
        log.warning("sigma.titles_vi names rule %s, which is not loaded", rule_id)
