"""The e-mail alert sink against a real SMTP conversation: a small SMTP server on
127.0.0.1 started by the test (EHLO, AUTH PLAIN, MAIL, RCPT, DATA), which records what
it received; and the failures a sink must survive (refused connection, rejected login,
missing password)."""

from __future__ import annotations

import base64
import email
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from alerts.sinks import deliver, send_email
from warehouse.settings import SettingsError, SinkConfig, parse_settings


@dataclass
class Received:
    auth: list[str] = field(default_factory=list)
    mail_from: list[str] = field(default_factory=list)
    rcpt_to: list[str] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: one session, any number of messages."""

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        got: Received = self.server.received  # type: ignore[attr-defined]
        password = self.server.password  # type: ignore[attr-defined]
        self._say("220 localhost test SMTP")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode().rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-localhost\r\n250 AUTH PLAIN\r\n")
            elif verb == "AUTH":
                _, user, secret = base64.b64decode(line.split()[-1]).split(b"\0")
                got.auth.append(user.decode())
                self._say("235 ok" if secret.decode() == password else "535 bad login")
            elif verb == "MAIL":
                got.mail_from.append(line.split(":", 1)[1].strip("<> "))
                self._say("250 ok")
            elif verb == "RCPT":
                got.rcpt_to.append(line.split(":", 1)[1].strip("<> "))
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 end with .")
                body = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    body += chunk
                got.messages.append(body)
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Received]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.daemon_threads = True
    server.received = Received()  # type: ignore[attr-defined]
    server.password = "s3cret"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def _sink(port: int, **extra) -> SinkConfig:
    return SinkConfig.model_validate({
        "type": "email", "name": "ops-mail", "smtp_host": "127.0.0.1", "smtp_port": port,
        "sender": "insights@example.org", "to": ["ops@example.org", "pm@example.org"],
        "timeout_s": 5, **extra})


ALERTS = [
    {"alert_id": "a1", "rule": "dau_drop", "severity": "medium", "date": "2026-02-26",
     "creator_id": "__all__", "metric": "dau", "value": 120, "threshold": 0.25,
     "message": "DAU 120 vs 180 a week ago. Report: reports/daily/2026-02-26/overall.html"},
    {"alert_id": "a2", "rule": "revenue_drop", "severity": "high", "date": "2026-02-26",
     "creator_id": "cr_001", "metric": "net_revenue", "value": 3, "threshold": 0.5,
     "message": "Net revenue 3 vs 9 expected."},
]


def test_one_message_lists_every_alert_worst_first(smtp_server) -> None:
    port, got = smtp_server
    results = deliver([_sink(port)], [(a, {"ops-mail"}) for a in ALERTS])
    assert [r["ops-mail"]["status"] for r in results] == ["sent", "sent"]
    assert got.mail_from == ["insights@example.org"]
    assert got.rcpt_to == ["ops@example.org", "pm@example.org"]
    assert len(got.messages) == 1  # one message for the run, not one per alert
    msg = email.message_from_bytes(got.messages[0])
    assert msg["Subject"] == "[insights] high: revenue_drop on 2026-02-26 (+1 more)"
    body = msg.get_payload(decode=True).decode()
    assert body.index("revenue_drop") < body.index("dau_drop")
    assert "Report: reports/daily/2026-02-26/overall.html" in body and "alert id a1" in body


def test_login_with_the_password_from_the_environment(smtp_server) -> None:
    port, got = smtp_server
    sink = _sink(port, username="alerts", password_env="INSIGHTS_SMTP_PASSWORD")
    assert send_email(sink, ALERTS[:1], "s3cret")["status"] == "sent"
    assert got.auth == ["alerts"]
    wrong = send_email(sink, ALERTS[:1], "guess")
    assert wrong["status"] == "failed" and "535" in wrong["error"]
    unset = send_email(sink, ALERTS[:1], None)
    assert unset == {**unset, "status": "failed"}
    assert "INSIGHTS_SMTP_PASSWORD is not set" in unset["error"]
    assert len(got.messages) == 1


def test_a_refused_connection_is_a_failure_not_an_exception() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = send_email(_sink(port), ALERTS)
    assert result["status"] == "failed" and "ConnectionRefusedError" in result["error"]


@pytest.mark.parametrize(("sink", "message"), [
    ({"type": "email", "sender": "a@b.org", "to": ["c@d.org"]}, "needs smtp_host"),
    ({"type": "email", "smtp_host": "h", "sender": "a@b.org", "to": []}, "needs sender and to"),
    ({"type": "email", "smtp_host": "h", "sender": "a@b.org", "to": ["not-an-address"]},
     "not one: 'not-an-address'"),
    ({"type": "email", "smtp_host": "h", "sender": "a@b.org", "to": ["c@d.org"],
      "username": "u"}, "username needs password_env"),
])
def test_email_sink_settings_are_checked(sink: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_settings({"alerts": {"sinks": [sink]}})
