"""Alert rules as YAML data: schema, line-aware loading, the RuleBook.

- model: what a pack may say (pydantic), one class per rule kind
- loader: YAML with line numbers; RuleError/RuleErrors say file:line: field: message
- validate: checks across fields (metric registry, parameters, templates, ordering)
- params: per-device parameter tables (e.g. each station's BĐ I-III)
- specs: a levels/threshold rule resolved for one device as a hysteresis LevelSpec
- text: templates and Signal building
- book: RuleBook.load(paths)
"""

from .book import DEFAULT_RULES_DIR, RuleBook
from .durations import format_duration, parse_duration
from .loader import RuleError, RuleErrors

__all__ = [
    "DEFAULT_RULES_DIR",
    "RuleBook",
    "RuleError",
    "RuleErrors",
    "format_duration",
    "parse_duration",
]
