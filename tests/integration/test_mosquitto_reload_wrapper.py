"""deploy/mosquitto/reload-on-change.sh, the compose broker's entrypoint, run here with the
real mosquitto and the accounts files written by the real stack.mosquitto_auth code in the
compose arrangement (Settings.mqtt_accounts_gid).

What cannot run here (no Docker engine): the containers themselves, i.e. the image's
busybox, the named volume and compose's group_add. Stand-ins: the script runs under this
host's /bin/sh and under busybox's sh with only busybox applets on PATH (Alpine's case);
the "volume" is a directory; the API container (another uid, in the shared group) is a
forked process that drops root to `nobody` with the group as its only supplementary one.
"""

from __future__ import annotations

import grp
import multiprocessing
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.settings import REPO_ROOT, Settings, get_settings
from stack import layout, mosquitto
from stack.mosquitto_auth import hash_password, sync_accounts
from stack.processes import read_pid, wait_until

pytestmark = pytest.mark.integration

SCRIPT = REPO_ROOT / "deploy" / "mosquitto" / "reload-on-change.sh"
BROKER = Path("/usr/sbin/mosquitto")
# The applets the script may use in the eclipse-mosquitto image (Alpine: busybox only).
BUSYBOX_APPLETS = ("cmp", "cp", "chmod", "chown", "id", "mv", "rm", "sleep")
ADMIN_PASSWORD = secrets.token_urlsafe(18)


@dataclass
class Bench:
    accounts: Path  # the shared volume
    init: Settings  # root, like compose's init job
    api: Settings  # another uid in the shared group, like the api and alerts containers
    broker_dir: Path  # the broker's own copies (the container's /mosquitto/config)
    conf: Path
    pidfile: Path
    gid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bench() -> Iterator[Bench]:
    # Under run_dir, not tmp_path: the broker drops root and must reach its files.
    base = get_settings().run_dir.resolve() / "test-reload-wrapper" / uuid.uuid4().hex[:8]
    layout.ensure_dir(base, mode=0o755)
    gid = grp.getgrnam("mosquitto").gr_gid  # compose: 1883, the broker image's group
    # Each container has its own run_dir (and secrets.json) with the volume mounted at
    # run_dir/mosquitto; compose gives every one the same service passwords.
    accounts = layout.ensure_dir(base / "accounts")  # a new volume: root's, 0755
    passwords = {
        f"mqtt_{name}_password": secrets.token_urlsafe(18)
        for name in ("ingest", "frigate", "commands")
    }
    writers = []
    for name, owner in (("init", None), ("api", "nobody")):
        run_dir = layout.ensure_dir(base / name, owner, 0o700)
        (run_dir / "mosquitto").symlink_to(accounts)
        writers.append(
            Settings(
                run_dir=run_dir,
                mqtt_accounts_gid=gid,
                mqtt_admin_password=ADMIN_PASSWORD,
                **passwords,
            )
        )
    broker_settings = Settings(run_dir=base / "broker", mqtt_port=free_port())
    broker_dir = mosquitto.state_dir(broker_settings)
    layout.ensure_dir(broker_dir, mode=0o755)
    layout.ensure_dir(broker_dir / "data", "mosquitto", 0o700)
    layout.ensure_dir(broker_dir / "run", "mosquitto", 0o755)
    log = layout.log_file_for(broker_settings.run_dir / "logs" / "mosquitto.log", "mosquitto")
    conf = broker_dir / "mosquitto.conf"
    source = (mosquitto.SOURCE_DIR / "mosquitto.conf").read_text()
    conf.write_text(mosquitto.render_config(broker_settings, source))
    yield Bench(accounts, *writers, broker_dir, conf, broker_dir / "run" / "mosquitto.pid", gid)
    print(log.read_text()[-6000:])  # pytest shows it when the test failed
    shutil.rmtree(base, ignore_errors=True)


