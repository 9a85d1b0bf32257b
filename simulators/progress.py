"""Counts per stream, updated from broker callback threads, and their live display."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from rich.console import Group
from rich.table import Table
from rich.text import Text


@dataclass
class StreamCounts:
    sent: int = 0  # offered to a broker client, including those it refused at once
    acked: int = 0  # PUBACK received / Kafka acks=all delivery confirmed
    failed: int = 0  # refused, timed out or dropped: will never arrive
    broker_errors: int = 0  # connection-level trouble, not tied to one message
    last_failure: str = ""
    last_broker_error: str = ""

    @property
    def pending(self) -> int:
        return self.sent - self.acked - self.failed


class Stats:
    """Thread-safe: paho and kafka-python report acknowledgements on their own threads."""

    def __init__(self, streams: list[str]) -> None:
        self._lock = threading.Lock()
        self._counts = {name: StreamCounts() for name in streams}
        self.started = time.monotonic()
        self.stopped: float | None = None

    def start_clock(self) -> None:
        """Rates count from the first message, not from the start of provisioning..."""
        self.started = time.monotonic()

    def stop_clock(self) -> None:
        """... to the last one, not to the end of the shutdown's wait for acks."""
        self.stopped = time.monotonic()

    def elapsed(self) -> float:
        return max((self.stopped or time.monotonic()) - self.started, 1e-9)

    def sent(self, stream: str) -> None:
        with self._lock:
            self._counts[stream].sent += 1

    def acked(self, stream: str) -> None:
        with self._lock:
            self._counts[stream].acked += 1

    def failed(self, stream: str, reason: str) -> None:
        with self._lock:
            counts = self._counts[stream]
            counts.failed += 1
            counts.last_failure = reason

    def broker_error(self, stream: str, reason: str) -> None:
        with self._lock:
            counts = self._counts[stream]
            counts.broker_errors += 1
            counts.last_broker_error = reason

    def snapshot(self) -> dict[str, StreamCounts]:
        with self._lock:
            return {name: replace(c) for name, c in self._counts.items()}


def render(stats: Stats, rates: dict[str, float], title: str) -> Group:
    """The counts table, then each stream's latest connection error and latest failed
    message, below it: a broker's reasons are long and would squeeze the table."""
    elapsed = stats.elapsed()
    table = Table(title=f"{title} — {elapsed:,.0f} s", title_justify="left")
    for header in ("stream", "target/s", "actual/s", "sent", "acked", "pending"):
        table.add_column(header, justify="left" if header == "stream" else "right")
    table.add_column("failed", justify="right", style="red")
    table.add_column("conn.err", justify="right", style="yellow")
    snapshot = stats.snapshot()
    for name, c in snapshot.items():
        table.add_row(
            name,
            f"{rates.get(name, 0):.1f}",
            f"{c.sent / elapsed:.1f}",
            f"{c.sent:,}",
            f"{c.acked:,}",
            f"{c.pending:,}",
            f"{c.failed:,}",
            f"{c.broker_errors:,}",
        )
    errors = [
        Text.assemble((f"{name}: ", "bold"), (text, style))
        for name, c in snapshot.items()
        for text, style in ((c.last_broker_error, "yellow"), (c.last_failure, "red"))
        if text
    ]
    return Group(table, *errors)
