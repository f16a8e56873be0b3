"""Assemble a report (HTML with inline SVG charts, CSV and JSON of the same numbers),
write its files under the reports root and index them in ``ops.reports``.

Layout: ``<root>/<kind>/<period>/<name>.{html,csv,json}`` with ``<period>`` the as-of
date (daily) or the ISO week (weekly, e.g. ``2026-W02``) and ``<name>`` ``overall`` or
``creator_<id>``; ``<root>/index.html`` lists every indexed report.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import altair as alt
import duckdb

from reports import backtests, content, exports, html, index, pdf, promised, sankey, specs
from reports.chart_cache import ChartCache, chart_key
from reports.chart_workers import ChartWorkers
from reports.content import ALL, DAILY, Metric, ReportData, Section
from reports.pdf import NoBrowserError, find_browser
from warehouse.settings import MetricsSettings, ReportsSettings

log = logging.getLogger(__name__)

#: cost savings' currency when the caller passes none (the setting's default)
DEFAULT_COST_CURRENCY: str = MetricsSettings.model_fields["cost_currency"].default

DATA_QUALITY_PAGE = Path("data_quality") / "index.html"
CSV_COLUMNS = ["section", "metric", "creator_id", "period", "value", "previous", "change",
               "change_pct", "same_weekday_last_week", "change_vs_last_week"]


# --------------------------------------------------------------------------- names


def file_stem(creator_id: str) -> str:
    """``overall`` or ``creator_<id>`` with the id made filesystem-safe (a short hash is
    added when characters had to be replaced, so two ids never share a file)."""
    if creator_id == ALL:
        return "overall"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", creator_id)[:80].lstrip(".") or "_"
    if safe != creator_id:
        safe += "-" + hashlib.sha256(creator_id.encode()).hexdigest()[:8]
    return f"creator_{safe}"


def report_dir(root: Path, data: ReportData) -> Path:
    return root / data.kind / data.period.label


def who(creator_id: str, name: str | None = None) -> str:
    """The report's subject: all creators, or the creator's name (marts.creators) with
    its id, or the id alone when the creator has no name."""
    if creator_id == ALL:
        return "All creators"
    return f"{name} ({creator_id})" if name else f"Creator {creator_id}"


# --------------------------------------------------------------------------- long rows


def headline_rows(data: ReportData) -> list[list[object]]:
    return [[m.section, m.metric, data.creator_id, data.period.label, m.value, m.previous,
             m.change, m.change_pct, m.week_ago, m.change_week] for m in data.headline]


def section_rows(data: ReportData) -> list[list[object]]:
    """Every cell of every section table as a long row (metric = table:key:column)."""
    out: list[list[object]] = []
    for sec in data.sections:
        for t in sec.tables:
            k = max(1, min(t.key_columns, len(t.columns) - 1))
            for row in t.rows:
                key = "/".join(html.fmt(v) for v in row[:k])
                for col, value in zip(t.columns[k:], row[k:], strict=False):
                    out.append([sec.name, f"{t.name}:{key}:{col}", data.creator_id,
                                data.period.label, value, None, None, None, None, None])
    return out


def csv_rows(data: ReportData) -> list[list[object]]:
    return headline_rows(data) + section_rows(data)


def json_document(data: ReportData, *, rendered_at: datetime, run_id: str | None) -> dict:
    p = data.period
    return {
        "report": {
            "kind": data.kind, "period": p.label, "period_start": p.start,
            "period_end": p.end, "previous_start": p.previous_start,
            "previous_end": p.previous_end, "same_weekday_last_week": p.week_ago,
            "as_of_date": data.as_of, "creator_id": data.creator_id,
            "rendered_at": rendered_at, "run_id": run_id,
        },
        "headline": [
            {"section": m.section, "metric": m.metric, "value": m.value,
             "previous": m.previous, "change": m.change, "change_pct": m.change_pct,
             "same_weekday_last_week": m.week_ago, "change_vs_last_week": m.change_week,
             "unit": m.unit, "currency": m.currency}
            for m in data.headline],
        "sections": [
            {"name": s.name, "title": s.title, "available": s.available, "notes": s.notes,
             "tables": [{"name": t.name, "columns": t.columns, "rows": t.rows}
                        for t in s.tables]}
            for s in data.sections],
    }


# --------------------------------------------------------------------------- HTML


def _value(m: Metric, v: float | None) -> str:
    if v is None:
        return "n/a"
    return html.fmt_unit(v, m.unit, m.currency)


MIN_CURVE_COHORTS = 4  # a retention-curve point averaging fewer cohorts is left out


def tail_cut(curve: list[tuple[int, float | None]], cohorts: dict[int, int]
             ) -> tuple[list[tuple[int, float | None]], list[int]]:
    """The curve's points averaging at least MIN_CURVE_COHORTS cohorts, and the periods
    left out (the noisy tail, where 1-3 late cohorts make the whole point)."""
    kept = [(k, v) for k, v in curve if cohorts.get(k, MIN_CURVE_COHORTS) >= MIN_CURVE_COHORTS]
    return kept, [k for k, _ in curve if cohorts.get(k, MIN_CURVE_COHORTS) < MIN_CURVE_COHORTS]


SUMMARY_CHANGES = 4  # headline metrics listed under "what changed" (largest moves first)
SUMMARY_ALERTS = 5  # alerts listed under "what needs attention" (most severe first)
ALERT_LEVEL = {"high": "bad", "medium": "warn"}  # low: info


def _section(data: ReportData, name: str) -> Section | None:
    return next((s for s in data.sections if s.name == name), None)


def _rows(sec: Section | None, table: str | None = None) -> list[dict[str, object]]:
    if sec is None:
        return []
    return [dict(zip(t.columns, r, strict=False)) for t in sec.tables
            if table is None or t.name == table for r in t.rows]


def _move(m: Metric) -> str:
    """``DAU 412 (+8.3% vs previous)`` or, for a rate, ``+1.2 pp``."""
    label = m.metric.replace("_", " ")
    label = label.upper() if label in ("dau", "wau", "mau") else label
    if m.unit == "rate" and m.change is not None:
        delta = f"{m.change * 100:+.1f} pp"
    elif m.change_pct is not None:
        delta = f"{m.change_pct * 100:+.1f}%"
    else:
        delta = "no previous value"
    return f"{label} {_value(m, m.value)} ({delta} vs previous {_value(m, m.previous)})"


def summary_items(data: ReportData) -> tuple[list[str], list[tuple[str, str]]]:
    """What changed (the largest relative moves of the headline) and what needs attention
    (failed checks, the alerts that fired for the period with their severity, high
    anomalies, forecasts that fell back to the naive one, stale
    exports, the top insights), as plain text; attention items carry a level
    (``bad``/``warn``)."""
    moved = sorted((m for m in data.headline if m.value is not None),
                   key=lambda m: -abs((m.change * 10) if m.unit == "rate" and m.change
                                      is not None else (m.change_pct or 0.0)))
    changed = [_move(m) for m in moved[:SUMMARY_CHANGES]]
    attention: list[tuple[str, str]] = []
    dq = _section(data, "data_quality")
    counts = dq.charts.get("counts", {}) if dq else {}
    if counts.get("failed"):
        attention.append(("bad", f"{counts['failed']} data-quality check(s) failed"))
    if counts.get("warning"):
        attention.append(("warn", f"{counts['warning']} data-quality check(s) warn"))
    alerts_sec = _section(data, "alerts")
    fired = alerts_sec.charts.get("alerts", []) if alerts_sec else []
    for a in fired[:SUMMARY_ALERTS]:
        whose = ("" if data.creator_id != ALL or a.get("creator_id") == ALL
                 else f" ({content.scope(str(a.get('creator_id')), a.get('creator_name'))})")
        attention.append((ALERT_LEVEL.get(str(a.get("severity")), "info"),
                          f"alert, {a.get('severity')}: "
                          f"{content.alert_text(a.get('message'))}{whose}"))
    quiet_at = len(attention) if alerts_sec is not None and alerts_sec.available and not \
        fired else None
    if len(fired) > SUMMARY_ALERTS:
        attention.append(("warn", f"{len(fired) - SUMMARY_ALERTS} more alert(s) fired for "
                                  "the period (see Alerts)"))
    anomalies = _rows(_section(data, "anomalies"))
    if anomalies:
        high = [a for a in anomalies if a.get("severity") == "high"]
        top = (high or anomalies)[0]
        attention.append(("bad" if high else "warn",
                          f"{len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'} "
                          f"({len(high)} high); latest: {top.get('metric')} on "
                          f"{html.fmt(top.get('date'))} was {html.fmt(top.get('value'))}, "
                          f"expected {html.fmt(top.get('expected'))}"))
    for r in _rows(_section(data, "forecast")):
        if r.get("fallback_reason"):
            attention.append(("warn", f"{r.get('metric')} forecast: the seasonal naive is "
                              f"shown ({r['fallback_reason']})"))
    stale: dict[int, list[str]] = {}  # one line per age: entities exported together
    for r in _rows(_section(data, "freshness")):
        age = r.get("age_days")
        if isinstance(age, int) and age > 1:
            stale.setdefault(age, []).append(str(r.get("entity")))
    for age, entities in sorted(stale.items(), reverse=True):
        attention.append(("warn", f"{', '.join(entities)} exports are {age} days old"))
    for r in _rows(_section(data, "insights"))[:3]:
        attention.append(("info", f"insight: {r.get('title')}"))
    if quiet_at is not None and attention:  # else "nothing needs attention" says it
        attention.insert(quiet_at, ("info", "no alert fired for the period"))
    return changed, attention


def summary_html(data: ReportData) -> str:
    """The block on top: what changed, what needs attention."""
    changed, attention = summary_items(data)
    moved = ("<ul>" + "".join(f"<li>{html.esc(t)}</li>" for t in changed) + "</ul>"
             if changed else html.no_data("headline metrics"))
    items = "".join(f'<li class="{level}">{html.esc(t)}</li>' for level, t in attention)
    needs = (f'<ul class="attention">{items}</ul>' if attention
             else "<p>Nothing needs attention: checks passed, no alert fired, no "
                  "anomalies.</p>")
    return ('<section class="summary"><h2>Summary</h2><h3>What changed</h3>' + moved
            + "<h3>What needs attention</h3>" + needs + "</section>")


def _change(m: Metric, change: float | None, pct: float | None) -> str:
    if change is None:
        return "n/a"
    if m.unit == "rate":  # as shown: a change that rounds to 0.0 pp is no change
        change = (round(change * 100, 1) or 0.0) / 100
    cls = "up" if change > 0 else "down" if change < 0 else ""
    if m.unit == "rate":
        text = f"{change * 100:+.1f} pp"
    elif m.unit == "money":  # as the values: two decimals and the currency code
        text = f"{change:+,.2f}" + (f" {m.currency}" if m.currency else "")
        if pct is not None:
            text += f" ({pct * 100:+.1f}%)"
    else:
        text = f"{change:+,.2f}".rstrip("0").rstrip(".") if change % 1 else f"{change:+,.0f}"
        if pct is not None:
            text += f" ({pct * 100:+.1f}%)"
    return f'<span class="{cls}">{html.esc(text)}</span>'


def headline_html(data: ReportData) -> str:
    if not data.headline:
        return html.section("Headline metrics", html.no_data("engagement and conversations"))
    daily = data.kind == DAILY
    cols = ["metric", "value", "previous", "change"]
    if daily:
        cols += ["same weekday last week", "change vs last week"]
    head = "".join(f"<th>{html.esc(c)}</th>" for c in cols)
    body = []
    for m in data.headline:
        cells = [f"<td>{html.esc(m.metric.replace('_', ' '))}</td>",
                 f'<td class="num">{html.esc(_value(m, m.value))}</td>',
                 f'<td class="num">{html.esc(_value(m, m.previous))}</td>',
                 f'<td class="num">{_change(m, m.change, m.change_pct)}</td>']
        if daily:
            cells += [f'<td class="num">{html.esc(_value(m, m.week_ago))}</td>',
                      f'<td class="num">{_change(m, m.change_week, m.change_week_pct)}</td>']
        body.append("<tr>" + "".join(cells) + "</tr>")
    p = data.period
    note = (f"{p.label} against {p.previous_start.isoformat()}"
            if daily else f"{p.start.isoformat()} to {p.end.isoformat()} against "
                          f"{p.previous_start.isoformat()} to {p.previous_end.isoformat()}")
    expl = ("DAU is the mean over the period, WAU and MAU are taken at its end, sessions, "
            "conversations, cost savings and revenue are sums.")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return html.section("Headline metrics",
                        html.paragraph(note) + table + f'<p class="subtitle">{expl}</p>')


def _tables_html(sec: Section, skip: Collection[str] = ()) -> str:
    parts = []
    for t in sec.tables:
        if t.name in skip:
            continue
        parts.append(f"<h3>{html.esc(t.name)}</h3>" + html.table(
            t.columns, t.rows, currency=sec.currency, units=t.units))
    parts += [f'<p class="subtitle">{html.esc(n)}</p>' for n in sec.notes]
    return "".join(parts)


@dataclass
class _PendingCharts:
    """The charts of one render. A chart in ``cache`` (drawn by an earlier render sharing
    it, or earlier in this one) is taken from it. Of the others, the first ``inline``
    convert where they are drawn; after them (a render big enough to repay starting them)
    :class:`ChartWorkers` convert the rest while the render goes on, each standing in the
    HTML as ``<!--chart N-->`` (text from the data is escaped, so no data can write one)
    until :meth:`resolve` puts its cell there."""
    workers: int
    inline: int
    cache: ChartCache
    converted_inline: int = 0
    cached: int = 0
    pool: ChartWorkers | None = None
    futures: dict[int, Future[str]] = field(default_factory=dict)
    submitted: int = 0
    # the key of each chart in the workers, and the placeholder of each key in flight
    keys: dict[int, str | None] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    resolved: dict[int, str] = field(default_factory=dict)

    def add(self, key: str | None, build: Callable[[], alt.TopLevelMixin]) -> str:
        if (svg := self.cache.get(key)) is not None:
            self.cached += 1
            return svg
        if key is not None and key in self.in_flight:
            self.cached += 1
            return f"<!--chart {self.in_flight[key]}-->"
        if self.workers < 1 or self.converted_inline < self.inline:
            self.converted_inline += 1
            svg = specs.to_svg(build())
            self.cache.put(key, svg)
            return svg
        if self.pool is None:
            log.info("charts: %d converted in the render, the rest in %d workers",
                     self.converted_inline, self.workers)
            self.pool = ChartWorkers(self.workers)
        n = self.submitted
        self.futures[n] = self.pool.submit(specs.spec_dict(build()))
        self.keys[n] = key
        if key is not None:
            self.in_flight[key] = n
        self.submitted += 1
        return f"<!--chart {n}-->"

    def _svg_of(self, n: int) -> str:
        if n not in self.resolved:
            svg = self.resolved[n] = self.futures.pop(n).result()
            self.cache.put(self.keys[n], svg)
        return self.resolved[n]

    def resolve(self, text: str) -> str:
        if not self.submitted:
            return text
        return _PENDING_CHART.sub(lambda m: _chart_cell(self._svg_of(int(m.group(1)))), text)


_PENDING_CHART = re.compile(r"<!--chart (\d+)-->")
_PENDING: ContextVar[_PendingCharts | None] = ContextVar("pending_charts", default=None)


@contextmanager
def _charts_of_render(workers: int, inline: int, cache: ChartCache
                      ) -> Iterator[_PendingCharts]:
    """Within: the charts of :func:`_line` and :func:`_bars` convert as
    :class:`_PendingCharts` says (``workers`` 0: all where they are drawn)."""
    pending = _PendingCharts(workers, inline, cache)
    token = _PENDING.set(pending)
    try:
        yield pending
    finally:
        _PENDING.reset(token)
        if pending.pool is not None:
            pending.pool.close()


def _svg(key: str | None, build: Callable[[], alt.TopLevelMixin]) -> str:
    pending = _PENDING.get()
    return pending.add(key, build) if pending is not None else specs.to_svg(build())


def _line(series: dict, *, title: str, y_title: str = "", x_title: str = "",
          percent: bool = False, bands: dict | None = None, width: int = specs.WIDTH) -> str:
    return _svg(chart_key("line", series, title, y_title, x_title, percent, bands, width),
                lambda: specs.line_spec(
                    specs.series_frame(series), title=title, y_title=y_title,
                    x_title=x_title, percent=percent,
                    bands=specs.band_frame(bands) if bands else None, width=width))


def _bars(labels: list, values: list, *, title: str, percent: bool = False,
          sort: bool = False, width: int = specs.BAR_WIDTH) -> str:
    return _svg(chart_key("bars", labels, values, title, percent, sort, width),
                lambda: specs.bar_spec(specs.bar_frame(labels, values), title=title,
                                       percent=percent, sort=sort, width=width))


def _verdict(bt: dict[str, object] | None) -> str:
    """The forecast's backtest verdict for its chart title."""
    if not bt:
        return "no backtest"
    chosen = bt.get("chosen")
    if bt.get("fallback_reason"):
        return f"seasonal naive: {bt['fallback_reason']}"
    return f"{chosen}, beats seasonal naive in the backtest" if chosen else "backtested"


