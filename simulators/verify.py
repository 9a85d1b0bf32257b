"""Did the service answer a scenario as it should? Its alerts, read from the database.

An alert counts for this run when this run changed it: a change recorded in its history
at or after the wall-clock moment the run began (fired, escalated, de-escalated,
resolved), or, for an alert already open before the run, new values while it stayed open
(the manager records an equal-severity update without a history row). So a scenario
replayed twice on the same stack is judged on its own second run. Timing is judged in
event time: a change's event time against the scenario's start plus `by`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from events.alerts import Domain, Severity
from simulators.scenario import Absence, Expectation, Scenario
from store.alert_reads import history_page, list_alerts

RAISED = frozenset({"fired", "escalated", "deescalated"})
PAGE = 500
POLL_S = 1.0


@dataclass(frozen=True)
class Change:
    action: str
    severity: int
    event_time: datetime | None
    history_id: int  # 0 for an update that left no history row


@dataclass(frozen=True)
class Verdict:
    met: bool
    detail: str


@dataclass
class Result:
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # per expectation
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v.met for v in self.verdicts.values()) and not self.unexpected

    def missing(self) -> list[str]:
        return [f"{name}: {v.detail}" for name, v in self.verdicts.items() if not v.met]


def _matches(alert: Mapping[str, Any], rule: str, labels: Mapping[str, str]) -> bool:
    have = alert["labels"] or {}
    return alert["rule"] == rule and all(have.get(k) == v for k, v in labels.items())


def _state(alert: Mapping[str, Any]) -> tuple[Any, ...]:
    return (alert["updated_at"], tuple(alert["event_ids"]), repr(alert["alert_values"]))


def _all_alerts(conn: psycopg.Connection, **filters: Any) -> list[dict[str, Any]]:
    domains = [d.value for d in Domain]
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        page = list_alerts(conn, domains, after=after, limit=PAGE, **filters)
        rows.extend(page)
        if len(page) < PAGE:
            return rows
        after = (page[-1]["updated_at"], page[-1]["id"])


class Verifier:
    def __init__(self, scenario: Scenario, start: datetime, wall_start: datetime) -> None:
        self.scenario = scenario
        self.start = start  # event time of offset 0
        self.wall_start = wall_start
        self._before: dict[Any, tuple[Any, ...]] = {}
        # Clock-skew faults can date readings before the start.
        earliest = min((f.skew for f in scenario.faults if f.kind == "clock_skew"), default=0.0)
        self._since = start + timedelta(seconds=min(0.0, earliest))

    def _watched(self, alert: Mapping[str, Any]) -> bool:
        items: list[Expectation | Absence] = [*self.scenario.expect, *self.scenario.absent]
        return any(_matches(alert, i.rule, i.labels) for i in items)

    def snapshot(self, conn: psycopg.Connection) -> None:
        """Remember the open alerts this scenario watches, before anything is sent."""
        self._before = {
            a["id"]: _state(a) for a in _all_alerts(conn, status="open") if self._watched(a)
        }

    def _changes(self, conn: psycopg.Connection, alert: Mapping[str, Any]) -> list[Change]:
        changes = []
        after = None
        while True:
            page = history_page(conn, alert["id"], after, PAGE)
            changes += [
                Change(r["action"], r["severity"], r["event_time"], r["id"])
                for r in page
                if r["at"] >= self.wall_start and r["actor"] == "system"
            ]
            if len(page) < PAGE:
                break
            after = page[-1]["id"]
        was = self._before.get(alert["id"])
        still_open = alert["status"] != "resolved"
        raised = any(c.action in RAISED for c in changes)
        if was is not None and still_open and was != _state(alert) and not raised:
            changes.append(Change("updated", alert["severity"], alert["updated_at"], 0))
        return changes

    def check(self, conn: psycopg.Connection) -> Result:
        candidates = [a for a in _all_alerts(conn, since=self._since) if self._watched(a)]
        changes = {a["id"]: self._changes(conn, a) for a in candidates}
        result = Result()
        for expectation in self.scenario.expect:
            matching = [a for a in candidates if _matches(a, expectation.rule, expectation.labels)]
            found = [changes[a["id"]] for a in matching]
            result.verdicts[expectation.describe() + _timing(expectation)] = self._judge(
                expectation, found
            )
        for absence in self.scenario.absent:
            for alert in candidates:
                if not _matches(alert, absence.rule, absence.labels):
                    continue
                raised = [c for c in changes[alert["id"]] if c.action in (*RAISED, "updated")]
                if raised:
                    what = ", ".join(f"{c.action} {_severity(c.severity)}" for c in raised)
                    result.unexpected.append(f"{absence.describe()}: {what} ({alert['id']})")
        return result

    def _offset(self, at: datetime | None) -> str:
        if at is None:
            return "?"
        return f"t+{_duration((at - self.start).total_seconds())}"

    def _judge(self, expectation: Expectation, found: list[list[Change]]) -> Verdict:
        wanted = Severity.parse(expectation.severity) if expectation.severity else None
        late = []
        for changes in found:
            for i, change in enumerate(changes):
                if change.action not in (*RAISED, "updated"):
                    continue
                if wanted is not None and change.severity != wanted:
                    continue
                if not self._in_time(change.event_time, expectation.by):
                    late.append(self._offset(change.event_time))
                    continue
                if expectation.resolved_by is None:
                    return Verdict(True, f"{change.action} at {self._offset(change.event_time)}")
                by = expectation.resolved_by
                resolved = [
                    c
                    for c in changes[i + 1 :]
                    if c.action == "resolved" and self._in_time(c.event_time, by)
                ]
                if resolved:
                    return Verdict(
                        True,
                        f"{change.action} at {self._offset(change.event_time)}, "
                        f"resolved at {self._offset(resolved[0].event_time)}",
                    )
                late.append(f"{self._offset(change.event_time)} but not resolved in time")
        if late:
            return Verdict(False, "too late: " + ", ".join(late))
        seen = sorted({_severity(c.severity) for changes in found for c in changes})
        if seen:
            return Verdict(False, f"not at this severity (seen: {', '.join(seen)})")
        return Verdict(False, "no such alert")

    def _in_time(self, at: datetime | None, by: float | None) -> bool:
        if by is None:
            return True
        # Event times carry milliseconds; a change due exactly at `by` is on time.
        return at is not None and at <= self.start + timedelta(seconds=by, milliseconds=1)


def _timing(expectation: Expectation) -> str:
    parts = []
    if expectation.by is not None:
        parts.append(f"by t+{_duration(expectation.by)}")
    if expectation.resolved_by is not None:
        parts.append(f"resolved by t+{_duration(expectation.resolved_by)}")
    return f" ({', '.join(parts)})" if parts else ""


def _severity(value: int) -> str:
    return Severity(value).name.lower()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return ("-" if seconds < 0 else "") + (text or "0s")


def wait_for_verdict(
    connect: Callable[[], psycopg.Connection],
    verifier: Verifier,
    timeout_s: float,
    settle_s: float,
    progress: Callable[[Result], None],
) -> Result:
    """Poll until every expectation is met (then watch `settle_s` more for alerts that
    must not appear) or `timeout_s` has passed; the last result is the answer."""
    deadline = time.monotonic() + timeout_s
    with connect() as conn:
        while True:
            result = verifier.check(conn)
            progress(result)
            if result.unexpected:
                return result
            if all(v.met for v in result.verdicts.values()):
                break
            if time.monotonic() >= deadline:
                return result
            time.sleep(POLL_S)
        time.sleep(settle_s)
        result = verifier.check(conn)
        progress(result)
        return result
