"""A stand-in for Grafana's HTTP API, for testing `ioc dashboards publish`.

Grafana cannot be installed on these machines (no package registry ships it), so the
publisher is tested against this: a real HTTP server on a real socket that keeps state
the way Grafana does for the endpoints the publisher uses, and checks every request and
every answer against the shapes in tests/fixtures/grafana/*.json. Those fixtures hold the
examples, fields and status codes of Grafana's published HTTP API reference (each file
names its page): a request with a field the reference does not document, a field of the
wrong JSON type or a missing required one is answered 400 and recorded as a violation,
and every answer is built from, and checked against, the reference's example.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "grafana"
ADMIN_TOKEN = "glsa_admin_0123456789abcdef"
VIEWER_TOKEN = "glsa_viewer_0123456789abcdef"
ADMIN_USER = ("admin", "admin-password-for-tests")
WRITES = ("POST", "PUT", "DELETE", "PATCH")
_JSON_TYPES = {
    dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
    float: "number", type(None): "null",
}  # fmt: skip


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def json_type(value: Any) -> str:
    return _JSON_TYPES[type(value)]


def shape_problems(body: Any, fields: dict[str, str], required: list[str], where: str) -> list[str]:
    """What in `body` does not match the documented fields and types."""
    if not isinstance(body, dict):
        return [f"{where}: body is {json_type(body)}, not an object"]
    problems = [f"{where}: missing required {key}" for key in required if key not in body]
    for key, value in body.items():
        if key not in fields:
            problems.append(f"{where}: {key} is not a documented field")
        elif json_type(value) not in fields[key].split("|"):
            problems.append(f"{where}: {key} is {json_type(value)}, documented {fields[key]}")
    return problems


def answer_problems(answer: Any, example: Any, where: str) -> list[str]:
    """An answer must have the example's keys with the example's JSON types."""
    if isinstance(example, list):
        items = answer if isinstance(answer, list) else [None]
        return [p for item in items for p in answer_problems(item, example[0], where)]
    if not isinstance(answer, dict):
        return [f"{where}: answer is {json_type(answer)}, documented object"]
    problems = []
    for key, value in example.items():
        if key not in answer:
            problems.append(f"{where}: answer lacks {key}")
        elif None not in (value, answer[key]) and json_type(answer[key]) != json_type(value):
            problems.append(f"{where}: answer's {key} is {json_type(answer[key])}")
    return problems


def shaped(example: dict[str, Any], **values: Any) -> dict[str, Any]:
    """The reference's example answer with this exchange's values."""
    answer = copy.deepcopy(example)
    answer.update({k: v for k, v in values.items() if k in answer})
    return answer


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    answer: Any


@dataclass
class State:
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    playlists: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class Reply(Exception):
    """Raised by a route to answer with a status other than 200."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


