"""Rule evaluation: pure functions over DataFrames (``evaluate_rule``), plus the SQL that
fetches each rule's rows from the warehouse (``fetch_rows``) and the loop over all rules
(``evaluate_rules``) that never raises for one rule's sake.

Every rule is judged on the latest date of its table (its max ``date``; an anomaly table
with an ``as_of_date``: that date, since it holds only the days that departed). A table
(or a column) that does not exist yet skips the rule with a note; a query that fails
records an error for that rule; neither stops the other rules.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from models_ml.metric_specs import format_value, spec
from warehouse.db import table_exists
from warehouse.settings import Rule, severity_rank

log = logging.getLogger(__name__)

ALL_CREATORS = "__all__"

# Tables that are not read as they are but through a daily view. raw.load_audit (one row
# per file per load) becomes the reject rate of each export day: over the latest load of
# every entity's export day, rejected lines / lines read (what an "error rate" of the
# platform's exports means here; the data-quality gate uses the same numbers per entity).
DERIVED_SOURCES: dict[str, str] = {
    "raw.load_audit": """
        WITH latest AS (
            SELECT entity, export_date, arg_max(load_id, finished_at) AS load_id
            FROM raw.load_audit GROUP BY ALL
        )
        SELECT a.export_date AS date, sum(a.records_read) AS lines_read,
               sum(a.rejected) AS rejected,
               sum(a.rejected) / nullif(sum(a.records_read), 0) AS reject_rate,
               count(*) FILTER (WHERE a.status = 'failed') AS failed_files
        FROM raw.load_audit AS a
        JOIN latest AS l USING (entity, export_date, load_id)
        GROUP BY ALL
    """,
}


@dataclass(frozen=True)
class Alert:
    """One fired alert (before it is stored: no fired_at, run_id or sink status)."""

    alert_id: str
    rule: str
    kind: str
    severity: str
    date: date
    creator_id: str
    metric: str
    value: float | None
    threshold: float | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "kind": self.kind,
            "severity": self.severity,
            "date": self.date.isoformat(),
            "creator_id": self.creator_id,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
        }


@dataclass
class RuleOutcome:
    """What one rule did in one evaluation: fired | ok | skipped | error."""

    rule: str
    status: str
    note: str = ""
    latest_date: date | None = None
    alerts: list[Alert] = field(default_factory=list)


def alert_id(rule: str, day: date, creator_id: str, metric: str) -> str:
    """Stable id: the same rule, date, creator and metric give the same id on every rerun."""
    key = "|".join([rule, day.isoformat(), creator_id, metric])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def fmt(value: float | None, metric: str = "") -> str:
    """A number for a message: rates also as a percentage."""
    if value is None:
        return "n/a"
    if float(value).is_integer() and abs(value) < 1e15:
        text = f"{int(value):,}"
    else:
        text = f"{value:,.4g}" if abs(value) >= 1 else f"{value:.3g}"
    if metric.endswith(("rate", "share")) and 0 <= value <= 1:
        text += f" ({value:.1%})"
    return text


def _who(creator_id: str) -> str:
    return "all creators" if creator_id == ALL_CREATORS else f"creator {creator_id}"


def _num(value: Any) -> float | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _as_date(value: Any) -> date:
    if isinstance(value, pd.Timestamp | datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _scope(rule: Rule, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the rule's scope: every creator row, or only the all-creators row."""
    frame = frame.copy()
    if "creator_id" not in frame.columns:
        frame["creator_id"] = ALL_CREATORS
    frame["creator_id"] = frame["creator_id"].fillna(ALL_CREATORS).astype(str)
    if not rule.per_creator:
        frame = frame[frame["creator_id"] == ALL_CREATORS]
    frame["date"] = frame["date"].map(_as_date)
    return frame


