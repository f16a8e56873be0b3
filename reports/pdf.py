"""A report as PDF: headless Chromium prints the report's HTML page (the same page a
reader opens: inline SVG charts, print stylesheet) to a PDF file beside it.

Chromium is found on PATH (``chromium``, ``chromium-browser``, ``google-chrome``) or
given by the caller; without one, :func:`print_pdf` raises :class:`NoBrowserError`
with a one-line reason, and callers decide whether that is an error (``insights report
--pdf``) or a warning (a scheduled run with ``reports.pdf`` on)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from reports.exports import FILE_MODE

log = logging.getLogger(__name__)

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 120.0
# headless, no sandbox (containers run as root), no network beyond the page itself
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw")


class NoBrowserError(RuntimeError):
    """No Chromium to print with."""


def find_browser(configured: str | None = None) -> str:
    """The Chromium to print with: ``configured`` (a path or a name on PATH), else the
    first of CANDIDATES on PATH."""
    for name in ([configured] if configured else list(CANDIDATES)):
        found = shutil.which(name)
        if found:
            return found
    wanted = configured or " / ".join(CANDIDATES)
    raise NoBrowserError(f"no Chromium to print PDF with ({wanted} not found on PATH; "
                         "apt-get install chromium)")


def print_pdf(html_path: Path, pdf_path: Path, *, browser: str | None = None,
              timeout_s: float = TIMEOUT_S) -> Path:
    """Print ``html_path`` to ``pdf_path`` (written atomically: a temporary file renamed
    into place, so a reader never sees half a PDF); returns ``pdf_path``."""
    binary = find_browser(browser)
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".pdf-", suffix=".tmp", dir=pdf_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    with tempfile.TemporaryDirectory(prefix="insights-chromium-") as profile:
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}",
               html_path.resolve().as_uri()]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"chromium did not print {html_path.name} in {timeout_s:.0f} s"
                               ) from None
    if proc.returncode != 0 or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"chromium could not print {html_path.name} "
                           f"(exit {proc.returncode}): {tail[0]}")
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, pdf_path)
    log.info("printed %s (%d bytes)", pdf_path, pdf_path.stat().st_size)
    return pdf_path
