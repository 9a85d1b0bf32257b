"""TAXII 2.1 for the national centre (issue 14).

- `tlp.py`: TLP 2.0 levels, their order and their STIX marking definitions;
- `stix.py`: a shared case → STIX 2.1 objects (pure; reuses the alert export's identity
  and patterns, processors/alerts/exports/stix.py);
- `publish.py`: brings `taxii_objects` in line with the shared cases (store/taxii.py);
- `config.py` + `pull.py`: pulling indicators from other TAXII servers into the
  indicator lists (processors/security/indicators/) on a schedule.

The server itself is api/taxii/.
"""
