"""Sinks: where fired alerts are sent. ``file`` appends JSON lines (file mode 0640);
``webhook`` POSTs one JSON document per alert with a timeout. A sink never raises: each
send returns a status dict (``sent`` or ``failed`` with the error) that is stored in
``ops.alerts.sink_status``."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from warehouse.settings import SinkConfig

log = logging.getLogger(__name__)

FILE_MODE = 0o640
USER_AGENT = "insights-warehouse-alerts/1"

SendResult = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _ok() -> SendResult:
    return {"status": "sent", "at": _now()}


def _failed(error: str) -> SendResult:
    return {"status": "failed", "at": _now(), "error": error[:500]}


def send_file(sink: SinkConfig, payloads: list[dict[str, Any]]) -> SendResult:
    """Append one JSON line per alert to the sink's file (created with mode 0640)."""
    assert sink.path is not None
    try:
        sink.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(sink.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            for payload in payloads:
                fh.write(json.dumps(payload, sort_keys=True, default=str) + "\n")
        os.chmod(sink.path, FILE_MODE)
    except OSError as exc:
        log.warning("alert sink %s (%s) failed: %s", sink.name, sink.path, exc)
        return _failed(f"{type(exc).__name__}: {exc}")
    return _ok()


def send_webhook(sink: SinkConfig, payload: dict[str, Any]) -> SendResult:
    """POST one alert as JSON; any HTTP status outside 2xx, a refused connection or a
    timeout is a failure (logged, returned), never an exception."""
    assert sink.url is not None
    body = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               **dict(sink.headers)}
    request = urllib.request.Request(sink.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=sink.timeout_s) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        error = f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        error = f"{type(exc).__name__}: {reason}"
    else:
        if 200 <= status < 300:
            return {**_ok(), "http_status": status}
        error = f"HTTP {status}"
    log.warning("alert sink %s (%s) failed for alert %s: %s", sink.name, sink.url,
                payload.get("alert_id"), error)
    return _failed(error)


def deliver(
    sinks: tuple[SinkConfig, ...] | list[SinkConfig],
    pending: list[tuple[dict[str, Any], set[str]]],
    send_one: Callable[[SinkConfig, dict[str, Any]], SendResult] = send_webhook,
) -> list[dict[str, SendResult]]:
    """Send each payload to the sinks named in its set (those it has not reached yet).
    Returns, per payload, the results by sink name. A webhook that cannot be reached
    (refused, timeout) is not tried again for the other alerts of the same call."""
    results: list[dict[str, SendResult]] = [{} for _ in pending]
    for sink in sinks:
        todo = [i for i, (_, names) in enumerate(pending) if sink.name in names]
        if not todo:
            continue
        if sink.type == "file":
            result = send_file(sink, [pending[i][0] for i in todo])
            for i in todo:
                results[i][sink.name] = dict(result)
        else:
            unreachable = ""
            for i in todo:
                if unreachable:  # do not wait out a timeout per alert on a dead endpoint
                    results[i][sink.name] = _failed(f"not tried: {unreachable}")
                    continue
                results[i][sink.name] = result = send_one(sink, pending[i][0])
                if result["status"] == "failed" and not result["error"].startswith("HTTP"):
                    unreachable = f"the endpoint failed earlier in this run ({result['error']})"
    return results
