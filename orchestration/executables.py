"""Programs the orchestration starts, found the way a cron job or a systemd unit needs:
beside this interpreter first (the bin folder of the venv `insights` is installed in,
which such environments do not put on PATH), then on PATH."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def find_executable(name: str) -> str | None:
    """``name`` beside this interpreter (the bin folder of the venv `insights` is installed
    in, which cron, systemd or pipx do not put on PATH), else on PATH, else None."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def dbt_executable() -> str:
    """The dbt to run: beside this interpreter, else on PATH (``dbt``, which fails with
    dbt's own message when it is nowhere)."""
    return find_executable("dbt") or "dbt"
