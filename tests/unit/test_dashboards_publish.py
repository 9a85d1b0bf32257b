"""`ioc dashboards publish` against a recorded exchange.

No Grafana server can run here: Grafana cannot be installed on these machines (no package
registry ships it). The publisher is therefore tested against tests/unit/grafana_double.py,
a real HTTP server on a real socket that keeps state like Grafana for the endpoints used
and checks every request and answer against the examples, fields and status codes of
Grafana's published HTTP API reference, kept as JSON in tests/fixtures/grafana/ (each file
names its page). The publisher talks to it through grafana-client, over HTTP, exactly as
it would to Grafana; the committed dashboards/json/*.json are what it pushes.
"""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from dashboards import publish as pub
from tests.unit import grafana_double
from tests.unit.grafana_double import ADMIN_TOKEN, ADMIN_USER, VIEWER_TOKEN, GrafanaDouble

READER_PASSWORD = "reader-password-for-tests-0123"
CONNECTION = pub.Connection(
    host="timescaledb.example:5432", database="ioc", user="grafana_reader",
    password=READER_PASSWORD, sslmode="verify-full",
)  # fmt: skip


@pytest.fixture
def grafana() -> Iterator[tuple[GrafanaDouble, str]]:
    with grafana_double.running() as running:
        yield running


@pytest.fixture(scope="module")
def bundle() -> pub.Bundle:
    return pub.load_bundle(CONNECTION)


def _push(url: str, bundle: pub.Bundle, **kwargs: Any) -> list[pub.Change]:
    return pub.publish(pub.connect(url, ADMIN_TOKEN), bundle, **kwargs)


def _outcomes(changes: list[pub.Change]) -> set[pub.Outcome]:
    return {c.outcome for c in changes}


def test_the_bundle_is_the_committed_dashboards_and_the_provisioned_datasource(
    bundle: pub.Bundle,
) -> None:
    uids = {d["uid"] for d in bundle.dashboards}
    assert {"ioc-wall", "ioc-environment", "ioc-soc", "ioc-cameras", "ioc-platform"} <= uids
    source = bundle.datasource
    assert (source["uid"], source["name"]) == ("ioc-timescaledb", "IOC TimescaleDB")
    assert source["type"] == "grafana-postgresql-datasource"
    assert source["url"] == "timescaledb.example:5432" and source["user"] == "grafana_reader"
    assert source["jsonData"]["timescaledb"] is True
    assert source["jsonData"]["database"] == "ioc"
    assert source["jsonData"]["sslmode"] == "verify-full"
    assert "secureJsonData" not in source and "editable" not in source
    assert bundle.playlist["items"][0]["value"] == "ioc-wall"


def test_first_publish_creates_everything(
    grafana: tuple[GrafanaDouble, str], bundle: pub.Bundle
) -> None:
    double, url = grafana
    changes = _push(url, bundle)
    assert double.violations == []
    assert _outcomes(changes) == {pub.Outcome.CREATED}
    assert len(changes) == 3 + len(bundle.dashboards)
    writes = [(e.method, e.path, e.status) for e in double.writes()]
    assert writes == [
        ("POST", "/api/datasources", 200),
        ("POST", "/api/folders", 200),
        *[("POST", "/api/dashboards/db", 200)] * len(bundle.dashboards),
        ("POST", "/api/playlists", 200),
    ]
    created = double.writes()[0].body
    assert created["secureJsonData"] == {"password": READER_PASSWORD}
    assert created["jsonData"]["timescaledb"] is True
    for exchange in double.writes()[2:-1]:
        body = exchange.body
        assert body["dashboard"]["id"] is None and body["overwrite"] is False
        assert body["folderUid"] == "ioc"
    for model in bundle.dashboards:
        stored = double.state.dashboards[model["uid"]]
        assert stored["folderUid"] == "ioc"
        assert pub._comparable(stored["dashboard"]) == pub._comparable(model)
    (playlist,) = double.state.playlists.values()
    assert [i["value"] for i in playlist["items"]] == [i["value"] for i in bundle.playlist["items"]]