HALF_CHART_PX = 560  # a chart up to this wide takes half the row (scaled to ~508 px)
_SVG_WIDTH = re.compile(r'^<svg[^>]*?\swidth="([0-9.]+)"')


def _chart_cell(svg: str) -> str:
    """A chart's cell of the grid: up to HALF_CHART_PX wide it takes half the row."""
    m = _SVG_WIDTH.match(svg)
    wide = m is None or float(m.group(1)) > HALF_CHART_PX
    return f'<div class="chart{" wide" if wide else ""}">{svg}</div>'


def _charts(svgs: list[str]) -> str:
    """The section's charts on a two-column grid: charts up to HALF_CHART_PX wide side by
    side, wider ones (and notes) across the row. A chart still converting keeps its
    placeholder (its cell is made when it resolves)."""
    if not svgs:
        return ""
    cells = [svg if _PENDING_CHART.fullmatch(svg) else _chart_cell(svg) for svg in svgs]
    return '<div class="charts">' + "".join(cells) + "</div>"


def section_html(sec: Section, data: ReportData, dq_link: str) -> str:
    if not sec.available:
        return html.section(sec.title, html.no_data())
    svgs: list[str] = []
    if sec.name == "engagement" and "series" in sec.charts:
        svgs.append(_line(sec.charts["series"], title="DAU, WAU and MAU", y_title="users"))
    elif sec.name == "retention" and "curve" in sec.charts:
        counts = dict(sec.charts.get("curve_cohorts") or [])
        unit = sec.charts.get("curve_unit", "week")
        curve, cut = tail_cut(sec.charts["curve"], counts)
        if curve:  # every point cut: no empty chart, the note says why
            svgs.append(_line({"retention": curve}, title=f"Retention by {unit} since start",
                              x_title=f"{unit}s since start", percent=True))
        if cut:
            svgs.append('<p class="subtitle">' + html.esc(
                f"{'Chart' if curve else 'No chart'}: {unit}s "
                f"{', '.join(str(k) for k in cut)} "
                f"{'are left out because they average' if curve else 'all average'} "
                f"fewer than {MIN_CURVE_COHORTS} cohorts (the table keeps them).") + "</p>")
    elif sec.name == "funnel":
        for name, (labels, values) in sec.charts.get("funnels", {}).items():
            svgs.append(_bars(labels, values, title=f"Funnel {name}: users per step"))
        if sec.charts.get("trend"):
            svgs.append(_line(sec.charts["trend"], percent=True,
                              title="Conversion to the last step by day of entry"))
        for name, (labels, values) in sec.charts.get("breakdowns", {}).items():
            svgs.append(_bars(labels, values, percent=True,
                              title=f"Conversion {name} (first touch)"))
    elif sec.name == "system_health" and "error_rate" in sec.charts:
        svgs.append(_line({"error rate": sec.charts["error_rate"]}, percent=True,
                          title="API error rate per day (all endpoints)"))
    elif sec.name == "paths":
        for path, spec in sec.charts.get("paths", {}).items():
            edges = [sankey.Edge(*e) for e in spec["edges"]]
            svgs.append(sankey.sankey_chart(
                edges, title=f"Path {path} ({spec['direction']} the anchor): users per step"))
    elif sec.name == "conversation" and "drop_off" in sec.charts:
        labels, values = sec.charts["drop_off"]
        svgs.append(_bars(labels, values, title="Sessions by drop-off point", sort=True))
    elif sec.name == "mastery" and "mastery" in sec.charts:
        labels, values = sec.charts["mastery"]
        svgs.append(_bars(labels, values, sort=True, width=specs.WIDTH - 360,
                          title="Mean mastery by topic (probability of mastery, 0 to 1)"))
    elif sec.name == "forecast":
        verdicts = {str(r.get("metric")): r for r in _rows(sec) if "chosen" in r}
        for metric, spec in sec.charts.get("forecasts", {}).items():
            svgs.append(_line(spec["series"], bands=spec["bands"], y_title=metric,
                              title=f"{metric} forecast ({_verdict(verdicts.get(metric))})",
                              width=specs.HALF_WIDTH))
    elif sec.name == "insights":
        return html.section(sec.title, _insights_html(sec))
    elif sec.name == "data_quality":
        return html.section(sec.title, _data_quality_html(sec, dq_link))
    return html.section(sec.title, _charts(svgs) + _tables_html(sec))


