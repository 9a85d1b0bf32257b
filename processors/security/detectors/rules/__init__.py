"""The security rule pack (detections.yaml) and what every detector shares.

- model: the pack as data (pydantic), one class per detection type
- loader: load_rule_pack / parse_rule_pack, errors that say file:line: field: message
- compiled: Rule, a detection with its Sigma selections compiled, and the Signal it raises
- windows: event order, sliding windows in event time, quiet periods, listed values
"""

from .compiled import Rule, compile_rule
from .loader import RulePackError, load_rule_pack, parse_rule_pack
from .model import (
    RULES_FILE,
    BruteForceSpec,
    Detection,
    DetectionSpec,
    IdsAlertSpec,
    IndicatorMatchSpec,
    MalwareSpec,
    PasswordSpraySpec,
    PortScanSpec,
    RulePack,
    SigmaSettings,
    SuccessAfterFailuresSpec,
)

__all__ = [
    "RULES_FILE",
    "BruteForceSpec",
    "Detection",
    "DetectionSpec",
    "IdsAlertSpec",
    "IndicatorMatchSpec",
    "MalwareSpec",
    "PasswordSpraySpec",
    "PortScanSpec",
    "Rule",
    "RulePack",
    "RulePackError",
    "SigmaSettings",
    "SuccessAfterFailuresSpec",
    "compile_rule",
    "load_rule_pack",
    "parse_rule_pack",
]
