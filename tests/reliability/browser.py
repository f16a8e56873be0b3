"""Headless Chromium for the report-safety tests: find it, or install Debian's once.

:func:`require_chromium` returns the path of a working Chromium, in this order:

1. ``$INSIGHTS_CHROMIUM`` (a path or a command name; set but not working is an error);
2. ``chromium``, ``chromium-browser`` or ``google-chrome`` on PATH;
3. when none is found, we are root, ``apt-get`` exists and ``INSIGHTS_TEST_INSTALL_BROWSER``
   is not ``0``: Debian's ``chromium`` package, installed once (logged, with a timeout);
4. otherwise the calling test is skipped with the reason.

The outcome (path or skip reason) is cached for the session, so a failed install is not
retried by every test. :func:`dump_dom` loads one page and returns the DOM after it ran.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prerequisites import missing

log = logging.getLogger(__name__)

ENV_BROWSER = "INSIGHTS_CHROMIUM"
ENV_INSTALL = "INSIGHTS_TEST_INSTALL_BROWSER"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_TIMEOUT_S = 900
VERSION_TIMEOUT_S = 60
# no sandbox (containers run as root), no GPU, no network beyond what the page asks for
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
)

_cache: dict[str, tuple[str | None, str]] = {}


def _works(binary: str) -> str | None:
    """``binary --version`` if it runs (a snap stub or broken install gives None)."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True,
                              timeout=VERSION_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("browser %s does not run: %s", binary, exc)
        return None
    if done.returncode != 0 or "chrom" not in done.stdout.lower():
        log.warning("browser %s --version failed (%s): %s", binary, done.returncode,
                    (done.stdout + done.stderr).strip()[-300:])
        return None
    return done.stdout.strip()


def _on_path() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found and _works(found):
            return found
    return None


def _say(message: str) -> None:
    """Log, and tell the terminal too: an install takes a minute and should not be silent."""
    log.warning(message)
    print(f"[tests/reliability/browser] {message}", file=sys.stderr, flush=True)


def _install() -> str | None:
    """Install Debian's chromium with apt-get; None when done, else why not."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    steps = [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
         "-o", "DPkg::Lock::Timeout=300", "chromium"],
    ]
    for cmd in steps:
        _say("running: " + " ".join(cmd))
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                  timeout=INSTALL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(cmd)}` did not finish in {INSTALL_TIMEOUT_S} s"
        except OSError as exc:
            return f"`{' '.join(cmd)}` could not start: {exc}"
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip()[-500:]
            return f"`{' '.join(cmd)}` exited with {done.returncode}: {tail}"
    return None


def _find() -> tuple[str | None, str]:
    configured = os.environ.get(ENV_BROWSER)
    if configured:
        binary = shutil.which(configured) or configured
        version = _works(binary)
        if not version:
            pytest.fail(f"{ENV_BROWSER}={configured!r} is not a working Chromium/Chrome")
        return binary, version
    found = _on_path()
    if found:
        return found, ""
    if os.environ.get(ENV_INSTALL, "1").strip() == "0":
        return None, (f"no Chromium found ({', '.join(CANDIDATES)} on PATH, or "
                      f"${ENV_BROWSER}) and {ENV_INSTALL}=0 forbids installing it")
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None, (f"no Chromium found ({', '.join(CANDIDATES)} on PATH, or "
                      f"${ENV_BROWSER}); not root, so it is not installed automatically "
                      "(apt-get install chromium, or set INSIGHTS_CHROMIUM)")
    if not shutil.which("apt-get"):
        return None, (f"no Chromium found ({', '.join(CANDIDATES)} on PATH, or "
                      f"${ENV_BROWSER}) and no apt-get to install it with")
    _say("no Chromium found: installing Debian's chromium package (once per session; "
         f"set {ENV_INSTALL}=0 to skip the browser tests instead)")
    why = _install()
    if why:
        return None, f"installing chromium failed: {why}"
    found = _on_path()
    if not found:
        return None, "chromium was installed but no working chromium is on PATH"
    _say(f"installed {found}")
    return found, ""


def require_chromium() -> str:
    """The path of a working Chromium; skips the calling test when there is none (fails
    it under CI: tests/prerequisites.py)."""
    if "result" not in _cache:
        _cache["result"] = _find()
    path, reason = _cache["result"]
    if path is None:
        missing(reason)
    return path


def dump_dom(binary: str, url: str, profile: Path, *, timeout_s: float = 90.0,
             virtual_time_ms: int = 1500) -> str:
    """The serialised DOM of ``url`` after loading it (scripts, handlers and timers given
    ``virtual_time_ms`` of virtual time to run), in a throwaway profile folder.

    Chromium runs in its own process group, killed (that group only) if it times out."""
    profile.mkdir(parents=True, exist_ok=True)
    cmd = [binary, *FLAGS, f"--user-data-dir={profile}",
           f"--virtual-time-budget={virtual_time_ms}", "--dump-dom", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        raise AssertionError(f"chromium did not finish loading {url} in {timeout_s} s"
                             ) from None
    if proc.returncode != 0:
        raise AssertionError(f"chromium exited with {proc.returncode} loading {url}: "
                             f"{err.decode('utf-8', 'replace')[-800:]}")
    return out.decode("utf-8")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
