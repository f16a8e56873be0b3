"""One writer at a time: DuckDB allows one writing process per file.

Every writer (ingest assets, dbt, the CLI) takes an exclusive advisory lock on
``<warehouse>.lock`` for as long as it writes; a second writer waits, and says for whom.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


class WriterBusyError(RuntimeError):
    """Another process kept the warehouse's writer lock longer than we were willing to wait."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextmanager
def writer_lock(
    warehouse: Path, *, timeout_s: float = 3600.0, holder: str = "", poll_s: float = 0.5
) -> Iterator[None]:
    """Hold the exclusive writer lock of ``warehouse``; wait up to ``timeout_s`` for it."""
    path = lock_path(warehouse)
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
                    raise WriterBusyError(
                        f"the warehouse {warehouse} is being written by {other}; "
                        f"gave up after {timeout_s:.0f} s"
                    ) from None
                if not announced:
                    log.warning("waiting for the warehouse writer lock held by %s", other)
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
