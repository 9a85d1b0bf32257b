"""Public warnings: which alerts become public CAP 1.2 warnings (policy.yaml), the
messages issued for them (Alert, Update, Cancel with references; Test), signed with
xmldsig, and served as an Atom feed by api/public/warnings_feed.py."""