def _insights_html(sec: Section) -> str:
    items = []
    for t in sec.tables:
        cols = t.columns
        for row in t.rows:
            r = dict(zip(cols, row, strict=False))
            items.append(
                "<li><p><strong>" + html.esc(r.get("title")) + "</strong> "
                f'<span class="subtitle">({html.esc(r.get("kind"))}, rank '
                f'{html.esc(html.fmt(r.get("rank")))}, significance '
                f'{html.esc(html.fmt(r.get("significance")))}, impact '
                f'{html.esc(html.fmt(r.get("impact")))})</span></p>'
                f"<p>{html.esc(r.get('description'))}</p>"
                f"<p><em>Recommendation:</em> {html.esc(r.get('recommendation'))}</p></li>")
    return "<ol>" + "".join(items) + "</ol>" if items else html.no_data()


def _data_quality_html(sec: Section, dq_link: str) -> str:
    counts = sec.charts.get("counts", {})
    status = " ".join(
        f'<span class="status-{html.esc(s)}">{html.esc(n)} {html.esc(s)}</span>'
        for s, n in counts.items())
    link = f'<p>Details: <a href="{html.esc(dq_link)}">data-quality summary</a></p>'
    rest = _tables_html(sec, {"status"})
    return f"<p>Checks (latest validation of each): {status}</p>{link}{rest}"