class GrafanaDouble:
    def __init__(self) -> None:
        self.state = State()
        self.exchanges: list[Exchange] = []
        self.violations: list[str] = []
        self.spec = {name: load(name) for name in ("datasources", "folders", "dashboards")}
        self.spec["playlists"] = load("playlists")
        self.errors = load("errors")
        self.lock = threading.Lock()
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = [
            ("GET", re.compile(r"/api/datasources/uid/([^/]+)"), self.get_datasource),
            ("POST", re.compile(r"/api/datasources"), self.create_datasource),
            ("PUT", re.compile(r"/api/datasources/uid/([^/]+)"), self.update_datasource),
            ("GET", re.compile(r"/api/folders/([^/]+)"), self.get_folder),
            ("POST", re.compile(r"/api/folders"), self.create_folder),
            ("PUT", re.compile(r"/api/folders/([^/]+)"), self.update_folder),
            ("GET", re.compile(r"/api/dashboards/uid/([^/]+)"), self.get_dashboard),
            ("POST", re.compile(r"/api/dashboards/db"), self.save_dashboard),
            ("GET", re.compile(r"/api/playlists"), self.search_playlists),
            ("GET", re.compile(r"/api/playlists/([^/]+)"), self.get_playlist),
            ("POST", re.compile(r"/api/playlists/?"), self.create_playlist),
            ("PUT", re.compile(r"/api/playlists/([^/]+)"), self.update_playlist),
        ]

    # ---- plumbing -------------------------------------------------------------------

    def handle(self, method: str, url: str, headers: Any, body: Any) -> tuple[int, Any]:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        with self.lock:
            try:
                self.authorise(method, headers.get("Authorization", ""))
                status, answer = 200, self.route(method, parts.path, query, body)
            except Reply as reply:
                status, answer = reply.status, reply.body
            self.exchanges.append(Exchange(method, parts.path, query, body, status, answer))
        return status, answer

    def authorise(self, method: str, header: str) -> None:
        scheme, _, credential = header.partition(" ")
        if scheme == "Basic":
            user, _, password = base64.b64decode(credential).decode().partition(":")
            if (user, password) == ADMIN_USER:
                return
        elif scheme == "Bearer" and credential == ADMIN_TOKEN:
            return
        elif scheme == "Bearer" and credential == VIEWER_TOKEN:
            if method in WRITES:
                raise Reply(403, self.errors["403"])
            return
        raise Reply(401, self.errors["401"])

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        for verb, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if verb == method and match:
                return handler(*match.groups(), body=body, query=query)
        self.violations.append(f"{method} {path}: not an endpoint the publisher should use")
        raise Reply(404, {"message": "Not found"})

    def check(self, body: Any, spec: dict[str, Any], where: str) -> None:
        problems = shape_problems(body, spec["fields"], spec.get("required", []), where)
        if problems:
            self.violations += problems
            raise Reply(400, {"message": "; ".join(problems)})

    def answer(self, answer: Any, example: Any, where: str) -> Any:
        self.violations += answer_problems(answer, example, where)
        return answer

    # ---- data sources ---------------------------------------------------------------

    def _datasource_view(self, stored: dict[str, Any]) -> dict[str, Any]:
        example = self.spec["datasources"]["get_by_uid"]["response"]
        view = {k: v for k, v in stored.items() if k != "secureJsonData"}
        view["secureJsonFields"] = {k: True for k in stored.get("secureJsonData", {})}
        return shaped(example, **view)

    def get_datasource(self, uid: str, **_: Any) -> Any:
        spec = self.spec["datasources"]["get_by_uid"]
        if uid not in self.state.datasources:
            raise Reply(404, spec["not_found"])
        view = self._datasource_view(self.state.datasources[uid])
        return self.answer(view, spec["response"], "GET datasource")

    def create_datasource(self, body: Any, **_: Any) -> Any:
        spec = self.spec["datasources"]["create"]
        self.check(body, spec, "POST /api/datasources")
        if any(d["name"] == body["name"] for d in self.state.datasources.values()):
            raise Reply(409, {"message": "data source with the same name already exists"})
        uid = body.get("uid") or f"gen{self.state.new_id()}"
        if uid in self.state.datasources:
            raise Reply(409, {"message": "data source with the same uid already exists"})
        stored = {**body, "uid": uid, "id": self.state.new_id(), "orgId": 1, "version": 1}
        self.state.datasources[uid] = stored
        view = self._datasource_view(stored)
        answer = shaped(spec["response"], datasource=view, id=stored["id"], name=body["name"])
        return self.answer(answer, spec["response"], "POST datasource")

    def update_datasource(self, uid: str, body: Any, **_: Any) -> Any:
        spec = self.spec["datasources"]["update_by_uid"]
        self.check(body, spec, f"PUT /api/datasources/uid/{uid}")
        if uid not in self.state.datasources:
            raise Reply(404, self.spec["datasources"]["get_by_uid"]["not_found"])
        old = self.state.datasources[uid]
        secure = {**old.get("secureJsonData", {}), **body.get("secureJsonData", {})}
        stored = {**old, **body, "secureJsonData": secure, "version": old["version"] + 1}
        self.state.datasources[uid] = stored
        view = self._datasource_view(stored)
        answer = shaped(spec["response"], datasource=view, id=stored["id"], name=stored["name"])
        return self.answer(answer, spec["response"], "PUT datasource")

    # ---- folders --------------------------------------------------------------------

    def get_folder(self, uid: str, **_: Any) -> Any:
        spec = self.spec["folders"]["get"]
        if uid not in self.state.folders:
            raise Reply(404, spec["not_found"])
        answer = shaped(spec["response"], **self.state.folders[uid])
        return self.answer(answer, spec["response"], "GET folder")

    def create_folder(self, body: Any, **_: Any) -> Any:
        spec = self.spec["folders"]["create"]
        self.check(body, spec, "POST /api/folders")
        uid = body.get("uid") or f"gen{self.state.new_id()}"
        if uid in self.state.folders:
            raise Reply(409, {"message": "a folder with the same uid already exists"})
        self.state.folders[uid] = {
            "id": self.state.new_id(), "uid": uid, "title": body["title"], "version": 1,
            "url": f"/dashboards/f/{uid}/",
        }  # fmt: skip
        answer = shaped(spec["response"], **self.state.folders[uid])
        return self.answer(answer, spec["response"], "POST folder")

    def update_folder(self, uid: str, body: Any, **_: Any) -> Any:
        spec = self.spec["folders"]["update"]
        self.check(body, spec, f"PUT /api/folders/{uid}")
        if uid not in self.state.folders:
            raise Reply(404, self.spec["folders"]["get"]["not_found"])
        folder = self.state.folders[uid]
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            raise Reply(412, spec["version_mismatch"])
        folder.update(title=body["title"], version=folder["version"] + 1)
        return self.answer(shaped(spec["response"], **folder), spec["response"], "PUT folder")

    # ---- dashboards -----------------------------------------------------------------

    def get_dashboard(self, uid: str, **_: Any) -> Any:
        spec = self.spec["dashboards"]["get_by_uid"]
        if uid not in self.state.dashboards:
            raise Reply(404, spec["not_found"])
        saved = self.state.dashboards[uid]
        folder = self.state.folders[saved["folderUid"]]
        meta = shaped(
            spec["response"]["meta"], url=f"/d/{uid}/", folderId=folder["id"],
            folderUid=folder["uid"], slug=uid,
        )  # fmt: skip
        answer = {"dashboard": copy.deepcopy(saved["dashboard"]), "meta": meta}
        return self.answer(answer, spec["response"], "GET dashboard")

    def save_dashboard(self, body: Any, **_: Any) -> Any:
        spec = self.spec["dashboards"]["save"]
        self.check(body, spec, "POST /api/dashboards/db")
        model = body["dashboard"]
        head = {k: model[k] for k in spec["dashboard_fields"] if k in model}
        self.check(head, {"fields": spec["dashboard_fields"]}, "POST /api/dashboards/db .dashboard")
        folder_uid = body.get("folderUid", "")
        if folder_uid not in self.state.folders:
            raise Reply(404, self.spec["folders"]["get"]["not_found"])
        uid = model.get("uid") or f"gen{self.state.new_id()}"
        saved = self.state.dashboards.get(uid)
        if saved is not None and not body.get("overwrite"):
            if model.get("id") is None:
                raise Reply(412, spec["name_exists"])
            if model.get("version") != saved["dashboard"]["version"]:
                raise Reply(412, spec["version_mismatch"])
        version = saved["dashboard"]["version"] + 1 if saved else 1
        ident = saved["dashboard"]["id"] if saved else self.state.new_id()
        stored = {**model, "id": ident, "uid": uid, "version": version}
        self.state.dashboards[uid] = {"dashboard": stored, "folderUid": folder_uid}
        answer = shaped(
            spec["response"], id=ident, uid=uid, url=f"/d/{uid}/", status="success",
            version=version, slug=uid,
        )  # fmt: skip
        return self.answer(answer, spec["response"], "POST dashboard")

    # ---- playlists ------------------------------------------------------------------

    def search_playlists(self, query: dict[str, list[str]], **_: Any) -> Any:
        spec = self.spec["playlists"]["search"]
        unknown = set(query) - set(spec["query"])
        if unknown:
            self.violations.append(f"GET /api/playlists: undocumented parameters {unknown}")
        wanted = (query.get("query") or [""])[0]
        found = [
            {"uid": uid, "name": p["name"], "interval": p["interval"]}
            for uid, p in self.state.playlists.items()
            if wanted.lower() in p["name"].lower()
        ]
        return self.answer(found, spec["response"], "GET playlists")

    def get_playlist(self, uid: str, **_: Any) -> Any:
        spec = self.spec["playlists"]["get"]
        if uid not in self.state.playlists:
            raise Reply(404, spec["not_found"])
        playlist = self.state.playlists[uid]
        items = [
            {"id": n, "playlistUid": uid, **item}
            for n, item in enumerate(playlist["items"], start=1)
        ]
        answer = {"uid": uid, "name": playlist["name"], "interval": playlist["interval"]}
        return self.answer({**answer, "items": items}, spec["response"], "GET playlist")

    def _check_items(self, body: dict[str, Any], spec: dict[str, Any], where: str) -> None:
        for item in body.get("items", []):
            self.check(item, {"fields": spec["item_fields"]}, f"{where} item")
            if item.get("type") not in self.spec["playlists"]["create"]["item_types"]:
                self.violations.append(f"{where}: item type {item.get('type')}")

    def create_playlist(self, body: Any, **_: Any) -> Any:
        spec = self.spec["playlists"]["create"]
        self.check(body, spec, "POST /api/playlists")
        self._check_items(body, spec, "POST /api/playlists")
        uid = f"pl{self.state.new_id()}"
        self.state.playlists[uid] = {
            "name": body["name"], "interval": body.get("interval", "5m"),
            "items": [dict(i) for i in body.get("items", [])],
        }  # fmt: skip
        answer = {"uid": uid, "name": body["name"], "interval": body.get("interval", "5m")}
        return self.answer(answer, spec["response"], "POST playlist")

    def update_playlist(self, uid: str, body: Any, **_: Any) -> Any:
        spec = self.spec["playlists"]["update"]
        self.check(body, spec, f"PUT /api/playlists/{uid}")
        self._check_items(body, spec, f"PUT /api/playlists/{uid}")
        if uid not in self.state.playlists:
            raise Reply(404, self.spec["playlists"]["get"]["not_found"])
        self.state.playlists[uid] = {
            "name": body["name"], "interval": body.get("interval", "5m"),
            "items": [dict(i) for i in body.get("items", [])],
        }  # fmt: skip
        return self.get_playlist(uid)

    # ---- what the tests look at -----------------------------------------------------

    def writes(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.method in WRITES]


def _handler(double: GrafanaDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, answer = double.handle(self.command, self.path, self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    return Handler


@contextmanager
def running() -> Iterator[tuple[GrafanaDouble, str]]:
    """The double listening on a free loopback port; yields it and its base URL."""
    double = GrafanaDouble()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(double))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield double, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