def shell_argv(kind: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
    """argv prefix and PATH to run the script the way `kind` would."""
    if kind == "sh":
        return ["/bin/sh"], {"PATH": "/usr/bin:/bin"}
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox is not installed (apt-get install busybox): Alpine's shell")
    applets = tmp / "applets"
    applets.mkdir()
    for name in BUSYBOX_APPLETS:
        (applets / name).symlink_to(busybox)
    # Alpine's busybox has the flock applet, Debian's does not: util-linux's stands in.
    (applets / "flock").symlink_to(shutil.which("flock") or "/usr/bin/flock")
    return [busybox, "sh"], {"PATH": str(applets)}


def start_wrapper(bench: Bench, kind: str, tmp: Path) -> subprocess.Popen[bytes]:
    prefix, env = shell_argv(kind, tmp)
    env |= {
        "IOC_ACCOUNTS_DIR": str(bench.accounts),
        "IOC_BROKER_ACCOUNTS_DIR": str(bench.broker_dir),
    }
    return subprocess.Popen(
        [*prefix, str(SCRIPT), str(BROKER), "-c", str(bench.conf)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def sync_as_another_user(bench: Bench, accounts: dict[str, str], in_group: bool) -> int:
    """Exit code of sync_accounts run the way the API container runs it: not root, not
    the owner of what `init` wrote, a member of the shared group (or not)."""

    def child() -> None:
        nobody = pwd.getpwnam("nobody")
        os.setgroups([bench.gid] if in_group else [])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
        sync_accounts(bench.api, accounts)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(30)
    return process.exitcode if process.exitcode is not None else -1


def login(bench: Bench, user: str, password: str) -> bool:
    port = int(bench.conf.read_text().split("\nlistener ", 1)[1].split()[0])
    return mosquitto.try_login("127.0.0.1", port, user, password)[0]


def assert_shared_modes(bench: Bench) -> None:
    """The compose arrangement: nothing for anyone outside the shared group."""
    accounts = bench.accounts
    expected = {accounts: 0o2770, accounts / "passwd": 0o640, accounts / "acl": 0o640}
    expected[accounts / ".passwd.lock"] = 0o660
    for path, mode in expected.items():
        info = path.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (mode, bench.gid), path
    for name in ("passwd", "acl"):  # the broker's copies: its own, 0600
        info = (bench.broker_dir / name).stat()
        assert stat.S_IMODE(info.st_mode) == 0o600, name
        assert pwd.getpwuid(info.st_uid).pw_name == "mosquitto", name


@pytest.mark.parametrize("kind", ["sh", "busybox"])
def test_credential_changes_reach_the_broker_without_a_restart(
    bench: Bench, kind: str, tmp_path: Path
) -> None:
    device = f"wrap-{uuid.uuid4().hex[:6]}"
    old, new, grace = (secrets.token_urlsafe(18) for _ in range(3))
    # `init` (root) writes the first accounts.
    sync_accounts(bench.init, {device: hash_password(old)})
    wrapper = start_wrapper(bench, kind, tmp_path)
    try:
        assert wait_until(lambda: login(bench, device, old), 10), "broker did not start"
        broker_pid = read_pid(bench.pidfile)
        assert broker_pid is not None
        assert_shared_modes(bench)

        # The API rotates the password (no grace): another uid, in the group.
        assert sync_as_another_user(bench, {device: hash_password(new)}, in_group=True) == 0
        assert wait_until(lambda: login(bench, device, new), 15), "new password not taken"
        assert not login(bench, device, old)
        assert (bench.accounts / "passwd").stat().st_uid == pwd.getpwnam("nobody").pw_uid
        assert_shared_modes(bench)

        # A rotation with grace: the second login and its ACL block reach the broker.
        second = f"{device}~1"
        accounts = {device: hash_password(new), second: hash_password(grace)}
        assert sync_as_another_user(bench, accounts, in_group=True) == 0
        assert wait_until(lambda: login(bench, second, grace), 15), "grace login not taken"
        block = f"user {second}\ntopic write ioc/v1/{device}/telemetry\n"
        assert wait_until(lambda: block in (bench.broker_dir / "acl").read_text(), 5)

        # Outside the group: refused by the file modes, and the broker keeps its accounts.
        assert sync_as_another_user(bench, {device: hash_password(old)}, in_group=False) != 0
        time.sleep(3)
        assert login(bench, device, new) and not login(bench, device, old)

        assert read_pid(bench.pidfile) == broker_pid, "the broker was restarted"
        stopped_at = time.time()
        wrapper.send_signal(signal.SIGTERM)
        assert wrapper.wait(30) == 0
    finally:
        output = stop(wrapper, bench)
    assert "SIGHUP to the broker" in output, output
    # SIGTERM reached mosquitto: it saved its state on the way out and left no process.
    database = bench.broker_dir / "data" / "mosquitto.db"
    assert database.is_file() and database.stat().st_mtime >= stopped_at - 0.01
    assert not wait_until(lambda: _alive(broker_pid), 0.5)


def stop(wrapper: subprocess.Popen[bytes], bench: Bench) -> str:
    """The wrapper's output; after a failure, nothing of this test left running."""
    if wrapper.poll() is None:
        wrapper.send_signal(signal.SIGTERM)
        try:
            wrapper.wait(30)
        except subprocess.TimeoutExpired:
            wrapper.kill()
            broker = read_pid(bench.pidfile)
            if broker is not None and _alive(broker):
                os.kill(broker, signal.SIGKILL)
    return wrapper.communicate(timeout=10)[0].decode()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_wrapper_refuses_to_start_without_accounts(bench: Bench, tmp_path: Path) -> None:
    wrapper = start_wrapper(bench, "sh", tmp_path)
    output = wrapper.communicate(timeout=10)[0].decode()
    assert wrapper.returncode == 1
    assert "the init job" in output
    assert read_pid(bench.pidfile) is None