def test_second_publish_sends_no_write_and_reports_no_change(
    grafana: tuple[GrafanaDouble, str], bundle: pub.Bundle
) -> None:
    double, url = grafana
    _push(url, bundle)
    for saved in double.state.dashboards.values():  # Grafana's own counter, not content
        saved["dashboard"]["version"] += 4
    before = len(double.exchanges)
    changes = _push(url, bundle)
    assert double.violations == []
    assert _outcomes(changes) == {pub.Outcome.UNCHANGED}
    second = double.exchanges[before:]
    assert second and {e.method for e in second} == {"GET"}
    assert pub.report(changes)[-1] == f"no change ({len(changes)} objects checked)"


def test_a_changed_dashboard_is_updated_with_its_version(
    grafana: tuple[GrafanaDouble, str], bundle: pub.Bundle
) -> None:
    double, url = grafana
    _push(url, bundle)
    # Someone saved the SOC dashboard in the UI twice: Grafana's copy is at version 3.
    soc = double.state.dashboards["ioc-soc"]["dashboard"]
    soc.update(title="edited by hand", version=3)
    before = len(double.exchanges)
    changes = _push(url, bundle)
    assert double.violations == []
    updated = [c for c in changes if c.outcome is pub.Outcome.UPDATED]
    assert [c.name for c in updated] == [f"{_title(bundle, 'ioc-soc')} (ioc-soc)"]
    (write,) = [e for e in double.exchanges[before:] if e.method != "GET"]
    assert (write.method, write.path, write.status) == ("POST", "/api/dashboards/db", 200)
    assert write.body["dashboard"]["id"] == soc["id"]
    assert write.body["dashboard"]["version"] == 3
    assert write.body["overwrite"] is False
    assert double.state.dashboards["ioc-soc"]["dashboard"]["title"] == _title(bundle, "ioc-soc")
    assert double.state.dashboards["ioc-soc"]["dashboard"]["version"] == 4


def test_a_changed_generator_output_is_pushed(
    grafana: tuple[GrafanaDouble, str], bundle: pub.Bundle
) -> None:
    double, url = grafana
    _push(url, bundle)
    changed = copy.deepcopy(bundle)
    changed.dashboards[0]["description"] = "một mô tả mới"
    changes = _push(url, changed)
    assert [c.outcome for c in changes].count(pub.Outcome.UPDATED) == 1
    assert pub.report(changes)[-1] == f"0 created, 1 updated, {len(changes) - 1} unchanged"
    assert double.violations == []


def test_datasource_and_playlist_drift_is_repaired(
    grafana: tuple[GrafanaDouble, str], bundle: pub.Bundle
) -> None:
    double, url = grafana
    _push(url, bundle)
    double.state.datasources["ioc-timescaledb"]["jsonData"]["timescaledb"] = False
    (playlist,) = double.state.playlists.values()
    playlist["items"].pop()
    before = len(double.exchanges)
    changes = _push(url, bundle)
    writes = [(e.method, e.path.rsplit("/", 1)[0]) for e in double.exchanges[before:]]
    writes = [w for w in writes if w[0] != "GET"]
    assert writes == [("PUT", "/api/datasources/uid"), ("PUT", "/api/playlists")]
    assert {c.kind for c in changes if c.outcome is pub.Outcome.UPDATED} == {
        "data source",
        "playlist",
    }
    assert double.state.datasources["ioc-timescaledb"]["jsonData"]["timescaledb"] is True
    assert double.violations == []


def test_the_password_is_sent_again_only_when_asked(
    grafana: tuple[GrafanaDouble, str], bundle: pub.Bundle
) -> None:
    double, url = grafana
    _push(url, bundle, only=["datasource"])
    rotated = pub.Bundle(
        datasource=bundle.datasource, password="a-new-password-0123456789",
        dashboards=bundle.dashboards, playlist=bundle.playlist,
    )  # fmt: skip
    assert _outcomes(_push(url, rotated, only=["datasource"])) == {pub.Outcome.UNCHANGED}
    changes = _push(url, rotated, only=["datasource"], update_password=True)
    assert _outcomes(changes) == {pub.Outcome.UPDATED}
    assert double.writes()[-1].body["secureJsonData"] == {"password": rotated.password}
    stored = double.state.datasources["ioc-timescaledb"]["secureJsonData"]
    assert stored == {"password": rotated.password}


def test_bad_token_is_a_clean_error(grafana: tuple[GrafanaDouble, str], bundle: pub.Bundle) -> None:
    double, url = grafana
    with pytest.raises(pub.PublishError, match="refused the credentials \\(401\\)") as caught:
        pub.publish(pub.connect(url, "glsa_not_a_token"), bundle)
    assert caught.value.exit_code == 3
    assert double.writes() == [] and double.exchanges[0].status == 401


