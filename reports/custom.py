"""Custom analyses: an analyst's YAML file (SQL over the published marts, an optional
chart, a schedule) run on a read-only connection to the serving database and rendered
like a report section (HTML page with the chart and the table, plus a CSV).

File format (see analyses/README.md)::

    name: weekly_active_by_creator        # [a-z][a-z0-9_]*, unique; the asset name
    description: WAU per creator          # optional
    schedule: weekly                      # daily | weekly
    sql: select date, creator_id, wau from marts.engagement_daily order by date
    chart: {type: line, x: date, y: wau, series: creator_id}   # or bar; optional
    depends_on: [marts.engagement_daily]  # optional; marts.x / ml.x in the SQL are found too
    max_rows: 10000                       # optional row cap (at most 100,000)
    timeout_s: 300                        # optional: the query is interrupted after this

Charts are the reports' Vega-Lite specs (:mod:`reports.specs`), rendered offline to
inline SVG: the page stays script-free.

Safety: the serving database is opened ``read_only`` with ``enable_external_access``
off and the configuration locked, so the SQL can neither write the database nor read
or write files (COPY, ATTACH, read_csv) nor change those settings.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import yaml

from reports import specs
from reports.exports import write_bytes, write_csv
from reports.html import column_unit, esc, page, section, table
from warehouse.settings import DEFAULT_ANALYSES_MAX_ROWS, HARD_ANALYSES_MAX_ROWS

log = logging.getLogger(__name__)

SCHEDULES = ("daily", "weekly")
CHART_TYPES = ("line", "bar")
FILE_KEYS = {"name", "description", "schedule", "sql", "chart", "depends_on", "max_rows",
             "timeout_s"}
CHART_KEYS = {"type", "x", "y", "series", "title"}
DEFAULT_MAX_ROWS = DEFAULT_ANALYSES_MAX_ROWS
HARD_MAX_ROWS = HARD_ANALYSES_MAX_ROWS
DEFAULT_TIMEOUT_S = 300.0
HTML_ROWS = 500  # rows shown in the HTML table (the CSV holds all of them)
MAX_SERIES = 8  # lines drawn in a line chart (largest totals first)
MAX_BARS = 50

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
TABLE_RE = re.compile(r"^(marts|ml)\.[A-Za-z_][A-Za-z0-9_]*$")
SQL_TABLE_RE = re.compile(r"\b(marts|ml)\s*\.\s*\"?([A-Za-z_][A-Za-z0-9_]*)\"?", re.IGNORECASE)


class AnalysisError(ValueError):
    """An analysis file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class ChartSpec:
    type: str
    x: str
    y: str
    series: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class AnalysisSpec:
    name: str
    schedule: str
    sql: str
    source: Path
    description: str = ""
    chart: ChartSpec | None = None
    depends_on: tuple[str, ...] = ()
    max_rows: int = DEFAULT_MAX_ROWS
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def tables(self) -> tuple[str, ...]:
        """``schema.table`` of every mart or ml table it reads: depends_on plus those
        named in the SQL."""
        found = {f"{m.group(1).lower()}.{m.group(2)}" for m in SQL_TABLE_RE.finditer(self.sql)}
        return tuple(sorted(found | set(self.depends_on)))


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows than max_rows: the first max_rows are kept


