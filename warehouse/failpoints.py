"""Failpoints: named places where the reliability tests kill the pipeline with SIGKILL.

``INSIGHTS_FAILPOINT=name`` (or ``name:N``, the N-th time the point is reached; default
the first) makes :func:`failpoint` kill the process the way an out-of-memory killer or a
power cut would: SIGKILL, so no ``finally`` block, no rollback, no cleanup runs. When the
process leads its own process group (the tests start ``insights run`` in a new session),
the whole group goes, dbt's subprocess included, as systemd or Kubernetes would do it.

Unset, as in production, a failpoint costs one environment lookup.
"""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter

from warehouse.settings import ENV_FAILPOINT

log = logging.getLogger(__name__)
_reached: Counter[str] = Counter()


def parse(spec: str) -> tuple[str, int]:
    """``"name"`` -> (name, 1); ``"name:3"`` -> (name, 3)."""
    name, _, nth = spec.strip().partition(":")
    count = int(nth) if nth else 1
    if not name or count < 1:
        raise ValueError(f"bad {ENV_FAILPOINT} {spec!r}: expected NAME or NAME:N with N >= 1")
    return name, count


def failpoint(name: str) -> None:
    """Kill this process (group) here if ``INSIGHTS_FAILPOINT`` names this point."""
    spec = os.environ.get(ENV_FAILPOINT)
    if not spec:
        return
    wanted, nth = parse(spec)
    if wanted != name:
        return
    _reached[name] += 1
    if _reached[name] < nth:
        return
    log.warning("failpoint %s reached (%d): SIGKILL", name, nth)
    for handler in logging.getLogger().handlers:
        handler.flush()
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