def html_document(data: ReportData, *, rendered_at: datetime, dq_link: str) -> str:
    p = data.period
    kind = data.kind.capitalize()
    title = f"{kind} report {p.label}: {who(data.creator_id, data.creator_name)}"
    subtitle = (f"Period {p.start.isoformat()} to {p.end.isoformat()}; as-of date "
                f"{data.as_of.isoformat()}; rendered {rendered_at:%Y-%m-%d %H:%M} UTC")
    sections = [summary_html(data), headline_html(data)] + [section_html(s, data, dq_link)
                                        for s in data.sections]
    return html.page(title, sections, subtitle=subtitle)


# --------------------------------------------------------------------------- writing


@dataclass
class RenderResult:
    files: list[index.ReportFile] = field(default_factory=list)
    seconds: float = 0.0
    as_of: date | None = None
    reports: int = 0
    charts: int = 0
    charts_in_workers: int = 0
    charts_cached: int = 0  # taken from the chart cache, not converted again

    def overall_html(self, kind: str) -> str | None:
        for f in self.files:
            if f.kind == kind and f.creator_id == ALL and f.format == "html":
                return f.path
        return None


def _report_html(root: Path, data: ReportData, rendered_at: datetime) -> str:
    dq_link = Path(os.path.relpath(root / DATA_QUALITY_PAGE, report_dir(root, data))).as_posix()
    return html_document(data, rendered_at=rendered_at, dq_link=dq_link)


