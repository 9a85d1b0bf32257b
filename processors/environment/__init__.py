"""Environmental detectors: pure logic, no I/O beyond reading this package's YAML once.

- aqi: VN_AQI per Decision 1459/QĐ-TCMT (sub-indices, NowCast, hourly and daily AQI)
- averaging: hourly means (BAD readings dropped), 8h running means, NowCast inputs,
  daily statistics
- qcvn: QCVN 05:2023/BTNMT exceedances, with limits that change on a date
- levels, hysteresis: ordered alarm levels (flood BĐ I-III per station, salinity, AQI)
  and the level machine that raises, escalates, de-escalates and resolves one alert
- checks: physical range, rate of change, stuck value
- detector: EnvironmentDetector, the per-reading rules of the rule packs (rules/*.yaml,
  engine in engine/) behind the Detector contract
- engine: the rule engine — pack schema, line-aware loading, RuleBook, rule machines
- aqi_signals: hourly env.aqi / env.qcvn signals from hourly means (alert service timer)

All state is plain dataclasses with to_dict()/from_dict(), so a worker can persist it.
"""

from .aqi import AqiResult, DailyInputs, daily_aqi, hourly_aqi, nowcast, sub_index
from .averaging import daily_inputs, hourly_means, nowcast_hours, rolling_means
from .checks import check_range, rate_of_change, stuck_value, update_stuck
from .hysteresis import LevelState, Transition, step
from .levels import LevelSpec, aqi_spec, salinity_spec, water_level_spec
from .qcvn import Exceedance, assess, exceedance

__all__ = [
    "AqiResult",
    "DailyInputs",
    "Exceedance",
    "LevelSpec",
    "LevelState",
    "Transition",
    "aqi_spec",
    "assess",
    "check_range",
    "daily_aqi",
    "daily_inputs",
    "exceedance",
    "hourly_aqi",
    "hourly_means",
    "nowcast",
    "nowcast_hours",
    "rate_of_change",
    "rolling_means",
    "salinity_spec",
    "step",
    "stuck_value",
    "sub_index",
    "update_stuck",
    "water_level_spec",
]
