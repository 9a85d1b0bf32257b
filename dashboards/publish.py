"""Push the IOC data source, folder, dashboards and the wall's playlist to a Grafana that
already runs, through its HTTP API with grafana-client (`ioc dashboards publish`).

What is pushed is what docker-compose provisions from files: the data source from
dashboards/provisioning/datasources/timescaledb.yaml (with this deployment's address and
the reader's password), the committed dashboards/json/*.json, and
dashboards/provisioning/playlists/wall.yaml (Grafana cannot provision playlists from files).

Idempotent: every object is read first and written only when it differs, so a second run
sends no write and reports every object "unchanged". The reader's password is the one
thing that cannot be compared (Grafana never returns a secret): it is sent when the data
source is created or changed, or when asked with `update_password`.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import yaml
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from config.settings import REPO_ROOT

# The repository's dashboards/ directory; an installed package (the Docker image) is not
# next to it, so the command takes it as --source there (/app/dashboards).
SOURCE = REPO_ROOT / "dashboards"
DATASOURCE_FILE = Path("provisioning/datasources/timescaledb.yaml")
PLAYLIST_FILE = Path("provisioning/playlists/wall.yaml")
FOLDER_UID, FOLDER_TITLE = "ioc", "IOC"
MESSAGE = "ioc dashboards publish"
# Keys of a provisioning entry that the HTTP API does not take.
_PROVISIONING_ONLY = ("editable", "orgId", "version")
# Keys Grafana sets on a saved dashboard: not part of what we compare.
_SERVER_KEYS = ("id", "version")
PARTS = ("datasource", "folder", "dashboards", "playlist")


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    outcome: Outcome


class PublishError(Exception):
    """A failure worth one line to the operator, with the exit code the CLI returns."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Connection:
    """How Grafana reaches the database: its address as Grafana sees it."""

    host: str  # host:port
    database: str
    user: str
    password: str
    sslmode: str = "require"


@dataclass(frozen=True)
class Bundle:
    """Everything one publish writes, read from the repository."""

    datasource: dict[str, Any]
    password: str
    dashboards: list[dict[str, Any]]
    playlist: dict[str, Any]
    folder: dict[str, str] = field(
        default_factory=lambda: {"uid": FOLDER_UID, "title": FOLDER_TITLE}
    )


def load_bundle(connection: Connection, source: Path = SOURCE) -> Bundle:
    """The committed dashboards/json/*.json and the provisioning files under `source`."""
    files = sorted((source / "json").glob("*.json"))
    if not files:
        raise PublishError(f"no dashboard JSON in {source / 'json'}", exit_code=2)
    dashboards = [orjson.loads(p.read_bytes()) for p in files]
    titles = {d["uid"]: d["title"] for d in dashboards}
    return Bundle(
        datasource=datasource_model(source / DATASOURCE_FILE, connection),
        password=connection.password,
        dashboards=dashboards,
        playlist=playlist_model(source / PLAYLIST_FILE, titles),
    )


def datasource_model(path: Path, connection: Connection) -> dict[str, Any]:
    """The provisioning file's data source with this deployment's values for its
    ${VARIABLES}; the password is left out (sent apart, see module docstring)."""
    (entry,) = yaml.safe_load(path.read_text())["datasources"]
    host, _, port = connection.host.rpartition(":")
    values = {
        "IOC_PG_HOST": host or connection.host,
        "IOC_PG_PORT": port if host else "5432",
        "IOC_PG_DATABASE": connection.database,
        "IOC_PG_SSLMODE": connection.sslmode,
        "GRAFANA_PG_USER": connection.user,
        "GRAFANA_PG_PASSWORD": "",
    }
    model = _substitute(entry, values)
    model.pop("secureJsonData", None)
    for key in _PROVISIONING_ONLY:
        model.pop(key, None)
    return model


