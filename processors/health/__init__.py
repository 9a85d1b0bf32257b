"""Device health evaluated on a timer (offline devices); per-reading health rules
(stuck, out of range) run in the environment detector."""

from .offline import DeviceSeen, offline_signals

__all__ = ["DeviceSeen", "offline_signals"]
