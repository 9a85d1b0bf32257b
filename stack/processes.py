"""Pid files, logs and signals for the local stack's long-running processes.

Every process runs in its own session (so a Ctrl-C in the terminal that started the stack
does not reach it) and is therefore the leader of its own process group: stopping kills
the whole group as a last resort, so no child outlives its parent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from stack.layout import run_as


class StackError(RuntimeError):
    """A part of the stack failed to start or become healthy."""

    def __init__(self, part: str, message: str, log: Path | None = None):
        detail = f"{part}: {message}"
        if log is not None and log.exists():
            detail += f"\n--- last lines of {log} ---\n{tail(log)}"
        super().__init__(detail)
        self.part = part


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    # A substring of the command line that identifies this very process, stored in the
    # pid file: after a reboot a stale pid file may name an unrelated process that got
    # the same pid, and the check must not depend on settings that changed since start.
    marker: str
    user: str | None = None
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def pid_path(run_dir: Path, name: str) -> Path:
    return run_dir / "pids" / f"{name}.pid"


def log_path(run_dir: Path, name: str) -> Path:
    return run_dir / "logs" / f"{name}.log"


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _stored_marker(pidfile: Path) -> str | None:
    try:
        lines = pidfile.read_text().splitlines()
    except FileNotFoundError:
        return None
    return lines[1] if len(lines) > 1 else None


def running_pid(pidfile: Path, marker: str | None = None) -> int | None:
    """The pid in pidfile if that process is alive and is the one we started: its command
    line holds marker (by default the one start() stored beside the pid)."""
    pid = read_pid(pidfile)
    expected = marker or _stored_marker(pidfile)
    if pid is None or expected is None:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return None
        return pid if expected in _cmdline(proc) else None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _cmdline(proc: psutil.Process) -> str:
    # A process in the middle of exec (or under heavy load, briefly) reads as an empty
    # command line; a live process of ours never has one for long.
    for _ in range(5):
        line = " ".join(proc.cmdline())
        if line:
            return line
        time.sleep(0.02)
    return ""


def exited(pidfile: Path) -> bool:
    """True once the process we just started is gone. Deliberately weaker than
    running_pid (no command-line check): a process caught mid-start must not count as
    dead."""
    pid = read_pid(pidfile)
    if pid is None:
        return True
    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    _reap(pid)
    return True


def start(run_dir: Path, spec: ProcessSpec) -> int:
    """Start spec detached, output appended to its log; returns the pid."""
    log = log_path(run_dir, spec.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile = pid_path(run_dir, spec.name)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%F %T')} start {' '.join(spec.argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=spec.cwd,
            env={**os.environ, **spec.env},
            start_new_session=True,
            **run_as(spec.user),
        )
    pidfile.write_text(f"{proc.pid}\n{spec.marker}\n")
    # Popen returns while the kernel may still be setting up the new program, whose
    # command line then reads as empty: wait until the process can be recognised.
    wait_until(lambda: proc.poll() is not None or running_pid(pidfile) is not None, 5, 0.01)
    return proc.pid


def stop(
    pidfile: Path, marker: str | None = None, sig: int = signal.SIGTERM, timeout: float = 30
) -> bool:
    """Send sig, wait up to timeout, then SIGKILL the process group. True if it was running."""
    pid = running_pid(pidfile, marker)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    # From here on follow this very process (psutil guards against pid reuse), not the
    # pid file, which the process itself may remove while exiting.
    proc = psutil.Process(pid)
    group = _group_of(pid)
    _signal(pid, sig)
    if not wait_until(lambda: _gone(proc), timeout):
        if group is not None:
            _kill_group(group)
        else:
            _signal(pid, signal.SIGKILL)
        if not wait_until(lambda: _gone(proc), 10):
            raise StackError(pidfile.stem, f"pid {pid} survived SIGKILL (stuck in the kernel?)")
    if group is not None:
        # Children the leader left behind (it exited, they did not) are orphans: end them.
        _kill_group(group)
    pidfile.unlink(missing_ok=True)
    return True


def _gone(proc: psutil.Process) -> bool:
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return not proc.is_running()
    except psutil.NoSuchProcess:
        return True
    _reap(proc.pid)
    return True


def signal_process(pidfile: Path, marker: str | None, sig: int) -> bool:
    pid = running_pid(pidfile, marker)
    if pid is None:
        return False
    _signal(pid, sig)
    return True


def _group_of(pid: int) -> int | None:
    """pid's process group if pid leads it (we start every process in its own session)."""
    try:
        return pid if os.getpgid(pid) == pid else None
    except ProcessLookupError:
        return None


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _reap(pid: int) -> None:
    """Collect the exit status if pid is our own child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_healthy(
    name: str, pidfile: Path, check: Callable[[], bool], timeout: float, log: Path
) -> None:
    """Wait for check() while the process lives; StackError with its log's tail if it
    dies or the time runs out."""

    def ready() -> bool:
        if exited(pidfile):
            raise StackError(name, "exited while starting", log)
        return check()

    if not wait_until(ready, timeout, 0.3):
        raise StackError(name, f"not healthy after {timeout:.0f}s", log)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def settings_env(values: Mapping[str, object]) -> dict[str, str]:
    """IOC_* variables for child processes, so they see exactly the supervisor's settings
    even when those came from code rather than the environment."""
    return {f"IOC_{key.upper()}": str(value) for key, value in values.items() if value is not None}
