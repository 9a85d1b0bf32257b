"""Alert rules as YAML data: schema, line-aware loading, the RuleBook.

- model: what a pack may say (pydantic), one class per rule kind
- RuleError/RuleErrors: config.yaml_loader's file:line: field: message errors
- validate: checks across fields (metric registry, parameters, templates, ordering)
- params: per-device parameter tables (e.g. each station's BĐ I-III)
- specs: a levels/threshold rule resolved for one device as a hysteresis LevelSpec
- text: templates and Signal building
- book: RuleBook.load(paths)
"""

from config.yaml_loader import ConfigError as RuleError
from config.yaml_loader import ConfigErrors as RuleErrors

from .book import DEFAULT_RULES_DIR, RuleBook
from .durations import format_duration, parse_duration

__all__ = [
    "DEFAULT_RULES_DIR",
    "RuleBook",
    "RuleError",
    "RuleErrors",
    "format_duration",
    "parse_duration",
]