def _chart(raw: Any, where: str) -> ChartSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise AnalysisError(f"{where}: chart must be a mapping like {{type: line, x: .., y: ..}}")
    unknown = set(raw) - CHART_KEYS
    if unknown:
        raise AnalysisError(f"{where}: unknown chart keys {sorted(unknown)}")
    kind = raw.get("type")
    if kind not in CHART_TYPES:
        raise AnalysisError(f"{where}: chart.type must be one of {list(CHART_TYPES)}, "
                            f"got {kind!r}")
    for key in ("x", "y"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise AnalysisError(f"{where}: chart.{key} must name a result column")
    series = raw.get("series")
    if series is not None and not isinstance(series, str):
        raise AnalysisError(f"{where}: chart.series must name a result column")
    title = raw.get("title")
    return ChartSpec(kind, raw["x"], raw["y"], series, str(title) if title else None)


def parse_analysis(raw: Any, source: Path,
                   default_max_rows: int = DEFAULT_MAX_ROWS) -> AnalysisSpec:
    """An analysis from its parsed YAML document; AnalysisError names the file.
    ``default_max_rows`` caps a file without ``max_rows`` (INSIGHTS_ANALYSES_MAX_ROWS)."""
    where = f"analysis file {source}"
    if not isinstance(raw, dict):
        raise AnalysisError(f"{where}: expected a mapping of name, schedule, sql, ...")
    unknown = set(raw) - FILE_KEYS
    if unknown:
        raise AnalysisError(f"{where}: unknown keys {sorted(unknown)} "
                            f"(allowed: {sorted(FILE_KEYS)})")
    missing = [k for k in ("name", "schedule", "sql") if not raw.get(k)]
    if missing:
        raise AnalysisError(f"{where}: missing {', '.join(missing)}")
    name = str(raw["name"])
    if not NAME_RE.match(name):
        raise AnalysisError(f"{where}: name {name!r} must match {NAME_RE.pattern}")
    schedule = str(raw["schedule"])
    if schedule not in SCHEDULES:
        raise AnalysisError(f"{where}: schedule must be one of {list(SCHEDULES)}, "
                            f"got {schedule!r}")
    if not isinstance(raw["sql"], str):
        raise AnalysisError(f"{where}: sql must be a string")
    depends_on = raw.get("depends_on") or []
    if not isinstance(depends_on, list) or not all(
        isinstance(t, str) and TABLE_RE.match(t) for t in depends_on
    ):
        raise AnalysisError(f"{where}: depends_on must be a list like [marts.engagement_daily]")
    max_rows = raw.get("max_rows", default_max_rows)
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not (
        1 <= max_rows <= HARD_MAX_ROWS
    ):
        raise AnalysisError(f"{where}: max_rows must be an integer in 1..{HARD_MAX_ROWS}")
    timeout = raw.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise AnalysisError(f"{where}: timeout_s must be a positive number")
    return AnalysisSpec(
        name=name,
        schedule=schedule,
        sql=raw["sql"].strip(),
        source=source,
        description=str(raw.get("description") or ""),
        chart=_chart(raw.get("chart"), where),
        depends_on=tuple(depends_on),
        max_rows=max_rows,
        timeout_s=float(timeout),
    )


def load_analysis(path: Path, default_max_rows: int = DEFAULT_MAX_ROWS) -> AnalysisSpec:
    """Read and validate one analysis file; AnalysisError (naming the file) otherwise."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise AnalysisError(f"analysis file {path}: cannot be read as YAML: {exc}") from exc
    return parse_analysis(raw, path, default_max_rows)


def connect_read_only(serving_file: Path, *, threads: int | None = None,
                      memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """The serving database, read-only, without file access, configuration locked."""
    config: dict[str, Any] = {"enable_external_access": False}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    config["lock_configuration"] = True
    return duckdb.connect(str(serving_file), read_only=True, config=config)


def run_query(serving_file: Path, sql: str, *, max_rows: int = DEFAULT_MAX_ROWS,
              timeout_s: float = DEFAULT_TIMEOUT_S, threads: int | None = None,
              memory_limit: str | None = None) -> QueryResult:
    """Run the analysis SQL read-only and keep at most ``max_rows`` rows. DuckDB has no
    statement timeout: the query is interrupted from a timer after ``timeout_s``.
    Raises duckdb.Error (an interrupted query raises duckdb.InterruptException)."""
    if not serving_file.exists():
        raise duckdb.IOException(f"serving database {serving_file} does not exist (yet)")
    con = connect_read_only(serving_file, threads=threads, memory_limit=memory_limit)
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        relation = con.sql(sql)
        if relation is None:
            raise duckdb.InvalidInputException(
                "the SQL returned no result (an analysis must end with a SELECT)")
        columns = list(relation.columns)
        rows = relation.limit(max_rows + 1).fetchall()
    finally:
        timer.cancel()
        con.close()
    return QueryResult(columns, rows[:max_rows], len(rows) > max_rows)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _column(result: QueryResult, name: str, spec: AnalysisSpec) -> int:
    if name not in result.columns:
        raise AnalysisError(f"analysis file {spec.source}: chart column {name!r} is not in "
                            f"the result (columns: {', '.join(result.columns)})")
    return result.columns.index(name)


def render_chart(spec: AnalysisSpec, result: QueryResult) -> str:
    """The chart of the analysis as inline SVG ('' without a chart spec): the Vega-Lite
    specs of the reports (reports/specs.py) rendered offline by vl-convert."""
    chart = spec.chart
    if chart is None:
        return ""
    x, y = _column(result, chart.x, spec), _column(result, chart.y, spec)
    title = chart.title or f"{chart.y} by {chart.x}"
    percent = column_unit(chart.y) == "rate"  # as the table shows it: a rate in percent
    if chart.type == "bar":
        rows = [r for r in result.rows if _number(r[y]) is not None][:MAX_BARS]
        if not rows:
            return f'<p class="nodata">no data to chart ({esc(title)})</p>'
        return _whole_title(title) + specs.to_svg(specs.bar_spec(
            specs.bar_frame([str(r[x]) for r in rows], [_number(r[y]) for r in rows]),
            title=title, x_title=chart.y, percent=percent,
            width=specs.WIDTH - specs.LABEL_LIMIT))
    s = _column(result, chart.series, spec) if chart.series else None
    series: dict[str, list[tuple[object, float | None]]] = {}
    for r in result.rows:
        key = str(r[s]) if s is not None else chart.y
        series.setdefault(key, []).append((r[x], _number(r[y])))
    if len(series) > MAX_SERIES:
        ranked = sorted(series, key=lambda k: -sum(v or 0.0 for _, v in series[k]))
        series = {k: series[k] for k in ranked[:MAX_SERIES]}
        title += f" (top {MAX_SERIES} {chart.series})"
    if not any(v is not None for pts in series.values() for _, v in pts):
        return f'<p class="nodata">no data to chart ({esc(title)})</p>'
    return _whole_title(title) + specs.to_svg(specs.line_spec(
        specs.series_frame(series), title=title, y_title=chart.y, x_title=chart.x,
        percent=percent))


def _whole_title(title: str) -> str:
    """The analysis author's title as text above its chart when the chart shows it cut
    (longer than specs.LABEL_CHARS): the page still shows all of it."""
    return f"<p>{esc(title)}</p>" if specs.is_cut(title) else ""


def render_analysis(spec: AnalysisSpec, result: QueryResult, as_of: date) -> str:
    """A self-contained HTML page: the description, the chart and the result table."""
    parts = []
    if spec.description:
        parts.append(f"<p>{esc(spec.description)}</p>")
    chart = render_chart(spec, result)
    if chart:
        parts.append(chart)
    shown = result.rows[:HTML_ROWS]
    notes = [f"{len(result.rows):,} rows"]
    if result.truncated:
        notes.append(f"cut at the row limit of {spec.max_rows:,}")
    if len(shown) < len(result.rows):
        notes.append(f"the first {len(shown):,} shown; the CSV holds all of them")
    parts.append(f'<p class="note">{esc("; ".join(notes))}</p>')
    parts.append(table(result.columns, [list(r) for r in shown]))
    body = section(spec.name.replace("_", " "), "\n".join(parts))
    subtitle = (f"Custom analysis {spec.source.name} · as of {as_of.isoformat()} · "
                f"{spec.schedule}")
    sql = section("Query", f"<pre>{esc(spec.sql)}</pre>")
    return page(f"Analysis: {spec.name}", [body, sql], subtitle=subtitle)


def write_analysis(spec: AnalysisSpec, result: QueryResult, reports_root: Path,
                   as_of: date) -> tuple[Path, Path]:
    """``<reports>/analyses/<name>/<as_of>.html`` and ``.csv`` (mode 0640, atomic)."""
    folder = reports_root / "analyses" / spec.name
    html_path = write_bytes(folder / f"{as_of.isoformat()}.html",
                            render_analysis(spec, result, as_of).encode("utf-8"))
    csv_path = write_csv(folder / f"{as_of.isoformat()}.csv", result.columns,
                         [list(r) for r in result.rows])
    return html_path, csv_path
