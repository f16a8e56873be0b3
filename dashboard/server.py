"""Starting the dashboard: ``streamlit run`` on :mod:`dashboard.app`, bound to
127.0.0.1 unless told otherwise, headless, without usage statistics or file watching."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")
ROOT = APP.parents[1]
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def command(serving: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> list[str]:
    """The command line that serves the dashboard over ``serving``."""
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--server.fileWatcherType", "none",
            "--server.runOnSave", "false", "--browser.gatherUsageStats", "false",
            "--global.developmentMode", "false", "--client.toolbarMode", "viewer",
            "--client.showErrorDetails", "false", "--theme.base", "light",
            "--", "--serving", str(serving)]


def start(serving: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          **popen) -> subprocess.Popen:
    """The dashboard server as a child process (the caller stops it). It runs from the
    repository root, so that ``python -m`` puts the ``dashboard`` package on its path."""
    return subprocess.Popen(command(serving, host, port), cwd=ROOT, **popen)