def evaluate_rule(rule: Rule, frame: pd.DataFrame) -> list[Alert]:
    """The alerts of one rule over rows of its table (pure). ``frame`` holds a ``date``
    column; the latest date in it is the one judged (change rules also need the rows of
    seven days earlier)."""
    if frame.empty:
        return []
    frame = _scope(rule, frame)
    if frame.empty:
        return []
    latest = max(frame["date"])
    if rule.kind == "threshold":
        return _threshold(rule, frame[frame["date"] == latest], latest)
    if rule.kind == "change_vs_same_weekday":
        return _change(rule, frame, latest)
    if rule.kind == "anomaly":
        return _anomaly(rule, frame[frame["date"] == latest], latest)
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def _threshold(rule: Rule, rows: pd.DataFrame, day: date) -> list[Alert]:
    metric = str(rule.metric)
    out = []
    for row in rows.to_dict("records"):
        value = _num(row.get(metric))
        if value is None:
            continue
        if rule.volume_column:
            volume = _num(row.get(rule.volume_column))
            if volume is None or volume < rule.min_volume:
                continue
        if rule.above is not None and value > rule.above:
            bound, side = rule.above, "above"
        elif rule.below is not None and value < rule.below:
            bound, side = rule.below, "below"
        else:
            continue
        creator = row["creator_id"]
        volume_text = (f" over {fmt(_num(row.get(rule.volume_column)))} {rule.volume_column}"
                       if rule.volume_column else "")
        message = (f"{metric} for {_who(creator)} on {day.isoformat()} was "
                   f"{fmt(value, metric)}{volume_text}, {side} the bound of "
                   f"{fmt(bound, metric)} (rule {rule.name}).")
        out.append(Alert(alert_id(rule.name, day, creator, metric), rule.name, rule.kind,
                         rule.alert_severity(), day, creator, metric, value, bound, message))
    return out


def _change(rule: Rule, frame: pd.DataFrame, day: date) -> list[Alert]:
    metric = str(rule.metric)
    max_drop = float(rule.max_drop or 0.0)
    week_ago = date.fromordinal(day.toordinal() - 7)
    before = {r["creator_id"]: _num(r.get(metric))
              for r in frame[frame["date"] == week_ago].to_dict("records")}
    out = []
    for row in frame[frame["date"] == day].to_dict("records"):
        creator = row["creator_id"]
        value, previous = _num(row.get(metric)), before.get(creator)
        if value is None or previous is None or previous <= 0 or previous < rule.min_baseline:
            continue
        drop = (previous - value) / previous
        if drop <= max_drop:
            continue
        message = (f"{metric} for {_who(creator)} on {day.isoformat()} ({day:%A}) was "
                   f"{fmt(value, metric)}, down {drop:.1%} from {fmt(previous, metric)} on "
                   f"{week_ago.isoformat()}, the same weekday a week earlier; the rule "
                   f"{rule.name} fires on a drop of more than {max_drop:.1%}.")
        out.append(Alert(alert_id(rule.name, day, creator, metric), rule.name, rule.kind,
                         rule.alert_severity(), day, creator, metric, value, max_drop, message))
    return out


def _shown(metric: str, x: float | None) -> str:
    return "n/a" if x is None else format_value(metric, x)


def _anomaly(rule: Rule, rows: pd.DataFrame, day: date) -> list[Alert]:
    out = []
    floor = severity_rank(rule.min_severity)
    for row in rows.to_dict("records"):
        found = str(row.get("severity") or "")
        metric = str(row.get("metric") or "")
        if severity_rank(found) < floor or (rule.metric and metric != rule.metric):
            continue
        if rule.metric_prefix and not metric.startswith(rule.metric_prefix):
            continue
        if rule.direction and str(row.get("direction") or "") != rule.direction:
            continue
        creator = row["creator_id"]
        value, expected = _num(row.get("value")), _num(row.get("expected"))
        score = _num(row.get("score"))
        direction = str(row.get("direction") or "")
        word = {"up": "higher", "down": "lower", "high": "higher", "low": "lower"}.get(
            direction, "different")
        cause = (" A rise of activity per active user: possible automated traffic (bots, "
                 "scripts, retries); see ml.user_behaviour_anomalies (is_burst)."
                 if spec(metric).automation_signal and direction == "up" else "")
        message = (f"Anomaly in {spec(metric).label} for {_who(creator)} on "
                   f"{day.isoformat()}: {_shown(metric, value)} against an expected "
                   f"{_shown(metric, expected)} "
                   f"({word} than expected, score {fmt(score)}, severity {found}; evidence: "
                   f"ml.metric_anomalies, metric {metric}).{cause}")
        out.append(Alert(alert_id(rule.name, day, creator, metric), rule.name, rule.kind,
                         rule.alert_severity(found), day, creator, metric, value, expected,
                         message))
    return out


