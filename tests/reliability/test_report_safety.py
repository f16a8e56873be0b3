"""Report safety (issue 8, item 5): strings from the warehouse come out of the reports
inert.

A copy of the demo warehouse gets hostile strings in every text field that reaches a
report (creator ids, lifecycle statuses, funnel and step names, intents, drop-off
points, topics, currencies, forecast/backtest/anomaly labels, insight texts, data-quality
names and results, load-audit entities, the report index), then the real render
functions write the daily and weekly reports (overall and the hostile creator), the index
page and a custom analysis whose column names, cells, chart title, series and labels are
hostile too. Every payload does something observable if it ever runs: it sets an
attribute on <html>, changes the title and fetches (or navigates to) a local HTTP server
this module runs, which must see no request at all.

Checks:

* static, always (html.parser): only the elements and attributes the renderer emits, no
  <script>, no on* or style attributes, no URL with a scheme, the CSP meta present, the
  only <style> is the page CSS, no bidi control character, every payload shown as text;
* every CSV the reports and the analysis write: no cell a spreadsheet would run as a
  formula (a leading quote), the planted strings present (quoted); every JSON valid and
  holding the planted strings verbatim;
* headless Chromium (provisioned by tests/reliability/browser.py, skipped without it):
  each page loaded as written and again with its CSP meta removed (escaping alone must
  hold), the dumped DOM checked as above, the title unchanged and no request to the
  local server; a canary page with an unescaped payload proves the harness sees a run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from reports import content, exports, html, index
from reports.custom import parse_analysis, run_query, write_analysis
from reports.render import render, write_index_page
from warehouse.settings import ReportsSettings

from . import browser

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n?')
MARK = "data-pwned"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# what the renderer emits (html.parser lower-cases names): anything else got injected
TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p",
        "main", "section", "table", "thead", "tbody", "tr", "th", "td", "span", "strong",
        "em", "ol", "li", "div", "a", "pre", "svg", "rect", "text", "line", "polyline",
        "polygon", "circle", "path", "g", "ul",
        "wbr"}  # a line-break opportunity in long identifiers (reports/html.py breakable)
ATTRS = {"lang", "charset", "name", "content", "http-equiv", "class", "href", "xmlns",
         "width", "height", "viewbox", "role", "aria-label", "font-family", "font-size",
         "font-weight", "font-style", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r",
         "fill", "fill-opacity", "stroke", "stroke-width", "points", "text-anchor",
         "transform", "d", "opacity", "stroke-miterlimit", "display", "paint-order"}
# an SVG path's geometry (the Sankey's bands, the Vega-Lite charts' marks and symbols):
# commands and numbers only
PATH_DATA = re.compile(r"^[MLHVCSQTAZmlhvcsqtaz0-9.,\s-]*$")
SCHEME = re.compile(r"^[\x00-\x20]*[a-z][a-z0-9+.\-]*:", re.IGNORECASE)


# --------------------------------------------------------------------------- payloads


def script(port: int, tag: str) -> str:
    """JavaScript without spaces or quotes (it fits any attribute context) that marks
    <html>, retitles the page and fetches the canary URL."""
    return (f"document.documentElement.setAttribute(`{MARK}`,`{tag}`);"
            f"document.title=`PWNED-{tag}`;"
            "document.documentElement.appendChild(document.createElement(`img`)).src="
            f"`http://127.0.0.1:{port}/pwned/{tag}`")


def vectors(port: int, tag: str) -> list[str]:
    """Injection vectors, each observable if it ever takes effect."""
    js = script(port, tag)
    url = f"http://127.0.0.1:{port}/pwned/{tag}"
    go = f"location=`{url}`"
    return [
        f"<script>{js}</script>",
        f'"><img src=x onerror={js}>',
        f"'><svg onload={js}>",
        f'x" onload={js} autofocus onfocus={js} y="',  # breaks out of a "-quoted attribute
        f"x' onload={js} y='",
        f"<svg><script>{js}</script></svg>",
        f"<svg><animate onbegin={js} attributeName=x dur=1s>",
        f'<svg><a xlink:href="javascript:{go}"><text>x</text></a></svg>',
        f'<noscript><p title="</noscript><img src=x onerror={js}>">',
        f"javascript:{go}",
        f"</style><script>{js}</script><style>",
        f"</title><script>{go}</script>",
        f"]]><script>{js}</script><![CDATA[",
        f"<!--<script>{js}</script>-->",
        f"--><img src=x onerror={js}>",
        f'<div style="width:expression({js})">x{{background:expression({js})}}</div>',
        f'<a href="javascript:{go}">click</a>',
        f'<iframe src="javascript:{go}"></iframe>',
        f'<meta http-equiv="refresh" content="0;url={url}">',
        f'<link rel="stylesheet" href="{url}">',
        f'<img src="{url}">',
        f'<base href="{url}/">',
        f'<object data="{url}"></object>',
        f"<math><mtext><table><mglyph><style><img src=x onerror={js}>",
        f"&lt;script&gt;{js}&lt;/script&gt; &amp;",  # pre-escaped: shown as typed
        f"\u202e{tag}gnp.exe\u202c",  # right-to-left override
        f"\u2067{tag} unclosed isolate \u202d and override",
    ]


def formulas(port: int) -> list[str]:
    return ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(1)", "\t=1", "\r=1",
            f'=HYPERLINK("http://127.0.0.1:{port}/pwned/formula","x")']


def composite(port: int, tag: str, i: int) -> str:
    """Every vector in one string, starting with a formula prefix (rotating)."""
    lead = formulas(port)[i % len(formulas(port))]
    return f"{lead} {tag} " + " ".join(vectors(port, tag))


def standalone(port: int) -> list[str]:
    """Each vector and formula alone, and a very long string."""
    out = [vectors(port, f"s{i:02d}")[i] for i in range(len(vectors(port, "s")))]
    out += formulas(port)
    out.append("L" * 20_000 + f"<script>{script(port, 'long')}</script>")
    return out


def visible(value: str) -> str:
    """The text a payload must show as: bidi controls made visible as [U+XXXX], line
    ends normalised as HTML parsing does."""
    for ch in BIDI:
        value = value.replace(ch, f"[U+{ord(ch):04X}]")
    return norm(value)


def norm(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class Planted:
    """A hostile string planted in one field."""

    field: str
    value: str
    pages: tuple[str, ...]  # pages whose visible text must show it
    csv_cell: bool = False  # a CSV cell of its own (must come out neutralised)
    json: bool = True       # held verbatim by some JSON export


# --------------------------------------------------------------------------- canary


class Canary:
    """A local HTTP server that records every request (a payload that ran)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        lock = threading.Lock()
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # a navigation must complete, so answer 200
                with lock:
                    hits.append(self.path)
                body = b"<html><body>pwned</body></html>"
                with contextlib.suppress(OSError):  # the browser may hang up first
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- planting


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _recreate(con: duckdb.DuckDBPyConnection, table: str, ddl: str) -> None:
    """The demo's empty ml tables have NULL-typed columns: recreate them typed."""
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"CREATE TABLE {table} ({ddl})")


