"""Agencies in the alert path: every security alert carries `agency` in its labels
(`labelled`), and log sources that fall silent raise `security.log_source_silent`
(`silent.py`, run by the alert service's `log-sources` job). The inventory itself is
configuration: config/agencies.py."""