def _write_files(root: Path, data: ReportData, page: str, *, rendered_at: datetime,
                 run_id: str | None, pdf_browser: str | None) -> list[index.ReportFile]:
    """Write the HTML ``page``, the CSV and the JSON of one report (and, with
    ``pdf_browser``, its PDF, printed from the HTML by headless Chromium); their index
    rows."""
    folder = report_dir(root, data)
    stem = file_stem(data.creator_id)
    paths = [
        exports.write_bytes(folder / f"{stem}.html", page.encode("utf-8")),
        exports.write_csv(folder / f"{stem}.csv", CSV_COLUMNS, csv_rows(data)),
        exports.write_json(folder / f"{stem}.json",
                           json_document(data, rendered_at=rendered_at, run_id=run_id)),
    ]
    if pdf_browser is not None:
        paths.append(pdf.print_pdf(paths[0], folder / f"{stem}.pdf", browser=pdf_browser))
    return [index.file_entry(root, path, kind=data.kind, period_start=data.period.start,
                             period_end=data.period.end, creator_id=data.creator_id,
                             rendered_at=rendered_at, run_id=run_id) for path in paths]


def render(con: duckdb.DuckDBPyConnection, root: Path, kind: str, cfg: ReportsSettings, *,
           run_id: str | None = None, as_of: date | None = None,
           pdf: bool = False, cost_currency: str | None = None,
           chart_cache: ChartCache | None = None) -> RenderResult:
    """Render the overall report and (per the settings) one per creator of one kind,
    index the files in ``ops.reports`` and rewrite ``<root>/index.html``. PDFs beside
    the HTML with ``pdf`` (no Chromium: :class:`reports.pdf.NoBrowserError`) or
    ``reports.pdf`` (no Chromium: a warning, no PDF). Renders that pass one
    ``chart_cache`` (the kinds of one run) convert a chart they share once; without
    one, a chart drawn twice in this render converts once."""
    with content.known_tables(con):
        return _render(con, root, kind, cfg, run_id=run_id, as_of=as_of, pdf=pdf,
                       cost_currency=cost_currency,
                       chart_cache=ChartCache() if chart_cache is None else chart_cache)


