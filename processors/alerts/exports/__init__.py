"""The two standard exports of alerts.

cap: OASIS CAP 1.2 public warnings (flood, salinity, air quality), Vietnamese first.
stix: STIX 2.1 bundles of security alerts for the national monitoring centre.

Nothing is imported here, so importing one export does not load the other's library.
"""
