"""A small Chrome DevTools Protocol client for the dashboard's browser test: headless
Chromium (tests/reliability/browser.py finds it) driven over its websocket, with the
console errors and uncaught exceptions of every page collected.

Only what the test needs: open a page, wait until a JavaScript condition holds, evaluate
JavaScript, take a full-height screenshot."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from tests.reliability.browser import FLAGS

_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class Browser:
    """Headless Chromium with one page; ``errors`` holds every console error and
    uncaught exception seen so far (text)."""

    def __init__(self, binary: str, profile: Path, width: int = 1400, height: int = 1000
                 ) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        url = self._devtools_url(time.monotonic() + 60)
        self.ws = connect(url, max_size=64 * 2**20, open_timeout=30)
        self._ids = itertools.count(1)
        self.errors: list[str] = []
        self.width = width
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width,
                  height=height, deviceScaleFactor=1, mobile=False)

    def _devtools_url(self, deadline: float) -> str:
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline().decode("utf-8", "replace")
            if not line and self.proc.poll() is not None:
                break
            found = _LISTENING.search(line)
            if found:
                return found.group(1)
        self.close()
        raise AssertionError("chromium did not open its DevTools websocket")

    def _event(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", "")))
                            for a in params.get("args", []))
            self.errors.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.errors.append("exception: " + str(
                d.get("exception", {}).get("description") or d.get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            e = params["entry"]
            self.errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}")

    def call(self, method: str, *, session: bool = False, timeout: float = 60,
             **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._event(reply)

    def pump(self, seconds: float) -> None:
        """Read events (console errors) for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._event(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return

    def js(self, expression: str) -> Any:
        out = self.call("Runtime.evaluate", session=True, expression=expression,
                        returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise AssertionError(f"{expression[:80]}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)

    def wait_for(self, expression: str, timeout: float = 60, stable: int = 3) -> Any:
        """Poll ``expression`` until it is truthy and returns the same value ``stable``
        times in a row (the page has stopped changing)."""
        deadline = time.monotonic() + timeout
        last, same = None, 0
        while time.monotonic() < deadline:
            value = self.js(expression)
            same = same + 1 if value and value == last else (1 if value else 0)
            last = value
            if same >= stable:
                return value
            self.pump(0.4)
        raise AssertionError(f"timed out waiting for {expression[:120]!r} (last {last!r})")

    def screenshot(self, path: Path, height: int) -> None:
        """A PNG of the page at ``height`` CSS pixels tall (the whole content)."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=self.width,
                  height=height, deviceScaleFactor=1, mobile=False)
        self.pump(1.0)
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=self.width,
                  height=1000, deviceScaleFactor=1, mobile=False)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
