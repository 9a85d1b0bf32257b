"""The alert manager: identity, lifecycle, silences, outbox notifications, exports.

Stages, one module each (after Prometheus Alertmanager's pipeline):
manager (signals → alerts, dedup by fingerprint), lifecycle (people acknowledge and
resolve), silences (mute notifications, never recording), outbox (what to notify,
written with the change), dispatch + notify/<channel>/ (delivery), exports/ (CAP, STIX).
"""