def plant(con: duckdb.DuckDBPyConnection, port: int, as_of: date) -> list[Planted]:
    """Hostile strings into every text field that reaches a report; what was planted."""
    out: list[Planted] = []
    n = iter(range(1000))
    both = ("daily", "weekly")
    every = ("daily", "weekly", "daily_creator", "weekly_creator")

    def c(field_name: str, pages: tuple[str, ...], **kw: bool) -> str:
        i = next(n)
        value = composite(port, f"f{i:02d}", i)
        out.append(Planted(field_name, value, pages, **kw))
        return value

    # the most active creator (the one per-creator report rendered) becomes hostile
    [(creator,)] = con.execute("""
        SELECT creator_id FROM marts.engagement_daily WHERE creator_id <> '__all__'
        GROUP BY creator_id ORDER BY sum(active_events) DESC, creator_id LIMIT 1""").fetchall()
    who = c("creator_id (every marts/ml table)", ("daily_creator", "weekly_creator", "index"),
            csv_cell=True)
    _recreate(con, "ml.engagement_forecast",
              "date TIMESTAMP, creator_id VARCHAR, metric VARCHAR, forecast DOUBLE, "
              "lower_80 DOUBLE, upper_80 DOUBLE, lower_95 DOUBLE, upper_95 DOUBLE, "
              "method VARCHAR, model_version VARCHAR")
    _recreate(con, "ml.forecast_backtest",
              "creator_id VARCHAR, metric VARCHAR, history_days BIGINT, mase_ets DOUBLE, "
              "mase_seasonal_naive DOUBLE, chosen VARCHAR, model_version VARCHAR")
    _recreate(con, "ml.metric_anomalies",
              "date DATE, creator_id VARCHAR, metric VARCHAR, value DOUBLE, expected DOUBLE, "
              "score DOUBLE, direction VARCHAR, severity VARCHAR, as_of_date DATE")
    for schema, table in con.execute("""
            SELECT table_schema, table_name FROM information_schema.columns
            JOIN information_schema.tables USING (table_schema, table_name)
            WHERE column_name = 'creator_id' AND table_type = 'BASE TABLE'
              AND table_schema IN ('marts', 'ml')""").fetchall():
        con.execute(f"UPDATE {schema}.{table} SET creator_id = ? WHERE creator_id = ?",
                    [who, creator])
    whom = ["__all__", who]

    # lifecycle rows exist for covered periods only (metrics.md v2): the 9-day demo has
    # covered days but no covered week after the first, so only the daily page shows it
    con.execute("UPDATE marts.user_lifecycle SET status = ? WHERE status = 'returning'",
                [c("marts.user_lifecycle.status", ("daily",))])
    con.execute("UPDATE marts.funnel_steps SET funnel = ? WHERE funnel = 'learning'",
                [c("marts.funnel_steps.funnel", every)])
    for (step,) in con.execute("SELECT DISTINCT step FROM marts.funnel_steps").fetchall():
        con.execute("UPDATE marts.funnel_steps SET step_name = ? WHERE step = ?",
                    [c(f"marts.funnel_steps.step_name (step {step})", every), step])
    week = content.weekly_period(as_of)
    # values the chosen creator has too: its page shows its own rows of these marts
    own = "creator_id = ?"
    in_both = (f"WHERE date = DATE '{as_of}' AND {own} AND intent IN (SELECT intent FROM "
               f"marts.intent_daily WHERE date BETWEEN DATE '{week.start}' AND "
               f"DATE '{week.end}' AND {own})")  # the creator's intents of both periods
    for name, kind, where in (("intent_daily", "intent", in_both),
                              ("session_drop_off", "drop_off_point", f"WHERE {own}"),
                              ("topic_mastery", "topic", f"WHERE {own}")):
        values = [r[0] for r in con.execute(
            f"SELECT DISTINCT {kind} FROM marts.{name} {where} ORDER BY 1",
            [who] * where.count("?")).fetchall()][:3]
        assert len(values) == 3, (name, values)
        for old in values:
            pages = (*every, "analysis") if kind == "drop_off_point" else every
            con.execute(f"UPDATE marts.{name} SET {kind} = ? WHERE {kind} = ?",
                        [c(f"marts.{name}.{kind}", pages), old])
    con.execute("UPDATE marts.topic_mastery SET topic = ? WHERE topic = "
                "(SELECT max(topic) FROM marts.topic_mastery WHERE topic NOT LIKE '%<%' "
                "AND creator_id = ?)",
                [standalone(port)[-1], who])  # the very long one: a bar label, cut short
    out.append(Planted("marts.topic_mastery.topic (20,000 characters)", standalone(port)[-1],
                       every))

    currency = c("marts.revenue_daily.currency", every)
    for d in (as_of, as_of - timedelta(days=5)):
        for w in whom:
            con.execute("INSERT INTO marts.revenue_daily (date, currency, creator_id, charges, "
                        "refunds, net_revenue) VALUES (?, ?, ?, 100, 10, 90)", [d, currency, w])

    metric = c("ml.engagement_forecast.metric", every)
    for w in whom:
        for k in range(1, 8):
            con.execute("INSERT INTO ml.engagement_forecast VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                        "'ets', 'v1')", [datetime.combine(as_of + timedelta(days=k),
                                                          datetime.min.time()),
                                         w, metric, 10.0 + k, 8.0, 12.0 + k, 6.0, 14.0 + k])
    bt_metric = c("ml.forecast_backtest.metric", every)
    chosen = c("ml.forecast_backtest.chosen", every, csv_cell=True)
    for w in whom:
        con.execute("INSERT INTO ml.forecast_backtest VALUES (?, ?, 28, 0.8, 1.0, ?, 'v1')",
                    [w, bt_metric, chosen])
    a_metric = c("ml.metric_anomalies.metric", every)
    direction = c("ml.metric_anomalies.direction", every, csv_cell=True)
    severity = c("ml.metric_anomalies.severity", every, csv_cell=True)
    weekly_end = content.weekly_period(as_of).end
    for w in whom:
        con.execute("INSERT INTO ml.metric_anomalies VALUES (?, ?, ?, 50, 10, 4.2, ?, ?, ?)",
                    [weekly_end, w, a_metric, direction, severity, as_of])

    # insights: the demo's rows get composites, then one row per standalone payload
    texts = {col: c(f"ml.insights.{col}", both if col != "metric" else (), csv_cell=True)
             for col in ("kind", "title", "description", "recommendation", "metric")}
    con.execute("UPDATE ml.insights SET " + ", ".join(f"{k} = ?" for k in texts)
                + " WHERE creator_id = '__all__'", list(texts.values()))
    [(latest,)] = con.execute("SELECT max(as_of_date) FROM ml.insights "
                              "WHERE creator_id = '__all__'").fetchall()
    for i, value in enumerate(standalone(port)):
        for w in whom:
            con.execute(
                "INSERT INTO ml.insights (insight_id, as_of_date, creator_id, kind, title, "
                "description, recommendation, metric, significance, impact, rank) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0.5, 0.5, ?)",
                [f"hostile{i:02d}", latest, w, value, value, value, value, value, 10 + i])
        out.append(Planted(f"ml.insights.* (standalone #{i})", value, (*every, "analysis"),
                           csv_cell=True))

    # data quality: one failing expectation with hostile names and results
    dq = {col: c(f"ops.data_quality.{col}", both, csv_cell=col in ("severity", "observed"))
          for col in ("asset_key", "check_name", "table_name", "expectation", "columns",
                      "batch", "severity", "observed")}
    [(vid,)] = con.execute("SELECT validation_id FROM ops.data_quality_latest "
                           "ORDER BY validated_at DESC LIMIT 1").fetchall()
    con.execute("UPDATE ops.data_quality SET passed = false, "
                + ", ".join(f"{k} = ?" for k in dq)
                + " WHERE rowid = (SELECT min(rowid) FROM ops.data_quality "
                  "WHERE validation_id = ?)", [*dq.values(), vid])
    con.execute("UPDATE raw.load_audit SET entity = ? WHERE entity = 'creators'",
                [c("raw.load_audit.entity", both)])

    # the index lists every row of ops.reports
    row = {"kind": c("ops.reports.kind", ("index",), json=False),
           "creator_id": c("ops.reports.creator_id", ("index",), json=False),
           "path": f"javascript:location=`http://127.0.0.1:{port}/pwned/index`"}
    out.append(Planted("ops.reports.path", row["path"], ("index",), json=False))
    con.execute("INSERT INTO ops.reports (report_id, kind, period_start, period_end, "
                "creator_id, format, path, bytes, sha256, rendered_at, run_id) "
                "VALUES ('x', ?, ?, ?, ?, 'html', ?, 0, '', now()::TIMESTAMP, 'x')",
                [row["kind"], as_of, as_of, row["creator_id"], row["path"]])
    return out