def _render(con: duckdb.DuckDBPyConnection, root: Path, kind: str, cfg: ReportsSettings, *,
            run_id: str | None, as_of: date | None, pdf: bool,
            cost_currency: str | None, chart_cache: ChartCache) -> RenderResult:
    started = time.perf_counter()
    result = RenderResult()
    as_of = as_of or content.as_of_date(con)
    if as_of is None:
        log.warning("no as-of date (intermediate.int_as_of_date and marts.engagement_daily "
                    "are missing or empty): no %s report", kind)
        result.seconds = time.perf_counter() - started
        return result
    result.as_of = as_of
    rendered_at = datetime.now(UTC).replace(tzinfo=None)
    browser = None
    if pdf or cfg.pdf:
        try:
            browser = find_browser(cfg.pdf_browser)
        except NoBrowserError as exc:
            if pdf:
                raise
            log.warning("reports.pdf is on but %s: no PDF this run", exc)
    who_list = [ALL] + (content.creators(con, cfg.max_creators) if cfg.per_creator else [])
    # every report's page is drafted first (its charts after the first few converting in
    # the workers meanwhile), then each is completed and written, in the same order
    with _charts_of_render(cfg.chart_workers, cfg.charts_before_workers,
                           chart_cache) as pending:
        drafts: list[tuple[ReportData, str]] = []
        with content.same_rows():  # drafting only reads; ops.reports is written after
            for creator in who_list:
                data = promised.with_promised_sections(con, content.gather(
                    con, kind, as_of, creator, cfg, cost_currency or DEFAULT_COST_CURRENCY))
                data.sections += backtests.sections(con, kind, creator)  # weekly overall
                drafts.append((data, _report_html(root, data, rendered_at)))
        for data, page in drafts:
            page = pending.resolve(page)
            result.files += _write_files(root, data, page, rendered_at=rendered_at,
                                         run_id=run_id, pdf_browser=browser)
            result.reports += 1
        if pending.futures:
            raise RuntimeError(f"{len(pending.futures)} charts were converted but not placed")
        result.charts = pending.converted_inline + pending.submitted + pending.cached
        result.charts_in_workers, result.charts_cached = pending.submitted, pending.cached
    index.record(con, result.files)
    write_index_page(con, root)
    result.seconds = time.perf_counter() - started
    log.info("%s reports for %s: %d reports, %d files, %d charts (%d in workers, %d from "
             "the cache) in %.2f s", kind, as_of.isoformat(), result.reports,
             len(result.files), result.charts, result.charts_in_workers,
             result.charts_cached, result.seconds)
    return result


