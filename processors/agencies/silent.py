"""Log sources silent longer than expected: `security.log_source_silent`, like an
offline sensor (processors/health/offline.py) but for what feeds the SOC.

Pure: the alert service's `log-sources` job (processors/jobs/log_sources.py) passes when
each source was last heard from and which have an open alert; the answer is the signals
to send now. Silence must EXCEED `after_intervals` × the source's expected interval. A
source never heard from raises nothing (one registered ahead of its installation is
normal; docs/soc/agencies.md). An open alert of a source no longer in the inventory is
resolved: nobody expects it any more.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from config.agencies import Agency, Inventory, LogSource
from events.alerts import Domain, Severity, Signal, SignalState
from processors.environment.engine.durations import format_duration
from processors.environment.engine.text import local_time
from store.agencies import SILENT_RULE

TECHNIQUES = ("T1562.002",)  # Impair Defenses: Disable Windows Event Logging (and kin)


def silent_signals(
    inventory: Inventory,
    seen: Mapping[str, datetime],
    open_alerts: Mapping[str, Mapping[str, str]],
    now: datetime,
) -> list[Signal]:
    """FIRING for sources newly past their limit, RESOLVED for alerted sources heard
    from again (or gone from the inventory)."""
    config = inventory.data.silent_alert
    signals = []
    for source_id, (agency, source) in sorted(inventory.sources.items()):
        last = seen.get(source_id)
        if last is None:
            continue
        limit = timedelta(seconds=source.expected_interval_s) * config.after_intervals
        silent = now - last > limit
        if silent != (source_id in open_alerts):
            signals.append(_signal(agency, source, last, limit, now, silent, config.severity))
    for source_id, labels in sorted(open_alerts.items()):
        if source_id not in inventory.sources:
            signals.append(_gone(labels, now))
    return signals


def _signal(
    agency: Agency,
    source: LogSource,
    last: datetime,
    limit: timedelta,
    now: datetime,
    silent: bool,
    severity: str,
) -> Signal:
    quiet = format_duration(now - last)
    where_vi = f"{source.id} ({source.kind}) của {agency.name_vi}"
    where_en = f"{source.id} ({source.kind}) of {agency.name_en}"
    if silent:
        title_vi = f"Nguồn nhật ký ngừng gửi: {where_vi}"
        title_en = f"Log source silent: {where_en}"
        summary_vi = (
            f"Không nhận được nhật ký nào từ {source.id} đã {quiet.vietnamese}"
            f" (lần cuối {local_time(last)}), quá ngưỡng {format_duration(limit).vietnamese}."
            " Kiểm tra máy gửi, đường truyền và cấu hình chuyển nhật ký: nguồn im lặng có thể"
            " là sự cố, cũng có thể là kẻ tấn công đã tắt ghi nhật ký."
        )
        summary_en = (
            f"No log from {source.id} for {quiet} (last {last.isoformat()}), past the"
            f" {format_duration(limit)} limit. Check the sender, the link and the log"
            " forwarding: a silent source may be a fault, or an attacker who turned logging off."
        )
    else:
        title_vi = f"Nguồn nhật ký gửi lại: {where_vi}"
        title_en = f"Log source speaks again: {where_en}"
        summary_vi = f"{source.id} đã gửi nhật ký trở lại lúc {local_time(last)}."
        summary_en = f"{source.id} is sending again (last event {last.isoformat()})."
    return Signal(
        rule=SILENT_RULE,
        domain=Domain.SECURITY,
        labels={"agency": agency.id, "log_source": source.id},
        state=SignalState.FIRING if silent else SignalState.RESOLVED,
        severity=Severity.parse(severity),
        # Event time: when the silence crossed the limit, or the event that ended it.
        at=last + limit if silent else last,
        title_vi=title_vi,
        title_en=title_en,
        summary_vi=summary_vi,
        summary_en=summary_en,
        values={
            "agency_name_vi": agency.name_vi,
            "agency_name_en": agency.name_en,
            "kind": source.kind,
            "last_seen": last.isoformat(),
            "silence_s": (now - last).total_seconds(),
            "expected_interval_s": source.expected_interval_s,
            "threshold_s": limit.total_seconds(),
        },
        technique_ids=TECHNIQUES,
    )


def _gone(labels: Mapping[str, str], now: datetime) -> Signal:
    source = labels.get("log_source", "")
    return Signal(
        rule=SILENT_RULE,
        domain=Domain.SECURITY,
        labels=dict(labels),
        state=SignalState.RESOLVED,
        severity=Severity.LOW,
        at=now,
        title_vi=f"Nguồn nhật ký {source} không còn trong danh mục",
        title_en=f"Log source {source} is no longer in the inventory",
    )