def _substitute(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return string.Template(value).substitute(values)
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    return value


def playlist_model(path: Path, titles: Mapping[str, str]) -> dict[str, Any]:
    spec = yaml.safe_load(path.read_text())
    missing = [uid for uid in spec["dashboards"] if uid not in titles]
    if missing:
        raise PublishError(f"{path.name}: no dashboard JSON for {', '.join(missing)}", 2)
    items = [
        {"type": "dashboard_by_uid", "value": uid, "order": n, "title": titles[uid]}
        for n, uid in enumerate(spec["dashboards"], start=1)
    ]
    return {"name": spec["name"], "interval": spec["interval"], "items": items}


def publish(
    api: GrafanaApi,
    bundle: Bundle,
    only: Iterable[str] = PARTS,
    update_password: bool = False,
) -> list[Change]:
    """Bring Grafana to the bundle, part by part in dependency order; returns one Change
    per object. Grafana's errors become PublishError with a clear message."""
    steps: dict[str, Callable[[], list[Change]]] = {
        "datasource": lambda: [_datasource(api, bundle, update_password)],
        "folder": lambda: [_folder(api, bundle.folder)],
        "dashboards": lambda: [_dashboard(api, d, bundle.folder["uid"]) for d in bundle.dashboards],
        "playlist": lambda: [_playlist(api, bundle.playlist)],
    }
    wanted = set(only)
    changes: list[Change] = []
    try:
        for part in PARTS:
            if part in wanted:
                changes += steps[part]()
    except GrafanaException as error:
        raise _explain(error, api) from error
    except OSError as error:  # the HTTP library's connection errors derive from OSError
        raise PublishError(f"cannot reach Grafana at {_where(api)}: {error}", 5) from error
    return changes


def _datasource(api: GrafanaApi, bundle: Bundle, update_password: bool) -> Change:
    wanted = bundle.datasource
    name = f"{wanted['name']} ({wanted['uid']})"
    existing = _get(lambda: api.datasource.get_datasource_by_uid(wanted["uid"]))
    body = {**wanted, "secureJsonData": {"password": bundle.password}}
    if existing is None:
        api.datasource.create_datasource(body)
        return Change("data source", name, Outcome.CREATED)
    same = all(existing.get(k) == v for k, v in wanted.items())
    has_password = bool((existing.get("secureJsonFields") or {}).get("password"))
    if same and has_password and not update_password:
        return Change("data source", name, Outcome.UNCHANGED)
    api.datasource.update_datasource_by_uid(wanted["uid"], body)
    return Change("data source", name, Outcome.UPDATED)


def _folder(api: GrafanaApi, folder: Mapping[str, str]) -> Change:
    name = f"{folder['title']} ({folder['uid']})"
    existing = _get(lambda: api.folder.get_folder(folder["uid"]))
    if existing is None:
        api.folder.create_folder(folder["title"], uid=folder["uid"])
        return Change("folder", name, Outcome.CREATED)
    if existing.get("title") == folder["title"]:
        return Change("folder", name, Outcome.UNCHANGED)
    api.folder.update_folder(folder["uid"], title=folder["title"], version=existing["version"])
    return Change("folder", name, Outcome.UPDATED)


def _dashboard(api: GrafanaApi, model: Mapping[str, Any], folder_uid: str) -> Change:
    uid = model["uid"]
    name = f"{model['title']} ({uid})"
    existing = _get(lambda: api.dashboard.get_dashboard(uid))
    wanted = _comparable(model)
    if existing is None:
        body = {**wanted, "id": None}
        _save_dashboard(api, body, folder_uid)
        return Change("dashboard", name, Outcome.CREATED)
    stored, meta = existing["dashboard"], existing.get("meta", {})
    if _comparable(stored) == wanted and meta.get("folderUid") == folder_uid:
        return Change("dashboard", name, Outcome.UNCHANGED)
    # The version read above: Grafana answers 412 if someone saved in between, rather
    # than this run silently overwriting their change.
    body = {**wanted, "id": stored.get("id"), "version": stored.get("version")}
    _save_dashboard(api, body, folder_uid)
    return Change("dashboard", name, Outcome.UPDATED)


def _save_dashboard(api: GrafanaApi, dashboard: dict[str, Any], folder_uid: str) -> None:
    api.dashboard.update_dashboard(
        {"dashboard": dashboard, "folderUid": folder_uid, "message": MESSAGE, "overwrite": False}
    )


def _comparable(dashboard: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in _SERVER_KEYS}


def _playlist(api: GrafanaApi, playlist: Mapping[str, Any]) -> Change:
    # grafana-client has no playlist element: its generic request methods (api.client)
    # call the documented /api/playlists endpoints.
    found = api.client.GET("/playlists?" + urlencode({"query": playlist["name"]}))
    uid = next((p["uid"] for p in found if p.get("name") == playlist["name"]), None)
    if uid is None:
        api.client.POST("/playlists", json=dict(playlist))
        return Change("playlist", playlist["name"], Outcome.CREATED)
    existing = api.client.GET(f"/playlists/{uid}")
    if _playlist_key(existing) == _playlist_key(playlist):
        return Change("playlist", playlist["name"], Outcome.UNCHANGED)
    api.client.PUT(f"/playlists/{uid}", json={**playlist, "uid": uid})
    return Change("playlist", playlist["name"], Outcome.UPDATED)


def _playlist_key(playlist: Mapping[str, Any]) -> tuple[Any, ...]:
    # Grafana 10+ answers items as {type, value} in order (no order/title): compare those.
    items = tuple((i.get("type"), i.get("value")) for i in playlist.get("items") or ())
    return playlist.get("name"), playlist.get("interval"), items


def _get(read: Callable[[], Any]) -> Any:
    """The object, or None when Grafana answers 404."""
    try:
        return read()
    except GrafanaClientError as error:
        if error.status_code == 404:
            return None
        raise


def _where(api: GrafanaApi) -> str:
    return api.client.url.removesuffix("/api")


def _explain(error: GrafanaException, api: GrafanaApi) -> PublishError:
    status, detail = error.status_code, _detail(error)
    where = _where(api)
    messages = {
        401: (f"Grafana at {where} refused the credentials (401): check the token", 3),
        403: (f"the token may not do this at {where} (403: needs the Admin role){detail}", 4),
        404: (f"not found at {where} (404){detail}: is the folder there, is the URL Grafana's?", 6),
        412: (f"changed in Grafana while publishing (412){detail}: run again", 7),
    }
    if status in messages:
        return PublishError(*messages[status])
    if status == 0:  # grafana-client's code for timeouts and transport errors
        return PublishError(f"cannot reach Grafana at {where}: {error.message}", 5)
    return PublishError(f"Grafana at {where} answered {status}{detail}", 8)


def _detail(error: GrafanaException) -> str:
    response = error.response
    if isinstance(response, dict) and response.get("message"):
        return f": {response['message']}"
    return ""


def connect(url: str, credential: str | tuple[str, str], timeout: float = 10.0) -> GrafanaApi:
    return GrafanaApi.from_url(url=url, credential=credential, timeout=timeout)


def report(changes: Iterable[Change]) -> list[str]:
    """One line per object, then the totals; "no change" when nothing was written."""
    changes = list(changes)
    lines = [f"{c.outcome.value:<9}  {c.kind:<11}  {c.name}" for c in changes]
    written = [c for c in changes if c.outcome is not Outcome.UNCHANGED]
    counts = {o: sum(c.outcome is o for c in changes) for o in Outcome}
    if not written:
        lines.append(f"no change ({len(changes)} objects checked)")
    else:
        lines.append(", ".join(f"{counts[o]} {o.value}" for o in Outcome))
    return lines
