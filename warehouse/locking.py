"""One writer at a time: DuckDB allows one writing process per file.

Every writer (ingest assets, dbt, the CLI) takes an exclusive advisory lock on
``<warehouse>.lock`` for as long as it writes; a second writer waits, and says for whom.
A whole pipeline run started by the CLI also holds ``<warehouse>.run.lock``, so a second
run started at the same time refuses (or waits, when asked to) instead of interleaving
with the first; the landing sensor skips while it is held.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


class WriterBusyError(RuntimeError):
    """Another process kept the warehouse's writer lock longer than we were willing to wait."""


class RunInProgressError(RuntimeError):
    """Another pipeline run holds the warehouse's run lock."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextmanager
def _exclusive(
    path: Path, *, timeout_s: float, holder: str, poll_s: float, busy: Callable[[str], Exception],
    waiting: str,
) -> Iterator[None]:
    """Hold an exclusive flock on ``path``; the holder's description is written into it.

    The kernel releases a flock when its process dies, even by SIGKILL, so a crashed run
    never leaves a lock behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    acquired = False
    try:
        deadline = time.monotonic() + timeout_s
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                other = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
                if time.monotonic() >= deadline:
                    raise busy(other) from None
                if not announced:
                    log.warning("%s held by %s", waiting, other)
                    announced = True
                time.sleep(poll_s)
        acquired = True
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} {holder}".strip().encode(), 0)
        yield
    finally:
        if acquired:
            os.ftruncate(fd, 0)
        os.close(fd)  # closing releases the flock


@contextmanager
def writer_lock(
    warehouse: Path, *, timeout_s: float = 3600.0, holder: str = "", poll_s: float = 0.5
) -> Iterator[None]:
    """Hold the exclusive writer lock of ``warehouse``; wait up to ``timeout_s`` for it."""

    def busy(other: str) -> Exception:
        return WriterBusyError(
            f"the warehouse {warehouse} is being written by {other}; "
            f"gave up after {timeout_s:.0f} s"
        )

    with _exclusive(
        lock_path(warehouse), timeout_s=timeout_s, holder=holder, poll_s=poll_s, busy=busy,
        waiting="waiting for the warehouse writer lock",
    ):
        yield


def run_lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".run.lock")


@contextmanager
def run_lock(
    warehouse: Path, *, wait_s: float = 0.0, holder: str = "", poll_s: float = 0.5
) -> Iterator[None]:
    """One pipeline run at a time on ``warehouse`` (``insights run``/``demo``).

    A second run refuses at once (``wait_s`` 0) or after waiting ``wait_s`` seconds, with
    :class:`RunInProgressError` naming the run in progress; the run in progress is never
    disturbed. Its writes are serialised by :func:`writer_lock` in any case."""

    def busy(other: str) -> Exception:
        waited = f" (waited {wait_s:.0f} s)" if wait_s > 0 else ""
        return RunInProgressError(
            f"another run is in progress on {warehouse}: {other}{waited}. It was not "
            "disturbed; run again when it has finished, or pass --wait SECONDS to queue"
        )

    with _exclusive(
        run_lock_path(warehouse), timeout_s=wait_s, holder=holder, poll_s=poll_s, busy=busy,
        waiting="waiting for the run in progress",
    ):
        yield


def run_in_progress(warehouse: Path) -> str | None:
    """Who holds the run lock of ``warehouse`` right now (None when no run is in progress)."""
    path = run_lock_path(warehouse)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