# a report path as _write_files makes it: relative, segments of [A-Za-z0-9_.-] not
# starting with a dot (no scheme, no "//host", no "/abs", no "..")
REPORT_PATH = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _path_link(path: object) -> str:
    """A link to an indexed report; any other path in ops.reports is shown as text only,
    so the index never links to a URL (e.g. javascript:) read from the table."""
    text = html.esc(path)
    if isinstance(path, str) and REPORT_PATH.fullmatch(path):
        return f'<a href="{text}">{text}</a>'
    return text


def write_index_page(con: duckdb.DuckDBPyConnection, root: Path) -> Path:
    """``<root>/index.html``: every indexed HTML report, newest first."""
    found = content.rows(con, """
        SELECT kind, period_start, period_end, creator_id, path, rendered_at
        FROM ops.reports WHERE format = 'html'
        ORDER BY period_end DESC, kind, creator_id = '__all__' DESC, creator_id""",
                         needs=["ops.reports"]) or []
    names = {str(r["creator_id"]): r["name"] for r in content.rows(
        con, "SELECT creator_id, name FROM marts.creators", needs=["marts.creators"]) or []}
    items = "".join(
        f'<tr><td>{html.esc(r["kind"])}</td><td>{html.esc(r["period_start"])}</td>'
        f'<td>{html.esc(r["period_end"])}</td>'
        f'<td>{html.esc(who(r["creator_id"], names.get(str(r["creator_id"]))))}</td>'
        f'<td>{_path_link(r["path"])}</td>'
        f'<td>{html.esc(html.fmt(r["rendered_at"]))}</td></tr>' for r in found)
    head = "".join(f"<th>{c}</th>" for c in ("kind", "from", "to", "who", "file", "rendered"))
    body = (f"<table><thead><tr>{head}</tr></thead><tbody>{items}</tbody></table>"
            if found else html.no_data())
    link = f'<p><a href="{DATA_QUALITY_PAGE.as_posix()}">Data-quality summary</a></p>'
    doc = html.page("Reports", [html.section("Reports", link + body)],
                    subtitle="Daily and weekly reports (CSV and JSON beside each HTML file)")
    return exports.write_bytes(root / "index.html", doc.encode("utf-8"))
