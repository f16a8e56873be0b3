"""Sinks: where fired alerts are sent. ``file`` appends JSON lines (file mode 0640);
``webhook`` POSTs one JSON document per alert with a timeout; ``email`` sends one plain
text message per run listing its alerts through an SMTP server. A sink never raises:
each send returns a status dict (``sent`` or ``failed`` with the error) that is stored
in ``ops.alerts.sink_status``."""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
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


def email_message(sink: SinkConfig, payloads: list[dict[str, Any]]) -> EmailMessage:
    """One plain-text message listing the alerts, most severe first: the subject names
    how many and the worst; each alert gives its severity, rule, date, creator, metric,
    value against its threshold and its message (with the evidence and report link)."""
    rank = {"high": 0, "medium": 1, "low": 2}
    ordered = sorted(payloads, key=lambda p: (rank.get(str(p.get("severity")), 3),
                                              str(p.get("rule"))))
    worst = ordered[0]
    more = f" (+{len(ordered) - 1} more)" if len(ordered) > 1 else ""
    msg = EmailMessage()
    msg["Subject"] = (f"[insights] {worst.get('severity')}: {worst.get('rule')} on "
                      f"{worst.get('date')}{more}")
    msg["From"] = sink.sender or ""
    msg["To"] = ", ".join(sink.to)
    lines = [f"{len(ordered)} alert(s) fired:", ""]
    for p in ordered:
        lines += [f"[{p.get('severity')}] {p.get('rule')} - {p.get('date')} - "
                  f"creator {p.get('creator_id')}",
                  f"  {p.get('metric')} = {p.get('value')} (threshold {p.get('threshold')})",
                  f"  {p.get('message')}", f"  alert id {p.get('alert_id')}", ""]
    msg.set_content("\n".join(lines))
    return msg


def send_email(sink: SinkConfig, payloads: list[dict[str, Any]],
               password: str | None = None) -> SendResult:
    """Send the alerts as one message; a refused connection, a rejected login or
    recipient, or a timeout is a failure (logged, returned), never an exception."""
    assert sink.smtp_host is not None
    if sink.username and password is None:
        return _failed(f"no password: the environment variable {sink.password_env} is not set")
    try:
        with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=sink.timeout_s) as smtp:
            if sink.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if sink.username:
                smtp.login(sink.username, password or "")
            refused = smtp.send_message(email_message(sink, payloads))
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("alert sink %s (%s:%s) failed: %s", sink.name, sink.smtp_host,
                    sink.smtp_port, exc)
        return _failed(f"{type(exc).__name__}: {exc}")
    if refused:
        return _failed(f"recipients refused: {', '.join(sorted(refused))}")
    return {**_ok(), "recipients": len(sink.to)}


def deliver(
    sinks: tuple[SinkConfig, ...] | list[SinkConfig],
    pending: list[tuple[dict[str, Any], set[str]]],
    send_one: Callable[[SinkConfig, dict[str, Any]], SendResult] = send_webhook,
    passwords: Mapping[str, str] | None = None,
) -> list[dict[str, SendResult]]:
    """Send each payload to the sinks named in its set (those it has not reached yet);
    an email sink gets one message for all of them (``passwords`` by sink name, read
    from the environment by the caller). Returns, per payload, the results by sink name.
    A webhook that cannot be reached (refused, timeout) is not tried again for the other
    alerts of the same call."""
    results: list[dict[str, SendResult]] = [{} for _ in pending]
    for sink in sinks:
        todo = [i for i, (_, names) in enumerate(pending) if sink.name in names]
        if not todo:
            continue
        if sink.type in ("file", "email"):
            batch = [pending[i][0] for i in todo]
            result = (send_file(sink, batch) if sink.type == "file" else
                      send_email(sink, batch, (passwords or {}).get(sink.name)))
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
