"""`insights ui` stops everything it started: a real `insights ui -p <port>` (dagster dev:
webserver, daemon, code server) is signalled once its webserver answers, and within a
bounded time no process of it is left."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import demo_env
from tests.prerequisites import missing

INSIGHTS = Path(sys.executable).with_name("insights")
STARTUP_S = 180.0  # dagster dev loads the definitions in the code server: slow when loaded
STOP_S = 60.0  # the CLI's grace period (20 s) and its SIGKILL, with room to spare


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def _processes() -> dict[int, tuple[str, int, int]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            out[int(entry.name)] = st
    return out


def _descendants(root: int) -> set[int]:
    """Every living process below ``root`` (by parent pid)."""
    procs = _processes()
    found, frontier = set(), {root}
    while frontier:
        children = {pid for pid, (_, ppid, _) in procs.items() if ppid in frontier}
        frontier = children - found
        found |= children
    return found


def _alive(pids: set[int], groups: set[int]) -> list[int]:
    """Processes among ``pids`` or in ``groups`` still running (zombies are dead)."""
    return sorted(pid for pid, (state, _, pgrp) in _processes().items()
                  if state != "Z" and (pid in pids or pgrp in groups))


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table in /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_insights_ui_stops_every_process_it_started(tmp_path, sig):
    data = tmp_path / "data"
    (data / "landing").mkdir(parents=True)
    env = {**os.environ, **demo_env(data),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    port = _free_port()
    log = (tmp_path / "ui.log").open("w")
    # its own session, so that the test can clean up whatever happens
    cli = subprocess.Popen([str(INSIGHTS), "ui", "-p", str(port)], env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    groups = {cli.pid}
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _answers(port):
            if cli.poll() is not None or time.monotonic() > deadline:
                output = (tmp_path / "ui.log").read_text()
                # `insights ui` prints the dagster dev command line before starting it
                assert "dagster dev" in output, f"insights ui did not start:\n{output}"
                print(f"dagster dev cannot start here (exit {cli.returncode}):\n"
                      f"{output[-2000:]}")
                missing(f"dagster dev cannot start here (exit {cli.returncode}); "
                        "its output is printed above")
            time.sleep(0.5)
        started = _descendants(cli.pid)
        groups |= {_stat(pid)[2] for pid in started if _stat(pid) is not None}
        assert len(started) >= 3, started  # dagster dev, webserver, daemon, code server...
        assert groups - {cli.pid}, "dagster dev runs in a process group of its own"

        os.kill(cli.pid, sig)
        assert cli.wait(timeout=STOP_S) == 0
        deadline = time.monotonic() + 5.0  # reaped orphans may take a moment to go
        while _alive(started, groups) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(started, groups) == [], (tmp_path / "ui.log").read_text()[-3000:]
        assert not _answers(port)
    finally:
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        cli.wait(timeout=10)
        log.close()
