"""Alerts: rules from the settings, the ops/alerts asset, ops.alerts, file and webhook sinks
(against local HTTP servers on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from alerts.rules import alert_id, evaluate_rule, evaluate_rules
from alerts.sinks import send_file, send_webhook
from orchestration.assets.alerts import alert_assets
from orchestration.resources import ReportsResource, WarehouseResource
from warehouse.settings import Rule, SettingsError, SinkConfig, parse_settings

DAY = date(2026, 3, 14)  # a Saturday
WEEK_AGO = DAY - timedelta(days=7)

DAU_RULE = {"name": "dau_drop", "kind": "change_vs_same_weekday",
            "table": "marts.engagement_daily", "metric": "dau", "per_creator": True,
            "max_drop": 0.25, "severity": "high"}
FALLBACK_RULE = {"name": "fallback_rate_high", "kind": "threshold", "table": "marts.nlu_daily",
                 "metric": "fallback_rate", "above": 0.3, "volume_column": "classifications",
                 "min_volume": 50, "severity": "medium"}
ERROR_RULE = {"name": "error_rate_high", "kind": "threshold", "table": "raw.load_audit",
              "metric": "reject_rate", "above": 0.05, "volume_column": "lines_read",
              "min_volume": 100, "severity": "high"}
ANOMALY_RULE = {"name": "anomalies", "kind": "anomaly", "table": "ml.metric_anomalies",
                "min_severity": "high"}
MISSING_RULE = {"name": "not_built_yet", "kind": "threshold", "table": "marts.nothing_here",
                "metric": "x", "above": 1}


# --- pure rules ---------------------------------------------------------------------------


def _engagement(rows: list[tuple[date, str, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "creator_id", "dau"])


def test_change_rule_fires_on_a_drop_over_the_bound_only() -> None:
    rule = Rule.model_validate(DAU_RULE)
    frame = _engagement([
        (WEEK_AGO, "__all__", 200), (DAY, "__all__", 190),  # -5%: quiet
        (WEEK_AGO, "c1", 100), (DAY, "c1", 60),  # -40%: fires
        (WEEK_AGO, "c2", 100), (DAY, "c2", 75),  # exactly -25%: quiet (more than 25%)
        (WEEK_AGO, "c3", 0), (DAY, "c3", 0),  # no baseline: quiet
        (DAY, "c4", 5),  # no row a week earlier: quiet
    ])
    alerts = evaluate_rule(rule, frame)
    assert [(a.creator_id, a.value, a.threshold) for a in alerts] == [("c1", 60.0, 0.25)]
    a = alerts[0]
    assert a.date == DAY and a.severity == "high" and a.metric == "dau"
    assert "60" in a.message and "100" in a.message and "40.0%" in a.message
    assert "25.0%" in a.message and WEEK_AGO.isoformat() in a.message
    assert a.alert_id == alert_id("dau_drop", DAY, "c1", "dau")


def test_change_rule_only_all_creators_unless_per_creator() -> None:
    rule = Rule.model_validate({**DAU_RULE, "per_creator": False})
    frame = _engagement([(WEEK_AGO, "__all__", 200), (DAY, "__all__", 100),
                         (WEEK_AGO, "c1", 100), (DAY, "c1", 10)])
    assert [a.creator_id for a in evaluate_rule(rule, frame)] == ["__all__"]
    with_baseline = Rule.model_validate({**DAU_RULE, "min_baseline": 150})
    assert [a.creator_id for a in evaluate_rule(with_baseline, frame)] == ["__all__"]


def test_threshold_rule_latest_date_volume_guard_and_below() -> None:
    rule = Rule.model_validate(FALLBACK_RULE)
    frame = pd.DataFrame({
        "date": [DAY - timedelta(days=1), DAY, DAY],
        "classifications": [500, 400, 10],
        "fallback_rate": [0.9, 0.42, 0.99],
    })
    # yesterday's 0.9 is not the latest date; 0.99 is over only 10 classifications
    frame = frame.iloc[[0, 1]]
    alerts = evaluate_rule(rule, frame)
    assert len(alerts) == 1
    assert alerts[0].value == pytest.approx(0.42) and alerts[0].creator_id == "__all__"
    assert "0.42" in alerts[0].message and "0.3" in alerts[0].message
    small = pd.DataFrame({"date": [DAY], "classifications": [10], "fallback_rate": [0.99]})
    assert evaluate_rule(rule, small) == []
    below = Rule.model_validate({"name": "low", "kind": "threshold", "table": "marts.nlu_daily",
                        "metric": "mean_confidence", "below": 0.5})
    frame = pd.DataFrame({"date": [DAY], "mean_confidence": [0.4]})
    assert [a.threshold for a in evaluate_rule(below, frame)] == [0.5]


def test_anomaly_rule_filters_by_severity_on_the_latest_date() -> None:
    rule = Rule.model_validate(ANOMALY_RULE)
    frame = pd.DataFrame({
        "date": [DAY, DAY, DAY - timedelta(days=1)],
        "creator_id": ["c1", "c2", "c1"],
        "metric": ["dau", "sessions", "dau"],
        "value": [12.0, 80.0, 1.0],
        "expected": [50.0, 60.0, 50.0],
        "score": [6.1, 4.0, 9.0],
        "direction": ["down", "up", "down"],
        "severity": ["high", "medium", "high"],
    })
    alerts = evaluate_rule(rule, frame)
    assert [(a.creator_id, a.metric, a.severity) for a in alerts] == [("c1", "dau", "high")]
    assert "12" in alerts[0].message and "50" in alerts[0].message
    assert "lower" in alerts[0].message
    medium = Rule.model_validate({**ANOMALY_RULE, "min_severity": "medium"})
    assert len(evaluate_rule(medium, frame)) == 2


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({**DAU_RULE, "kind": "percentile"}, r"kind` = .percentile.: expected one of"),
        ({**DAU_RULE, "max_drop": None}, "max_drop > 0"),
        ({**FALLBACK_RULE, "above": None}, "above and/or below"),
        ({**FALLBACK_RULE, "table": "nlu_daily"}, "schema.table"),
        ({**FALLBACK_RULE, "metric": "x; drop table y"}, "column name"),
        ({**FALLBACK_RULE, "above": "high"}, "expected a number"),
        ({**FALLBACK_RULE, "colour": "red"}, "unknown setting"),
    ],
)
def test_invalid_rules_are_refused_with_the_rule_named(rule: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        parse_settings({"alerts": {"rules": [rule]}})
    assert "alerts.rules[0]" in str(info.value)


def parse_alert_settings(raw: dict, reports_root: Path):
    """The alerts section as the settings layer parses it, sinks placed under the root."""
    return parse_settings({"alerts": raw}).alerts.placed(reports_root)


def test_sink_settings(tmp_path: Path) -> None:
    cfg = parse_alert_settings(
        {"sinks": [{"type": "file"}, {"type": "webhook", "url": "http://127.0.0.1:9/x"}]},
        tmp_path)
    assert cfg.sinks[0].path == (tmp_path / "alerts" / "alerts.jsonl").resolve()
    assert cfg.sinks[1].timeout_s == 5.0
    with pytest.raises(ValueError, match="http"):
        parse_alert_settings({"sinks": [{"type": "webhook", "url": "file:///etc/passwd"}]},
                             tmp_path)
    with pytest.raises(ValueError, match="unique"):
        parse_alert_settings({"sinks": [{"type": "file"}, {"type": "file"}]}, tmp_path)


def test_the_shipped_settings_parse() -> None:
    from warehouse.settings import DEFAULT_SETTINGS_FILE

    raw = yaml.safe_load(DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8"))
    cfg = parse_settings(raw).alerts
    assert {r.name for r in cfg.rules} >= {"dau_drop", "fallback_rate_high",
                                            "error_rate_high", "anomalies"}


# --- local HTTP servers -------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    status = 200
    delay = 0.0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(json.loads(body))  # type: ignore[attr-defined]
        if self.delay:
            time.sleep(self.delay)
        try:
            self.send_response(self.status)
            self.end_headers()
            self.wfile.write(b"{}")
        except BrokenPipeError:  # the client gave up (timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(status: int = 200, delay: float = 0.0) -> tuple[HTTPServer, threading.Thread]:
    handler = type("Handler", (_Recorder,), {"status": status, "delay": delay})
    cls = ThreadingHTTPServer if delay else HTTPServer
    server = cls(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def servers() -> Iterator[dict[str, HTTPServer]]:
    ok, t1 = _serve(200)
    broken, t2 = _serve(500)
    yield {"ok": ok, "broken": broken}
    for server, thread in ((ok, t1), (broken, t2)):
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _url(server: HTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/hook"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_webhook_sink_reports_500_refused_and_timeout(servers: dict[str, HTTPServer]) -> None:
    alert = {"alert_id": "a1", "message": "m"}
    sent = send_webhook(SinkConfig(type="webhook", name="ok", url=_url(servers["ok"])), alert)
    assert sent["status"] == "sent" and servers["ok"].received == [alert]
    failed = send_webhook(SinkConfig(type="webhook", name="b", url=_url(servers["broken"])), alert)
    assert failed["status"] == "failed" and "500" in failed["error"]
    refused = send_webhook(
        SinkConfig(type="webhook", name="r", url=f"http://127.0.0.1:{_closed_port()}/x"), alert)
    assert refused["status"] == "failed"
    slow, thread = _serve(200, delay=2.0)
    try:
        started = time.monotonic()
        timed_out = send_webhook(
            SinkConfig(type="webhook", name="s", url=_url(slow), timeout_s=0.3), alert)
        assert timed_out["status"] == "failed" and time.monotonic() - started < 1.5
    finally:
        slow.shutdown()
        slow.server_close()
        thread.join(timeout=5)


def test_file_sink_appends_json_lines_mode_0640(tmp_path: Path) -> None:
    sink = SinkConfig(type="file", name="file", path=tmp_path / "a" / "alerts.jsonl")
    assert send_file(sink, [{"alert_id": "1"}])["status"] == "sent"
    assert send_file(sink, [{"alert_id": "2"}])["status"] == "sent"
    lines = (tmp_path / "a" / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(x)["alert_id"] for x in lines] == ["1", "2"]
    assert stat.S_IMODE((tmp_path / "a" / "alerts.jsonl").stat().st_mode) == 0o640
    (tmp_path / "blocked").write_text("a file where a folder should be")
    bad = SinkConfig(type="file", name="file", path=tmp_path / "blocked" / "alerts.jsonl")
    assert send_file(bad, [{"alert_id": "3"}])["status"] == "failed"


# --- the asset ----------------------------------------------------------------------------


def _warehouse(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA ml; CREATE SCHEMA raw")
    con.execute("CREATE TABLE marts.engagement_daily (date DATE, creator_id VARCHAR, "
                "dau BIGINT, wau BIGINT)")
    con.executemany("INSERT INTO marts.engagement_daily VALUES (?, ?, ?, ?)", [
        [WEEK_AGO, "__all__", 300, 900], [DAY, "__all__", 280, 880],
        [WEEK_AGO, "c1", 100, 300], [DAY, "c1", 50, 250],
        [WEEK_AGO, "c2", 200, 600], [DAY, "c2", 230, 630],
    ])
    con.execute("CREATE TABLE marts.nlu_daily (date DATE, classifications BIGINT, "
                "mean_confidence DOUBLE, low_confidence_rate DOUBLE, fallback_rate DOUBLE)")
    con.execute("INSERT INTO marts.nlu_daily VALUES (?, 400, 0.8, 0.2, 0.35)", [DAY])
    con.execute("CREATE TABLE ml.metric_anomalies (date DATE, creator_id VARCHAR, "
                "metric VARCHAR, value DOUBLE, expected DOUBLE, score DOUBLE, "
                "direction VARCHAR, severity VARCHAR)")
    con.execute("INSERT INTO ml.metric_anomalies VALUES "
                "(?, 'c1', 'sessions', 20, 90, 7.5, 'down', 'high'), "
                "(?, 'c2', 'sessions', 99, 90, 1.2, 'up', 'low')", [DAY, DAY])
    con.close()


def _load_audit(path: Path) -> None:
    """Two entities on the latest export day: 60 + 10 rejected of 1000 lines (7%); an
    older, superseded load of events with many rejects does not count."""
    con = duckdb.connect(str(path))
    rows = [
        ("old", "events", DAY, 1000, 900, "2026-03-15 01:00:00"),
        ("l1", "events", DAY, 800, 60, "2026-03-15 02:00:00"),
        ("l2", "users", DAY, 200, 10, "2026-03-15 02:00:00"),
        ("l0", "events", WEEK_AGO, 800, 0, "2026-03-08 02:00:00"),
    ]
    for load_id, entity, day, read, rejected, finished in rows:
        con.execute(
            "INSERT INTO raw.load_audit VALUES (?, 'r', ?, ?, 'f', 'ndjson', 1, 0, 'loaded', "
            "NULL, ?, 0, ?, ?, 0, ?, ?)",
            [load_id, entity, day, read, read - rejected, rejected, finished, finished])
    con.close()


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alerts: dict) -> None:
    from warehouse.settings import DEFAULT_SETTINGS_FILE

    raw = yaml.safe_load(DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8"))
    raw["alerts"] = alerts
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setenv("INSIGHTS_SETTINGS", str(path))


def _materialize(tmp_path: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        alert_assets,
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
            "reports": ReportsResource(path=str(tmp_path / "reports")),
        },
        raise_on_error=False,
    )


def _alerts(tmp_path: Path) -> list[dict[str, Any]]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        cur = con.execute("SELECT * FROM ops.alerts ORDER BY rule, creator_id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def _evaluations(tmp_path: Path) -> dict[str, tuple[str, str]]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT rule, status, note FROM ops.alert_evaluations").fetchall()
    finally:
        con.close()
    return {r: (s, n) for r, s, n in rows}


def test_asset_writes_alerts_sends_them_once_and_survives_a_failing_sink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: dict[str, HTTPServer]
) -> None:
    _warehouse(tmp_path / "warehouse.duckdb")
    _settings(tmp_path, monkeypatch, {
        "rules": [DAU_RULE, FALLBACK_RULE, ANOMALY_RULE, ERROR_RULE, MISSING_RULE],
        "sinks": [
            {"type": "file"},
            {"type": "webhook", "name": "hook", "url": _url(servers["ok"]), "timeout_s": 2},
            {"type": "webhook", "name": "broken_hook", "url": _url(servers["broken"]),
             "timeout_s": 2},
        ],
    })
    result = _materialize(tmp_path)
    assert result.success

    alerts = _alerts(tmp_path)
    assert [(a["rule"], a["creator_id"], a["metric"]) for a in alerts] == [
        ("anomalies", "c1", "sessions"),
        ("dau_drop", "c1", "dau"),
        ("fallback_rate_high", "__all__", "fallback_rate"),
    ]
    dau = alerts[1]
    assert dau["value"] == 50 and dau["threshold"] == 0.25 and dau["severity"] == "high"
    assert "down 50.0% from 100" in dau["message"]
    assert dau["date"] == DAY and dau["run_id"] == result.run_id
    status = json.loads(dau["sink_status"])
    assert status["file"]["status"] == "sent" and status["hook"]["status"] == "sent"
    assert status["broken_hook"]["status"] == "failed" and "500" in status["broken_hook"]["error"]

    # the webhook got each alert as JSON; the file holds them as JSON lines (mode 0640)
    assert sorted(p["rule"] for p in servers["ok"].received) == [
        "anomalies", "dau_drop", "fallback_rate_high"]
    assert {p["alert_id"] for p in servers["ok"].received} == {a["alert_id"] for a in alerts}
    jsonl = tmp_path / "reports" / "alerts" / "alerts.jsonl"
    assert len(jsonl.read_text().splitlines()) == 3
    assert stat.S_IMODE(jsonl.stat().st_mode) == 0o640

    # skipped rules are recorded, never a crash: a missing table, an empty load audit
    evaluations = _evaluations(tmp_path)
    assert evaluations["not_built_yet"][0] == "skipped"
    assert "marts.nothing_here" in evaluations["not_built_yet"][1]
    assert evaluations["error_rate_high"] == ("skipped", "table raw.load_audit has no rows")
    assert evaluations["dau_drop"][0] == "fired"

    # a rerun: no duplicate, nothing re-sent to sinks that got it; the failed one retried
    rerun = _materialize(tmp_path)
    assert rerun.success
    again = _alerts(tmp_path)
    assert [a["alert_id"] for a in again] == [a["alert_id"] for a in alerts]
    assert [a["fired_at"] for a in again] == [a["fired_at"] for a in alerts]
    assert len(servers["ok"].received) == 3
    assert len(jsonl.read_text().splitlines()) == 3
    assert len(servers["broken"].received) == 6
    meta = rerun.asset_materializations_for_node("ops__alerts")[0].metadata
    assert meta["alerts"].value == 3 and meta["send_failures"].value == 3


def test_error_rate_from_the_load_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    _warehouse(warehouse)
    with WarehouseResource(path=str(warehouse)).writer() as con:  # creates raw.load_audit
        con.execute("SELECT 1")
    _load_audit(warehouse)
    _settings(tmp_path, monkeypatch, {"rules": [ERROR_RULE], "sinks": []})
    assert _materialize(tmp_path).success
    (alert,) = _alerts(tmp_path)
    assert alert["rule"] == "error_rate_high" and alert["date"] == DAY
    assert alert["value"] == pytest.approx(70 / 1000)
    assert "7.0%" in alert["message"] and "1,000 lines_read" in alert["message"]
    assert json.loads(alert["sink_status"]) == {}


def test_no_tables_at_all_is_not_a_failure(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(tmp_path, monkeypatch, {"rules": [DAU_RULE, ANOMALY_RULE], "sinks": []})
    assert _materialize(tmp_path).success
    assert _alerts(tmp_path) == []
    assert {s for s, _ in _evaluations(tmp_path).values()} == {"skipped"}


def test_invalid_settings_fail_the_asset_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(tmp_path, monkeypatch, {"rules": [{**DAU_RULE, "kind": "nope"}]})
    result = _materialize(tmp_path)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "`alerts.rules[0] (dau_drop).kind` = 'nope'" in str(failure.step_failure_data.error)


def test_evaluate_rules_records_a_broken_query_as_an_error(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.nlu_daily (date VARCHAR, fallback_rate DOUBLE)")
    con.execute("INSERT INTO marts.nlu_daily VALUES ('not a date', 0.9)")
    outcomes = evaluate_rules(con, [Rule.model_validate({**FALLBACK_RULE, "volume_column": None}),
                                    Rule.model_validate(DAU_RULE)])
    assert [o.status for o in outcomes] == ["error", "skipped"]


def test_an_unreachable_webhook_is_tried_once_per_run() -> None:
    from alerts.sinks import deliver

    calls: list[str] = []

    def refuse(sink: SinkConfig, payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(payload["alert_id"])
        return {"status": "failed", "error": "URLError: [Errno 111] Connection refused"}

    sink = SinkConfig(type="webhook", name="hook", url="http://127.0.0.1:9/x")
    pending = [({"alert_id": str(i)}, {"hook"}) for i in range(3)]
    results = deliver([sink], pending, send_one=refuse)
    assert calls == ["0"]
    assert [r["hook"]["status"] for r in results] == ["failed"] * 3
    assert "not tried" in results[2]["hook"]["error"]
