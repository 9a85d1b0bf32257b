"""config/settings.py is the only module that reads IOC_* environment variables.

Every other module takes a Settings, so a variable has one name, one type and one default,
and a test or a supervisor can hand a process its configuration as one object. Setting
IOC_* variables for a child process (dict(os.environ, IOC_X=…), monkeypatch.setenv) is
not reading them and stays allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

from config.settings import REPO_ROOT

ALLOWED = {Path("config/settings.py")}
SKIPPED_DIRS = {".venv", ".run", ".git", "node_modules", "build", "dist"}
PREFIX = "IOC_"


def python_sources() -> list[Path]:
    return [
        path
        for path in REPO_ROOT.rglob("*.py")
        if not SKIPPED_DIRS & set(path.relative_to(REPO_ROOT).parts)
    ]


def _is_environ(node: ast.expr) -> bool:
    """os.environ, environ (from os import environ), or os.environb."""
    if isinstance(node, ast.Attribute):
        return node.attr in ("environ", "environb")
    return isinstance(node, ast.Name) and node.id in ("environ", "environb")


def _names_ioc(node: ast.expr, constants: dict[str, str]) -> bool:
    """A str that starts with IOC_: a literal, an f-string, or a module-level constant."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith(PREFIX)
    if isinstance(node, ast.JoinedStr) and node.values:
        return _names_ioc(node.values[0], constants)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _names_ioc(node.left, constants)
    if isinstance(node, ast.Name):
        return constants.get(node.id, "").startswith(PREFIX)
    return False


def _constants(tree: ast.Module) -> dict[str, str]:
    found = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found |= {t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)}
    return found


def ioc_reads(source: str) -> list[int]:
    """Line numbers where `source` reads an IOC_* variable or declares an IOC_ settings class."""
    tree = ast.parse(source)
    constants = _constants(tree)
    lines = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if (isinstance(func, ast.Name) and func.id in ("getenv", "getenvb")) or (
                isinstance(func, ast.Attribute)
                and (
                    func.attr in ("getenv", "getenvb")
                    or (func.attr in ("get", "pop") and _is_environ(func.value))
                )
            ):
                key = node.args[0]
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)  # os.environ["IOC_X"] = … sets, not reads
            and _is_environ(node.value)
        ):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) for op in node.ops
        ):
            if any(_is_environ(c) for c in node.comparators):
                key = node.left
        elif isinstance(node, ast.keyword) and node.arg == "env_prefix":
            key = node.value
        if key is not None and _names_ioc(key, constants):
            lines.append(key.lineno)
    return lines


def test_the_scanner_sees_every_way_of_reading() -> None:
    readers = [
        'import os\nos.environ.get("IOC_X")',
        'import os\nos.getenv("IOC_X", "1")',
        'from os import environ\nenviron["IOC_X"]',
        'import os\nname = "y"\nos.environ[f"IOC_{name.upper()}"]',
        'import os\nVAR = "IOC_CHANNELS_FILE"\nos.environ.get(VAR)',
        'import os\n"IOC_X" in os.environ',
        'import os\nos.environ.pop("IOC_X")',
        "class S(BaseSettings):\n    model_config = SettingsConfigDict(env_prefix='IOC_')",
    ]
    not_readers = [
        'import os\nenv = dict(os.environ, IOC_ROUTES_FILE="r")',
        'import os\nos.environ.get("HOME")',
        'monkeypatch.setenv("IOC_X", "1")',
        'import os\nos.environ["IOC_X"] = "1"',  # setting, for a child process
        'env = {"IOC_ENV_RULES": "x"}',
    ]
    assert [source for source in readers if not ioc_reads(source)] == []
    assert [source for source in not_readers if ioc_reads(source)] == []


def test_only_config_settings_reads_ioc_variables() -> None:
    sources = python_sources()
    assert Path("config/settings.py") in {p.relative_to(REPO_ROOT) for p in sources}
    offenders = []
    for path in sources:
        relative = path.relative_to(REPO_ROOT)
        if relative in ALLOWED:
            continue
        for line in ioc_reads(path.read_text(encoding="utf-8")):
            offenders.append(f"{relative}:{line}")
    assert offenders == [], "read IOC_* through config.settings.Settings instead"


def test_settings_never_show_their_secrets(monkeypatch) -> None:
    """A failing test prints its Settings into the CI log; secrets must not be in it."""
    from config.settings import Settings

    secrets = {
        "IOC_PG_PASSWORD": "pg-s3cret",
        "IOC_DATABASE_URL": "postgresql://ioc:url-s3cret@db/ioc",
        "IOC_MQTT_INGEST_PASSWORD": "ingest-s3cret",
        "IOC_MQTT_FRIGATE_PASSWORD": "frigate-s3cret",
        "IOC_MQTT_ADMIN_PASSWORD": "admin-s3cret",
        "IOC_WEBHOOK_SECRET": "hook-s3cret",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.pg_password == "pg-s3cret"  # read, only not shown
    shown = repr(settings) + str(settings)
    fragments = ["pg-s3cret", "url-s3cret", "ingest-s3cret", "frigate-s3cret", "admin-s3cret",
                 "hook-s3cret"]  # fmt: skip
    assert [f for f in fragments if f in shown] == []
