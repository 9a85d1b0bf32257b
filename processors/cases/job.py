"""The `case-grouping` job of the alert service: new security alerts into cases by the
rules of grouping.yaml.

Each run reads the security alerts recorded since its cursor that are in no case yet,
oldest first, a bounded batch. For each, the first grouping rule that takes it names a
key (a source address, a host, an indicator); the open case of that rule and key whose
last alert lies within the rule's window takes it; otherwise, once `min_alerts` alerts
not in a case share the key within the window, a new case opens with all of them.

Alerts are read only once they are SETTLE_SECONDS old: `recorded_at` is stamped when the
row is inserted, and an ingest batch that inserted earlier may commit later than one
that inserted after it; reading only settled rows means a cursor past an alert never
skips one committed late. The run is one transaction under the job's advisory lock
(processors/jobs/base.py), so two alert services never group the same alert twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from processors.cases import workflow
from processors.cases.grouping import GROUPING_FILE, Decision, Grouping, decide, load_grouping
from processors.cases.playbooks import PLAYBOOK_DIR, Playbook, load_playbooks
from store import cases as store

log = logging.getLogger(__name__)

JOB = "case-grouping"
CHECK_SECONDS = 10.0
SETTLE_SECONDS = 30.0
BATCH = 500
ACTOR = "system:case-grouping"


class CaseGroupingJob:
    def __init__(
        self,
        grouping: Grouping | None = None,
        books: list[Playbook] | None = None,
        *,
        grouping_file: Path = GROUPING_FILE,
        playbook_dir: Path = PLAYBOOK_DIR,
        settle_seconds: float = SETTLE_SECONDS,
        name: str = JOB,
    ) -> None:
        # Read when the alert service builds its jobs: at start and on `ioc rules reload`.
        self.grouping = grouping or load_grouping(grouping_file)
        self.books = books if books is not None else load_playbooks(playbook_dir)
        self.settle = timedelta(seconds=settle_seconds)
        self.name = name  # the cursor's row (tests keep their own)

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int:
        """Alerts put into cases this run."""
        cursor = store.grouping_cursor(conn, self.name)
        since = now - timedelta(minutes=self.grouping.lookback_minutes)
        alerts = store.new_security_alerts(conn, cursor, since, now - self.settle, BATCH)
        grouped = 0
        for alert in alerts:
            decision = decide(self.grouping, alert)
            if decision is not None:
                grouped += self._group(conn, alert, decision, now)
        if alerts:
            last = alerts[-1]
            store.set_grouping_cursor(conn, self.name, last["recorded_at"], last["id"])
        return grouped

    def _group(
        self, conn: psycopg.Connection, alert: dict[str, Any], decision: Decision, now: datetime
    ) -> int:
        rule, key, group = decision.rule, decision.key, decision.group
        if store.in_a_case(conn, alert["id"]):
            return 0  # an earlier alert of this run opened a case with it
        at = alert["updated_at"] or alert["started_at"]
        window = timedelta(minutes=rule.window_minutes)
        case = store.open_case_for(conn, rule.id, group, at - window)
        if case is not None:
            added = workflow.attach(conn, case, [alert], actor=ACTOR, at=now, books=self.books)
            return len(added)
        together = [alert]
        if rule.min_alerts > 1:
            # The alerts of the key before this one within the window, not in a case yet
            # (this one is the newest of them read so far: alerts are read in order).
            earlier = store.ungrouped_with_label(
                conn, rule.key, key, at - window, at, workflow.MAX_ALERTS_PER_CHANGE
            )
            together = [a for a in earlier if a["id"] != alert["id"]]
            together = [a for a in together if decide(self.grouping, a) == decision] + [alert]
            if len(together) < rule.min_alerts:
                return 0
        first = together[0]
        made = workflow.create(
            conn,
            title=rule.title.render("vi", key, first["title_vi"]),
            labels={"title_en": rule.title.render("en", key, first["title_en"])},
            actor=ACTOR,
            at=now,
            alerts=together,
            books=self.books,
            tlp=self.grouping.tlp,
            pap=self.grouping.pap,
            by_person=False,
            grouping_rule=rule.id,
            grouping_key=group,
        )
        log.info(
            "case %s opened by %s for %s with %d alert(s)",
            made["id"],
            rule.id,
            group,
            len(together),
        )
        return len(together)
