"""The ``alerts:`` section of the settings, parsed into frozen dataclasses (pure).

A rule reads one table on its latest date (the max of its ``date`` column)::

    {name: dau_drop, kind: change_vs_same_weekday, table: marts.engagement_daily,
     metric: dau, per_creator: true, max_drop: 0.25, severity: high}
    {name: fallback_rate_high, kind: threshold, table: marts.nlu_daily,
     metric: fallback_rate, above: 0.3, severity: medium}
    {name: anomalies, kind: anomaly, table: ml.metric_anomalies, min_severity: high}

Sinks: ``{type: file, path: ...}`` (JSON lines) and ``{type: webhook, url: ..., timeout_s: 5}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

KINDS = ("threshold", "change_vs_same_weekday", "anomaly")
SEVERITIES = ("low", "medium", "high")
SINK_TYPES = ("file", "webhook")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")

RULE_KEYS = {
    "name", "kind", "table", "metric", "per_creator", "severity", "above", "below",
    "max_drop", "min_baseline", "volume_column", "min_volume", "min_severity", "description",
}
SINK_KEYS = {"type", "name", "path", "url", "timeout_s", "headers"}


def severity_rank(severity: str) -> int:
    """low=0 < medium=1 < high=2; unknown severities rank below low."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


@dataclass(frozen=True)
class Rule:
    """One alert rule. ``table`` is ``schema.table``; see the module docstring."""

    name: str
    kind: str
    table: str
    metric: str | None = None
    per_creator: bool = False  # every creator row (and '__all__'); else only '__all__'
    severity: str | None = None  # None: the anomaly's own severity (anomaly rules), else medium
    above: float | None = None  # threshold: fires when value > above
    below: float | None = None  # threshold: fires when value < below
    max_drop: float | None = None  # change: fires when (previous - latest) / previous > max_drop
    min_baseline: float = 0.0  # change: only when the previous value is at least this
    volume_column: str | None = None  # threshold: judged only on rows with volume >= min_volume
    min_volume: float = 0.0
    min_severity: str = "high"  # anomaly: the lowest anomaly severity that alerts
    description: str = ""

    @property
    def schema(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".", 1)[1]

    def alert_severity(self, found: str | None = None) -> str:
        return self.severity or found or "medium"


@dataclass(frozen=True)
class SinkConfig:
    """A sink: ``file`` (JSON lines at ``path``) or ``webhook`` (HTTP POST to ``url``)."""

    type: str
    name: str
    path: Path | None = None
    url: str | None = None
    timeout_s: float = 5.0
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AlertSettings:
    rules: tuple[Rule, ...] = ()
    sinks: tuple[SinkConfig, ...] = ()
    enabled: bool = True


def _float(raw: dict[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


def parse_rule(raw: dict[str, Any], index: int = 0) -> Rule:
    where = f"alerts.rules[{index}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a rule is a mapping, got {raw!r}")
    name = str(raw.get("name") or "")
    where = f"alerts.rules[{index}] ({name or 'unnamed'})"
    unknown = set(raw) - RULE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    if not _IDENT.match(name):
        raise ValueError(f"{where}: name must be letters, digits and underscores")
    kind = str(raw.get("kind") or "")
    if kind not in KINDS:
        raise ValueError(f"{where}: kind must be one of {list(KINDS)}, got {kind!r}")
    table = str(raw.get("table") or ("ml.metric_anomalies" if kind == "anomaly" else ""))
    if not _TABLE.match(table):
        raise ValueError(f"{where}: table must be schema.table, got {table!r}")
    metric = raw.get("metric")
    for key in ("metric", "volume_column"):
        if raw.get(key) is not None and not _IDENT.match(str(raw[key])):
            raise ValueError(f"{where}: {key} must be a column name, got {raw[key]!r}")
    severity = raw.get("severity")
    if severity is not None and severity not in SEVERITIES:
        raise ValueError(f"{where}: severity must be one of {list(SEVERITIES)}")
    min_severity = str(raw.get("min_severity") or "high")
    if min_severity not in SEVERITIES:
        raise ValueError(f"{where}: min_severity must be one of {list(SEVERITIES)}")
    rule = Rule(
        name=name,
        kind=kind,
        table=table,
        metric=str(metric) if metric is not None else None,
        per_creator=bool(raw.get("per_creator", kind == "anomaly")),
        severity=severity,
        above=_float(raw, "above", where),
        below=_float(raw, "below", where),
        max_drop=_float(raw, "max_drop", where),
        min_baseline=_float(raw, "min_baseline", where) or 0.0,
        volume_column=str(raw["volume_column"]) if raw.get("volume_column") else None,
        min_volume=_float(raw, "min_volume", where) or 0.0,
        min_severity=min_severity,
        description=str(raw.get("description") or ""),
    )
    if kind in ("threshold", "change_vs_same_weekday") and not rule.metric:
        raise ValueError(f"{where}: a {kind} rule needs a metric")
    if kind == "threshold" and rule.above is None and rule.below is None:
        raise ValueError(f"{where}: a threshold rule needs above and/or below")
    if kind == "change_vs_same_weekday" and (rule.max_drop is None or rule.max_drop <= 0):
        raise ValueError(f"{where}: a change_vs_same_weekday rule needs max_drop > 0")
    return rule


def parse_sink(raw: dict[str, Any], index: int, reports_root: Path) -> SinkConfig:
    where = f"alerts.sinks[{index}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a sink is a mapping, got {raw!r}")
    unknown = set(raw) - SINK_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    kind = str(raw.get("type") or "")
    if kind not in SINK_TYPES:
        raise ValueError(f"{where}: type must be one of {list(SINK_TYPES)}, got {kind!r}")
    name = str(raw.get("name") or kind)
    timeout = _float(raw, "timeout_s", where)
    if timeout is not None and timeout <= 0:
        raise ValueError(f"{where}: timeout_s must be > 0")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise ValueError(f"{where}: headers must be a mapping")
    if kind == "file":
        path = Path(str(raw["path"])).expanduser() if raw.get("path") else (
            reports_root / "alerts" / "alerts.jsonl")
        return SinkConfig(type=kind, name=name, path=path.resolve())
    url = str(raw.get("url") or "")
    if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
        raise ValueError(f"{where}: url must be an http(s) URL, got {url!r}")
    return SinkConfig(
        type=kind,
        name=name,
        url=url,
        timeout_s=timeout if timeout is not None else 5.0,
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
    )


def parse_alert_settings(raw: dict[str, Any] | None, reports_root: Path) -> AlertSettings:
    """The ``alerts:`` section (a plain dict) as frozen dataclasses; ValueError names the
    offending rule or sink. ``reports_root`` places the default file sink."""
    raw = dict(raw or {})
    unknown = set(raw) - {"rules", "sinks", "enabled"}
    if unknown:
        raise ValueError(f"alerts: unknown keys {sorted(unknown)}")
    rules = tuple(parse_rule(r, i) for i, r in enumerate(raw.get("rules") or []))
    names = [r.name for r in rules]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"alerts.rules: duplicate rule names {duplicated}")
    sinks = tuple(parse_sink(s, i, reports_root) for i, s in enumerate(raw.get("sinks") or []))
    sink_names = [s.name for s in sinks]
    if len(set(sink_names)) != len(sink_names):
        raise ValueError(f"alerts.sinks: sink names must be unique (set name:), got {sink_names}")
    return AlertSettings(rules=rules, sinks=sinks, enabled=bool(raw.get("enabled", True)))
