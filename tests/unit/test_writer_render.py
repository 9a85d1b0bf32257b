"""The COPY text the ingest worker renders for measurements (store.writer)."""

from __future__ import annotations

from datetime import UTC, datetime

from events.models import Measurement, Quality
from store.writer import Batch, render_measurements


def test_rows_render_as_copy_text_in_column_order() -> None:
    rows = [
        Measurement(time=datetime(2026, 11, 24, 1, 2, 3, tzinfo=UTC), device_id="kg-rg.aq:01",
                    metric="pm25", value=41.5),
        Measurement(time=datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC),
                    device_id="kh_nt-wl01", metric="water_level", value=1e-05,
                    quality=Quality.BAD),
    ]  # fmt: skip
    assert render_measurements(rows) == (
        b"2026-11-24T01:02:03+00:00\tkg-rg.aq:01\tpm25\t41.5\t0\n"
        b"2026-11-24T01:02:03.456789+00:00\tkh_nt-wl01\twater_level\t1e-05\t2\n"
    )


def test_a_batch_renders_only_when_asked() -> None:
    batch = Batch()
    batch.add([Measurement(time=datetime(2026, 11, 24, tzinfo=UTC), device_id="d", metric="m",
                           value=1.0)])  # fmt: skip
    assert batch.measurements_copy is None
    batch.render()
    assert batch.measurements_copy == b"2026-11-24T00:00:00+00:00\td\tm\t1.0\t0\n"