def test_viewer_token_is_refused_writes(
    grafana: tuple[GrafanaDouble, str], bundle: pub.Bundle
) -> None:
    _, url = grafana
    with pytest.raises(pub.PublishError, match="403") as caught:
        pub.publish(pub.connect(url, VIEWER_TOKEN), bundle)
    assert caught.value.exit_code == 4


def test_dashboards_without_their_folder_is_a_clean_404(
    grafana: tuple[GrafanaDouble, str], bundle: pub.Bundle
) -> None:
    _, url = grafana
    with pytest.raises(pub.PublishError, match=r"404.*folder not found") as caught:
        _push(url, bundle, only=["dashboards"])
    assert caught.value.exit_code == 6


def test_connection_refused_is_a_clean_error(bundle: pub.Bundle) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(pub.PublishError, match="cannot reach Grafana") as caught:
        _push(f"http://127.0.0.1:{port}", bundle)
    assert caught.value.exit_code == 5


def test_the_exchanges_match_the_recorded_reference_examples() -> None:
    """The double's checks themselves: the reference's own example requests pass them,
    and a request with a wrong type or an undocumented field does not."""
    datasources = grafana_double.load("datasources")
    create = datasources["create"]
    assert (
        grafana_double.shape_problems(create["request"], create["fields"], create["required"], "x")
        == []
    )
    dashboards = grafana_double.load("dashboards")["save"]
    for example in ("request_create", "request_update"):
        assert (
            grafana_double.shape_problems(
                dashboards[example], dashboards["fields"], dashboards["required"], example
            )
            == []
        )
    bad = {**create["request"], "isDefault": "yes", "typo": 1}
    del bad["access"]
    assert grafana_double.shape_problems(bad, create["fields"], create["required"], "x") == [
        "x: missing required access",
        "x: isDefault is string, documented boolean",
        "x: typo is not a documented field",
    ]


# ---- the command --------------------------------------------------------------------


def _cli(args: list[str], env: dict[str, str]) -> Any:
    from cli.main import app

    return CliRunner().invoke(app, ["dashboards", "publish", *args], env=env)


def test_cli_publish_twice_then_bad_token(grafana: tuple[GrafanaDouble, str]) -> None:
    double, url = grafana
    env = {"GRAFANA_PG_PASSWORD": READER_PASSWORD, "GRAFANA_TOKEN": ADMIN_TOKEN}
    args = ["--url", url, "--db-host", "timescaledb:5432"]
    first = _cli(args, env)
    assert first.exit_code == 0, first.output
    assert "created" in first.output and "0 updated, 0 unchanged" in first.output
    second = _cli(args, env)
    assert second.exit_code == 0, second.output
    assert second.output.splitlines()[-1].startswith("no change (")
    bad = _cli(args, {**env, "GRAFANA_TOKEN": "wrong"})
    assert bad.exit_code == 3
    assert "401" in bad.output and "Traceback" not in bad.output
    assert READER_PASSWORD not in first.output + second.output + bad.output
    assert double.violations == []


def test_cli_playlist_only_with_basic_auth(grafana: tuple[GrafanaDouble, str]) -> None:
    """What docker-compose's `grafana-setup` runs: no reader password needed."""
    double, url = grafana
    double.state.folders["ioc"] = {"id": 1, "uid": "ioc", "title": "IOC", "version": 1}
    args = ["--url", url, "--user", ADMIN_USER[0], "--only", "playlist"]
    result = _cli(args, {"GRAFANA_ADMIN_PASSWORD": ADMIN_USER[1]})
    assert result.exit_code == 0, result.output
    assert [(e.method, e.path) for e in double.writes()] == [("POST", "/api/playlists")]
    missing = _cli(args, {})
    assert missing.exit_code == 2 and "set GRAFANA_ADMIN_PASSWORD" in missing.output


def _title(bundle: pub.Bundle, uid: str) -> str:
    return next(d["title"] for d in bundle.dashboards if d["uid"] == uid)


def test_fixtures_are_json_the_reference_shaped() -> None:
    for path in grafana_double.FIXTURES.glob("*.json"):
        document = json.loads(path.read_text())
        assert "grafana.com/docs/grafana/v11.3/developers/http_api/" in document["doc"], path
