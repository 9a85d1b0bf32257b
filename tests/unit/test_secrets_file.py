"""The secrets file: created 0600 whatever the umask, atomically, once among racing starters."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.synchronize
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.secrets import SECRET_NAMES, Secrets, as_dict, load_secrets, write_private
from config.settings import Settings


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _settings(run_dir: Path) -> Settings:
    return Settings(run_dir=run_dir, **dict.fromkeys(SECRET_NAMES))


def test_created_0600_even_with_umask_000(tmp_path: Path, open_umask: None) -> None:
    settings = _settings(tmp_path / "run")
    created = load_secrets(settings)
    assert _mode(settings.secrets_file) == 0o600
    stored = json.loads(settings.secrets_file.read_text())
    assert stored == {name: getattr(created, name) for name in SECRET_NAMES}
    assert len(set(stored.values())) == len(SECRET_NAMES)  # each one its own
    assert [p.name for p in settings.secrets_file.parent.iterdir() if p.suffix == ".tmp"] == []


def test_write_private_never_leaves_a_wider_file(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "s.json"
    target.write_text("{}")
    os.chmod(target, 0o644)  # an old file made by hand: replaced, not reused
    write_private(target, b'{"a": "b"}')
    assert _mode(target) == 0o600 and target.read_bytes() == b'{"a": "b"}'


def test_missing_secrets_are_added_and_existing_ones_kept(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.secrets_file.write_text(json.dumps({"pg_password": "kept"}))
    secrets = load_secrets(settings)
    assert secrets.pg_password == "kept" and secrets.webhook_secret
    assert json.loads(settings.secrets_file.read_text())["webhook_secret"] == secrets.webhook_secret
    assert _mode(settings.secrets_file) == 0o600


def test_clients_never_create(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="start the stack first"):
        load_secrets(_settings(tmp_path), create=False)
    assert not (tmp_path / "secrets.json").exists()


def test_settings_win_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_secrets(_settings(tmp_path))
    monkeypatch.setenv("IOC_MQTT_ADMIN_PASSWORD", "from-the-environment")
    monkeypatch.setenv("IOC_RUN_DIR", str(tmp_path))
    secrets = load_secrets(Settings())
    assert secrets.mqtt_admin_password == "from-the-environment"
    assert json.loads((tmp_path / "secrets.json").read_text())["mqtt_admin_password"] != (
        "from-the-environment"
    )


def _start(run_dir: str, barrier: multiprocessing.synchronize.Barrier, out: str) -> None:
    os.umask(0)
    barrier.wait()
    secrets = load_secrets(_settings(Path(run_dir)))
    Path(out).write_text(json.dumps(as_dict(secrets)))


def test_concurrent_creators_end_with_one_file_they_all_use(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    starters = 8
    barrier = context.Barrier(starters)
    outputs = [tmp_path / f"out-{i}.json" for i in range(starters)]
    run_dir = tmp_path / "run"
    processes = [
        context.Process(target=_start, args=(str(run_dir), barrier, str(out))) for out in outputs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    seen = {out.read_text() for out in outputs}
    assert len(seen) == 1  # every starter got the same secrets
    stored = Secrets(**json.loads((run_dir / "secrets.json").read_text()))
    assert json.loads(seen.pop()) == as_dict(stored)
    assert _mode(run_dir / "secrets.json") == 0o600
    assert sorted(p.name for p in run_dir.iterdir()) == ["secrets.json", "secrets.json.lock"]