def analysis(port: int, out: list[Planted]) -> dict:
    """A custom analysis over the hostile marts whose own strings are hostile too."""
    names = {k: composite(port, f"a{k}", i) for i, k in enumerate(("x", "y", "series",
                                                                    "cell"))}
    for k, v in names.items():
        out.append(Planted(f"custom analysis column name ({k})", v, ("analysis",),
                           csv_cell=True, json=False))
    title = composite(port, "atitle", 3)
    description = composite(port, "adesc", 4)
    out.append(Planted("custom analysis chart title", title, ("analysis",), json=False))
    out.append(Planted("custom analysis description", description, ("analysis",),
                       json=False))
    sql = f"""
        WITH d AS (SELECT drop_off_point AS x, sessions FROM marts.session_drop_off),
        t AS (SELECT topic AS s, row_number() OVER (ORDER BY topic) AS k
              FROM (SELECT DISTINCT topic FROM marts.topic_mastery) WHERE topic LIKE '%<%'),
        g AS (SELECT x, s, sessions + t.k AS y, row_number() OVER (ORDER BY x, s) AS k
              FROM d CROSS JOIN t WHERE t.k <= 3),
        i AS (SELECT title, row_number() OVER (ORDER BY insight_id) AS k FROM ml.insights
              WHERE creator_id = '__all__')
        SELECT g.x AS {_q(names['x'])}, g.s AS {_q(names['series'])},
               g.y AS {_q(names['y'])}, i.title AS {_q(names['cell'])},
               to_days(-CAST(coalesce(g.k, i.k) AS INTEGER)) AS waited
        FROM g FULL OUTER JOIN i USING (k) ORDER BY coalesce(g.k, i.k)"""
    return {"name": "hostile_strings", "schedule": "daily", "description": description,
            "sql": sql, "chart": {"type": "line", "x": names["x"], "y": names["y"],
                                  "series": names["series"], "title": title}}


