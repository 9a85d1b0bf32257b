"""Pid files and stopping: a stopped part leaves no process behind."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from stack import processes
from stack.processes import ProcessSpec

pytestmark = pytest.mark.integration

# A parent that starts a child and ignores SIGTERM, like a server stuck in shutdown.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def start(tmp_path: Path, name: str, code: str) -> int:
    marker = f"stack-test-{name}-{os.getpid()}"
    argv = [sys.executable, "-c", code, marker]
    return processes.start(tmp_path, ProcessSpec(name, argv, marker))


def child_pid(tmp_path: Path, name: str) -> int:
    log = processes.log_path(tmp_path, name)
    assert processes.wait_until(lambda: log.read_text().strip().splitlines()[-1].isdigit(), 10)
    return int(log.read_text().strip().splitlines()[-1])


def test_stop_escalates_to_sigkill_and_leaves_no_orphans(tmp_path: Path) -> None:
    pid = start(tmp_path, "stubborn", STUBBORN)
    child = child_pid(tmp_path, "stubborn")
    pidfile = processes.pid_path(tmp_path, "stubborn")
    assert processes.running_pid(pidfile) == pid
    began = time.monotonic()
    assert processes.stop(pidfile, timeout=1)
    assert time.monotonic() - began < 10
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert processes.wait_until(lambda: not psutil.pid_exists(child), 5), "child orphaned"
    assert not pidfile.exists()


def test_sigterm_is_enough_for_a_well_behaved_process(tmp_path: Path) -> None:
    pid = start(tmp_path, "polite", "import time; time.sleep(600)")
    pidfile = processes.pid_path(tmp_path, "polite")
    assert processes.stop(pidfile, sig=signal.SIGTERM, timeout=10)
    assert processes.running_pid(pidfile) is None
    assert not psutil.pid_exists(pid)
    assert not processes.stop(pidfile)  # stopping twice is fine


def test_stale_pid_file_naming_another_process_is_not_ours(tmp_path: Path) -> None:
    pidfile = processes.pid_path(tmp_path, "stale")
    pidfile.parent.mkdir(parents=True)
    pidfile.write_text(f"{os.getpid()}\nsome-other-program --flag\n")  # pid reused after reboot
    assert processes.running_pid(pidfile) is None
    assert not processes.stop(pidfile)
    assert psutil.pid_exists(os.getpid())


def test_process_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    start(tmp_path, "crash", "import sys; print('bad config line 3'); sys.exit(3)")
    pidfile = processes.pid_path(tmp_path, "crash")
    log = processes.log_path(tmp_path, "crash")
    with pytest.raises(processes.StackError, match="bad config line 3"):
        processes.wait_healthy("crash", pidfile, lambda: False, 10, log)
