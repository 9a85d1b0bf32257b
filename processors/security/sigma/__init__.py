"""Sigma detection on the security event stream.

pySigma reads and validates the rules; it does not match events (its backends turn rules
into SIEM queries). Matching, logsource filtering and correlation windows are this
package's own: loader.py compiles each rule once into closures (matcher.py), engine.py
runs them over ECS events, correlation.py keeps the correlation windows (event_count,
value_count, temporal, temporal_ordered) as plain data, site.py fills placeholders from
the site's configuration.
"""

from processors.security.sigma.engine import Limits, SigmaEngine
from processors.security.sigma.fieldmap import FieldMap, FieldMapError
from processors.security.sigma.loader import RULES_DIR, RuleSet, load_rules, load_texts
from processors.security.sigma.model import Rejection, SigmaMatch
from processors.security.sigma.site import SITE_FILE, Site, SiteError

__all__ = [
    "RULES_DIR",
    "SITE_FILE",
    "FieldMap",
    "FieldMapError",
    "Limits",
    "Rejection",
    "RuleSet",
    "SigmaEngine",
    "SigmaMatch",
    "Site",
    "SiteError",
    "load_rules",
    "load_texts",
]