# --- reading the warehouse ---------------------------------------------------------------


def fetch_rows(con: duckdb.DuckDBPyConnection, rule: Rule) -> tuple[pd.DataFrame | None, str]:
    """The rows a rule judges (latest date, and seven days earlier for change rules), or
    None and the reason the rule is skipped (missing table or column, no rows)."""
    if not table_exists(con, rule.schema_name, rule.table_name):
        return None, f"table {rule.table} does not exist (yet)"
    base = DERIVED_SOURCES.get(rule.table, f"SELECT * FROM {rule.schema_name}.{rule.table_name}")
    columns = [d[0] for d in con.execute(f"SELECT * FROM ({base}) LIMIT 0").description]
    needed = {"date"}
    if rule.kind == "anomaly":
        needed |= {"metric", "value", "severity"}
    else:
        needed.add(str(rule.metric))
    if rule.volume_column:
        needed.add(rule.volume_column)
    missing = sorted(needed - set(columns))
    if missing:
        return None, f"table {rule.table} has no column(s) {missing}"
    if rule.kind == "anomaly" and "as_of_date" in columns:
        # an anomaly table holds only the days that departed: judge its run's as-of date
        # (no row that day = nothing to alert), not the last day that departed
        frame = con.execute(
            f"""
            WITH src AS ({base}), latest AS (SELECT max(as_of_date) AS d FROM src)
            SELECT src.* FROM src, latest WHERE src.date = latest.d
            """
        ).df()
        return frame, ""
    frame = con.execute(
        f"""
        WITH src AS ({base}), latest AS (SELECT max(date) AS d FROM src)
        SELECT src.* FROM src, latest
        WHERE src.date = latest.d OR src.date = latest.d - 7
        """
    ).df()
    if frame.empty:
        return None, f"table {rule.table} has no rows"
    return frame, ""


def report_link(reports_root: Path, day: date, creator_id: str) -> str:
    """The daily report an alert points to (reports/daily/<date>/<overall|creator_x>.html)."""
    name = "overall" if creator_id == ALL_CREATORS else f"creator_{creator_id}"
    return (reports_root / "daily" / day.isoformat() / f"{name}.html").as_posix()


def with_report(alert: Alert, reports_root: Path | None) -> Alert:
    """The alert whose message ends with the link to its day's report."""
    if reports_root is None:
        return alert
    link = report_link(reports_root, alert.date, alert.creator_id)
    return replace(alert, message=f"{alert.message} Report: {link}")


def evaluate_rules(con: duckdb.DuckDBPyConnection, rules: list[Rule] | tuple[Rule, ...],
                   reports_root: Path | None = None) -> list[RuleOutcome]:
    """Every rule on its table's latest date; one rule's problem never stops the others.
    With ``reports_root``, every alert's message links the day's report."""
    outcomes = []
    for rule in rules:
        try:
            frame, note = fetch_rows(con, rule)
            if frame is None:
                log.info("alert rule %s skipped: %s", rule.name, note)
                outcomes.append(RuleOutcome(rule.name, "skipped", note))
                continue
            if frame.empty:  # an anomaly rule on a quiet as-of date
                outcomes.append(RuleOutcome(rule.name, "ok", "no anomaly on the as-of date"))
                continue
            alerts = [with_report(a, reports_root) for a in evaluate_rule(rule, frame)]
            latest = max(_as_date(d) for d in frame["date"])
        except (duckdb.Error, ValueError, KeyError, TypeError) as exc:
            log.error("alert rule %s failed: %s", rule.name, exc)
            outcomes.append(RuleOutcome(rule.name, "error", f"{type(exc).__name__}: {exc}"))
            continue
        status = "fired" if alerts else "ok"
        note = f"{len(alerts)} alert(s) on {latest.isoformat()}"
        outcomes.append(RuleOutcome(rule.name, status, note, latest, alerts))
    return outcomes