# --------------------------------------------------------------------------- fixture


@dataclass
class Rendered:
    root: Path
    pages: dict[str, Path]
    planted: list[Planted]
    canary: Canary
    seconds: float
    csvs: list[Path] = field(default_factory=list)
    jsons: list[Path] = field(default_factory=list)


@pytest.fixture(scope="module")
def hostile(demo_run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    """The demo warehouse with hostile strings, rendered: daily and weekly (overall and
    the hostile creator), the index and a custom analysis."""
    data, result = demo_run
    assert result.exit_code == 0, result.output
    rendered = build(data / "warehouse.duckdb", tmp_path_factory.mktemp("report_safety"))
    try:
        yield rendered
    finally:
        rendered.canary.close()


def build(source: Path, base: Path) -> Rendered:
    """Copy the warehouse ``source`` into ``base``, plant, render (canary server running)."""
    started = time.perf_counter()
    warehouse = base / "warehouse.duckdb"
    shutil.copy(source, warehouse)
    root = base / "reports"
    canary = Canary()
    try:
        con = duckdb.connect(str(warehouse))
        as_of = content.as_of_date(con)
        assert as_of is not None
        planted = plant(con, canary.port, as_of)
        cfg = ReportsSettings(max_creators=1, top_insights=100, top_intents=100,
                            max_anomalies=100, max_failures=100)
        daily = render(con, root, "daily", cfg, run_id="safety")
        weekly = render(con, root, "weekly", cfg, run_id="safety")
        con.close()
        spec = parse_analysis(analysis(canary.port, planted), base / "hostile_strings.yaml")
        html_path, _ = write_analysis(spec, run_query(warehouse, spec.sql), root, as_of)
        pages = {"index": root / "index.html", "analysis": html_path}
        for kind, res in (("daily", daily), ("weekly", weekly)):
            htmls = [f for f in res.files if f.format == "html"]
            assert len(htmls) == 2, htmls
            for f in htmls:
                key = kind if f.creator_id == "__all__" else f"{kind}_creator"
                pages[key] = root / f.path
    except BaseException:
        canary.close()
        raise
    return Rendered(root, pages, planted, canary, time.perf_counter() - started,
                    sorted(root.rglob("*.csv")), sorted(root.rglob("*.json")))


# --------------------------------------------------------------------------- parsing


class Dom(HTMLParser):
    """What a document holds: elements, attributes, text, title, style blocks."""

    def __init__(self, doc: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.root_attrs: dict[str, str | None] = {}
        self.texts: list[str] = []
        self.title = ""
        self.styles: list[str] = []
        self.csp: list[str] = []
        self._stack: list[str] = []
        self.feed(doc)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for k, v in attrs:
            self.attrs.append((tag, k, v or ""))
        if tag == "html":
            self.root_attrs = dict(attrs)
        if tag == "meta" and (dict(attrs).get("http-equiv") or "").lower() == \
                "content-security-policy":
            self.csp.append(dict(attrs).get("content") or "")
        if tag not in ("meta", "line", "rect", "circle", "polyline", "polygon"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        top = self._stack[-1] if self._stack else ""
        if top == "style":
            self.styles.append(data)
        elif top == "title" and "head" in self._stack:
            self.title += data
        else:
            self.texts.append(data)

    @property
    def text(self) -> str:
        return norm("".join(self.texts))


def problems(dom: Dom, *, csp: bool) -> list[str]:
    """Why a document is not inert (empty when it is)."""
    found = []
    extra = sorted(set(dom.tags) - TAGS)
    if extra:
        found.append(f"elements the renderer never emits: {extra}")
    for tag, name, value in dom.attrs:
        if name not in ATTRS or name.startswith("on"):
            found.append(f"attribute {name}={value[:80]!r} on <{tag}>")
        if name == "href" and SCHEME.match(value):
            found.append(f"href with a scheme: {value[:80]!r}")
        if name == "d" and not PATH_DATA.match(value):
            found.append(f"path data that is not geometry: {value[:80]!r}")
    if MARK in dom.root_attrs:
        found.append(f"<html {MARK}={dom.root_attrs[MARK]!r}>: a payload ran")
    if dom.title.startswith("PWNED"):
        found.append(f"title changed to {dom.title[:80]!r}: a payload ran")
    if [s.strip() for s in dom.styles] != [html.CSS.strip()]:
        found.append(f"{len(dom.styles)} style blocks, or data inside the page CSS")
    if csp and dom.csp != [CSP]:
        found.append(f"Content-Security-Policy meta: {dom.csp}")
    return found


def expectations(r: Rendered, page: str) -> list[Planted]:
    return [p for p in r.planted if page in p.pages]


def missing_text(dom: Dom, planted: list[Planted]) -> list[str]:
    text = dom.text
    return [p.field for p in planted if visible(p.value) not in text]


# --------------------------------------------------------------------------- unit


def test_esc_makes_bidi_controls_visible() -> None:
    for ch in BIDI:
        out = html.esc(f"a{ch}b<")
        assert ch not in out and f"[U+{ord(ch):04X}]" in out and out.endswith("&lt;")
    assert html.esc("\u200f\u05e9\u05dc\u05d5\u05dd") == "\u200f\u05e9\u05dc\u05d5\u05dd"


def test_csv_neutralises_values_that_print_as_formulas() -> None:
    text = exports.csv_text(["=h", "n"], [[timedelta(days=-1), -2.5], ["@x", -3],
                                          ["a\r=1", "b\n+1"], ["\r=1", 0]])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["'=h", "n"], ["'-1 day, 0:00:00", "-2.5"], ["'@x", "-3"],
                    ["a\r=1", "b\n+1"], ["'\r=1", "0"]]


def test_index_links_only_report_paths(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    index.ensure_table(con)
    for path in ("daily/2026-01-08/overall.html", "javascript:alert(1)",
                 "//evil.example/x.html", "/etc/passwd", "../../x.html"):
        con.execute("INSERT INTO ops.reports VALUES ('x', 'daily', DATE '2026-01-08', "
                    "DATE '2026-01-08', '__all__', 'html', ?, 0, '', now()::TIMESTAMP, "
                    "NULL)", [path])
    page = write_index_page(con, tmp_path / "r").read_text()
    con.close()
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs == ["data_quality/index.html", "daily/2026-01-08/overall.html"]
    for path in ("javascript:alert(1)", "//evil.example/x.html", "/etc/passwd"):
        assert html.esc(path) in page  # listed as text


# --------------------------------------------------------------------------- static


def test_every_report_page_is_inert_and_shows_the_payloads_as_text(hostile: Rendered) -> None:
    assert set(hostile.pages) == {"daily", "weekly", "daily_creator", "weekly_creator",
                                  "index", "analysis"}
    report: dict[str, list[str]] = {}
    for page, path in hostile.pages.items():
        doc = path.read_text(encoding="utf-8")
        dom = Dom(doc)
        found = problems(dom, csp=True)
        if doc.find("Content-Security-Policy") > doc.find("<title>"):
            found.append("the CSP meta does not come first in <head>")
        decoded = dom.text + dom.title + "".join(v for _, _, v in dom.attrs)
        if any(ch in decoded for ch in BIDI):
            found.append("a bidi control character")
        missing = missing_text(dom, expectations(hostile, page))
        if missing:
            found.append(f"payloads not shown as text: {missing}")
        if found:
            report[page] = found
    assert report == {}
    # every planted field reached a page or an export
    assert all(p.pages or p.csv_cell or p.json for p in hostile.planted)


def test_every_csv_cell_is_neutralised(hostile: Rendered) -> None:
    assert len(hostile.csvs) == 5  # 4 reports and the analysis
    cells: set[str] = set()
    for path in hostile.csvs:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    cells.add(cell)
                    if cell.startswith("-"):
                        float(cell)  # a negative number is fine, anything else is not
                    else:
                        assert not cell.startswith(FORMULA_START), (path.name, cell[:80])
    for p in hostile.planted:
        if p.csv_cell:
            want = "'" + p.value if p.value.startswith(FORMULA_START) else p.value
            assert want in cells, p.field
    assert "'-1 day, 0:00:00" in cells  # an interval from the analysis


def test_every_json_is_valid_and_holds_the_strings_verbatim(hostile: Rendered) -> None:
    assert len(hostile.jsons) == 4

    def strict(token: str) -> None:
        raise AssertionError(f"{token} is not JSON")

    strings: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            strings.append(node)
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(k)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for path in hostile.jsons:
        walk(json.loads(path.read_text(encoding="utf-8"), parse_constant=strict))
    for p in hostile.planted:
        if p.json:
            assert any(p.value in s for s in strings), p.field


# --------------------------------------------------------------------------- browser


CANARY_JS = "document.documentElement.setAttribute(`{m}`,`canary`);document.title=`PWNED`;" \
            "document.documentElement.appendChild(document.createElement(`img`)).src=" \
            "`http://127.0.0.1:{port}/canary`"


@pytest.fixture(scope="module")
def chromium() -> str:
    return browser.require_chromium()


def _no_csp(path: Path) -> Path:
    doc = path.read_text(encoding="utf-8")
    stripped, count = CSP_META.subn("", doc)
    assert count == 1, path
    copy = path.with_name(path.stem + ".nocsp.html")
    copy.write_text(stripped, encoding="utf-8")
    return copy


@pytest.mark.parametrize("csp", [True, False], ids=["with-csp", "csp-removed"])
def test_chromium_runs_nothing_from_the_data(hostile: Rendered, chromium: str, csp: bool,
                                             tmp_path: Path) -> None:
    started = time.perf_counter()
    canary_js = CANARY_JS.format(m=MARK, port=hostile.canary.port)
    # a canary page with an unescaped payload: proves the harness sees a payload run
    canary_page = tmp_path / "canary.html"
    canary_page.write_text(html.page("canary", [f"<script>{canary_js}</script>"]),
                           encoding="utf-8")
    targets = {"canary": canary_page if csp else _no_csp(canary_page)}
    for page, path in hostile.pages.items():
        targets[page] = path if csp else _no_csp(path)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {page: pool.submit(browser.dump_dom, chromium, path.as_uri(),
                                     tmp_path / f"profile-{page}")
                   for page, path in targets.items()}
        doms = {page: Dom(f.result()) for page, f in futures.items()}
    time.sleep(0.3)  # a beacon in flight
    hits = list(hostile.canary.hits)
    hostile.canary.hits.clear()

    canary = doms.pop("canary")
    if csp:  # blocked by the CSP: the script element is there but did not run
        assert "script" in canary.tags and MARK not in canary.root_attrs
        assert canary.title == "canary" and "/canary" not in hits
    else:
        assert canary.root_attrs.get(MARK) == "canary" and canary.title == "PWNED"
        assert "/canary" in hits
    hits = [h for h in hits if h != "/canary"]
    report: dict[str, list[str]] = {}
    for page, dom in doms.items():
        static = Dom(hostile.pages[page].read_text(encoding="utf-8"))
        found = problems(dom, csp=csp)
        if dom.title != static.title or "h1" not in dom.tags:
            found.append(f"not the report any more (title {dom.title[:60]!r})")
        missing = missing_text(dom, expectations(hostile, page))
        if missing:
            found.append(f"payloads not shown as text: {missing}")
        if found:
            report[page] = found
    assert (hits, report) == ([], {}), "payloads ran, reached the server or went missing"
    print(f"chromium ({'with' if csp else 'without'} CSP): {len(targets)} pages in "
          f"{time.perf_counter() - started:.1f} s; fixture {hostile.seconds:.1f} s")
