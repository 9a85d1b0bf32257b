"""The fuzz verdict can fail: a lost payload, one both stored and dead-lettered, a row
too many, a vague reason and a valid payload dead-lettered are each reported."""

from __future__ import annotations

from pathlib import Path

from tests.fuzz.harness import (
    Expected,
    FuzzRoutes,
    Observed,
    Sent,
    dead_position,
    judge,
    make_routes,
    predict,
    row_owner,
)
from tests.fuzz.payloads import generate


def _setup(tmp_path: Path) -> tuple[list[Expected], Observed, FuzzRoutes]:
    routes = make_routes(tmp_path)
    sent = [
        Sent(item, routes.topic(item), *((0, item.seq) if item.transport == "kafka" else ()))
        for item in generate(300, seed=5)
    ]
    expected = predict(routes, sent)
    seen = Observed({}, {})
    for e in expected:  # the perfect outcome: what the in-process decoder predicts
        owner, n = row_owner(routes, e)
        if e.keys is None:
            seen.dead[dead_position(e.sent)] = (e.reason or "", e.item.format)
        else:
            seen.rows[owner] = n
    assert not judge(routes, expected, seen).problems
    return expected, seen, routes


def test_each_failure_is_reported(tmp_path: Path) -> None:
    expected, seen, routes = _setup(tmp_path)
    valid = [e for e in expected if e.item.expect == "row"]
    dead = [e for e in expected if e.keys is None]
    lost, doubled, extra, unlucky = valid[:4]
    del seen.rows[row_owner(routes, lost)[0]]
    seen.dead[dead_position(doubled.sent)] = ("x: a reason of some length", doubled.item.format)
    seen.rows[row_owner(routes, extra)[0]] += 1
    del seen.rows[row_owner(routes, unlucky)[0]]
    seen.dead[dead_position(unlucky.sent)] = ("db: refused for a reason", unlucky.item.format)
    seen.dead[dead_position(dead[0].sent)] = (f"{dead[0].item.format}: ", dead[0].item.format)
    problems = "\n".join(judge(routes, expected, seen).problems)
    assert f"#{lost.item.seq} " in problems and "lost" in problems
    assert f"#{doubled.item.seq} " in problems and "AND dead-lettered" in problems
    assert f"#{extra.item.seq} " in problems and "rows stored, the decoder makes" in problems
    assert f"#{unlucky.item.seq} " in problems and "valid payload was dead-lettered" in problems
    assert f"#{dead[0].item.seq} " in problems and "without a specific reason" in problems
