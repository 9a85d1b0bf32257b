"""Indicators of compromise (IoC lists, STIX 2.1 bundles) for the indicator-match detector."""

from processors.security.indicators.loader import (
    INDICATORS_DIR,
    Indicator,
    IndicatorSet,
    Problem,
    load_indicators,
    parse_value,
)

__all__ = [
    "INDICATORS_DIR",
    "Indicator",
    "IndicatorSet",
    "Problem",
    "load_indicators",
    "parse_value",
]
