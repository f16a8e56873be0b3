"""HTML building blocks: every value passes through :func:`esc`; pages are self-contained
(inline CSS, including print CSS; no scripts, no network).

Tables are formatted here, not with ``great-tables`` (issue 21 suggested it; version 1.1
was tried). Its HTML (``GT.as_raw_html()``) holds no script, but it does not fit a
CSP-safe, deterministic report:

* every table brings its own ``<style>`` block (about 9 KB, 40 reports x 20 tables)
  scoped to a random element ``id``, so two renders of the same numbers differ and the
  report's "one stylesheet, the page's" rule (tests/reliability/test_report_safety.py)
  would have to allow any stylesheet in the body;
* it sets ``style`` attributes (and, with ``inline_css=True``, which needs the extra
  ``css-inline`` package, one on every cell) plus ``id``/``data-quarto-*`` attributes;
  the safety test rejects ``style`` attributes so that no data string can ever reach a
  style context, even though the CSP's ``style-src 'unsafe-inline'`` would allow it;
* the formatting it would bring is already here, in one place: :func:`fmt_unit` gives
  one format per unit (rates as percent, money with its currency code, durations
  humanised, 0 shown as 0; only a missing value is "-"), read from the column name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from warehouse.html import CSP, breakable, esc

CSS = """
:root { --fg: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #2f6fbf;
        --good: #1e7b34; --bad: #b42318; --warn: #a15c00; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--fg); margin: 0 auto; max-width: 1080px; padding: 24px;
       font-size: 14px; line-height: 1.45; background: #fff; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 16px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 8px; color: var(--accent); }
h3 { font-size: 15px; margin: 12px 0 6px; }
.subtitle { color: var(--muted); margin: 0 0 12px; }
section { margin: 0 0 20px; padding: 12px 0; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left;
         vertical-align: top; overflow-wrap: break-word; }
.wrap { overflow-x: auto; max-width: 100%; }
.summary { background: #f5f8fc; border: 1px solid var(--line); border-left: 4px solid var(--accent);
           padding: 10px 16px; margin: 0 0 20px; }
.summary h2 { margin-bottom: 4px; }
.summary ul { margin: 4px 0 8px; padding-left: 20px; }
.attention li.bad { color: var(--bad); }
.attention li.warn { color: var(--warn); }
th { background: #f0f4f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.up { color: var(--good); } .down { color: var(--bad); }
.status-passed { color: var(--good); font-weight: 600; }
.status-warning { color: var(--warn); font-weight: 600; }
.status-failed { color: var(--bad); font-weight: 600; }
.nodata { color: var(--muted); font-style: italic; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px 16px;
          align-items: start; }
.charts .wide { grid-column: 1 / -1; }
svg { max-width: 100%; height: auto; }
pre { white-space: pre-wrap; overflow-wrap: break-word; }  /* a query's long lines wrap */
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  section { page-break-inside: avoid; break-inside: avoid; }
  header { border-bottom-color: #000; }
  a { color: inherit; text-decoration: none; }
  a[href]::after { content: " (" attr(href) ")"; font-size: 10px; }
  .charts { display: block; }
}
"""


def fmt(value: object, digits: int = 2) -> str:
    """A display string for a value (not escaped): numbers rounded, None -> "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if value.is_integer():
            return f"{value:,.0f}"
        if abs(value) < 10:
            return f"{value:,.{digits + 1}f}"
        return f"{value:,.{digits}f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# one format per unit: columns named like a rate are fractions shown as percent, money
# columns carry their currency code (the row's ``currency`` column, else the table's)
RATE_COLUMN = re.compile(
    r"(^|_)(rate|share|pct|percent|retention|stickiness|csat)$|^(week|day|month)_\d+$|_rate_"
    r"|^share_")
MS_COLUMN = re.compile(r"(^|_)ms(_|$)")
HOURS_COLUMN = re.compile(r"(^|_)hours$")
# seconds (a duration): shown humanised, "42 s", "4 min", "2.3 h", "1.5 d"
DURATION_COLUMN = re.compile(r"(^|_)(seconds|s)(_|$)|^seconds_")
VALUE_COLUMNS = {"value", "previous", "expected", "forecast", "lower_80", "upper_80",
                 "lower_95", "upper_95"}
MONEY_COLUMN = re.compile(r"(^|_)(revenue|charges|refunds|cost_savings|ltv|amount)$")


def column_unit(column: str) -> str:
    """``rate``, ``money``, ``ms`` (whole milliseconds), ``duration`` (seconds, shown
    humanised), ``hours`` (one decimal) or ``""`` from a column's name."""
    if RATE_COLUMN.search(column):
        return "rate"
    if MONEY_COLUMN.search(column):
        return "money"
    if MS_COLUMN.search(column):
        return "ms"
    if DURATION_COLUMN.search(column):
        return "duration"
    if HOURS_COLUMN.search(column):
        return "hours"
    return ""


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def duration(seconds: float) -> str:
    """Seconds as a person reads them: ``42 s``, ``4 min``, ``2.3 h``, ``1.5 d`` (one
    decimal below ten units, none above; negative durations keep their sign)."""
    sign, s = ("-" if seconds < 0 else ""), abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if s >= size:
            n = s / size
            text = f"{n:.1f}".removesuffix(".0") if n < 10 else f"{n:,.0f}"
            return f"{sign}{text} {unit}"
    return f"{sign}{s:.0f} s"


def money(value: float, currency: str | None) -> str:
    return f"{value:,.2f}" + (f" {currency}" if currency else "")


# a plain number column holding fractions: every value with the same decimals (0.500,
# 1.000, not 0.5 and 1), 3 below 10 and 2 above, as fmt rounds a single value
DECIMALS = {"dec3": 3, "dec2": 2}


def decimals_unit(values: Sequence[object]) -> str:
    """``dec3``/``dec2`` for a column of plain numbers with a fraction in it, else ``""``."""
    floats = [v for v in values if isinstance(v, float) and v == v]
    if not any(not v.is_integer() for v in floats):
        return ""
    return "dec3" if max(abs(v) for v in floats) < 10 else "dec2"


def fmt_unit(value: object, unit: str, currency: str | None = None) -> str:
    """A value in its unit's one format (rates as percent, money with its currency)."""
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and value == value:  # not NaN
        if unit == "rate":
            return percent(float(value))
        if unit == "money":
            return money(float(value), currency)
        if unit == "ms":
            return f"{value:,.0f}"
        if unit == "duration":
            return duration(float(value))
        if unit == "hours":
            return f"{value:,.1f} h"
        if unit in DECIMALS and isinstance(value, float):
            return f"{value:,.{DECIMALS[unit]}f}"
    return fmt(value)


def _cell(value: object, unit: str = "", currency: str | None = None) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric:
        return f'<td class="num">{esc(fmt_unit(value, unit, currency))}</td>'
    return f"<td>{breakable(fmt_unit(value, unit, currency))}</td>"


def header(column: str, unit: str = "") -> str:
    """A column's heading: words, not snake_case; a duration's says "time", since its
    cells are humanised ("median_seconds_to_step" -> "median time to step")."""
    words = column.split("_")
    if unit == "duration":
        words = ["time" if w == "seconds" else w for w in words if w != "s"]
    return " ".join(words)


def table(columns: list[str], rows: Sequence[Sequence[object]], *,
          currency: str | None = None, units: Mapping[str, str] | None = None) -> str:
    """An HTML table; every header and cell is escaped (numbers right-aligned, rates as
    percent, money with the row's ``currency`` column or ``currency``). A column's unit
    comes from its name, or from ``units`` where the name does not tell it."""
    units = [(units or {}).get(c) or column_unit(c) for c in columns]
    head = "".join(f"<th>{breakable(header(c, u))}</th>"
                   for c, u in zip(columns, units, strict=True))
    cur_at = columns.index("currency") if "currency" in columns else None
    # a long "metric | value" table: the unit comes from the row's metric name
    metric_at = columns.index("metric") if "metric" in columns else None
    if metric_at is None:  # one number format per column (a long table: per metric)
        units = [u or decimals_unit([r[i] for r in rows if i < len(r)])
                 for i, u in enumerate(units)]

    def row_units(row: Sequence[object]) -> list[str]:
        if metric_at is None or not isinstance(row[metric_at], str):
            return units
        by_metric = column_unit(row[metric_at])
        return [by_metric if c in VALUE_COLUMNS and not u else u
                for c, u in zip(columns, units, strict=False)]

    body = "".join(
        "<tr>" + "".join(
            _cell(v, u, str(row[cur_at]) if cur_at is not None and row[cur_at] else currency)
            for v, u in zip(row, row_units(row), strict=False)) + "</tr>"
        for row in rows)
    return (f'<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}'
            "</tbody></table></div>")


def no_data(what: str = "") -> str:
    """The "no data" paragraph a section shows when its tables are missing or empty."""
    suffix = f" ({esc(what)})" if what else ""
    return f'<p class="nodata">no data{suffix}</p>'


def paragraph(text: object) -> str:
    return f"<p>{esc(text)}</p>"


def section(title: str, body_html: str) -> str:
    """A titled section; ``body_html`` must already be safe HTML."""
    return f"<section><h2>{esc(title)}</h2>\n{body_html}\n</section>"


def page(title: str, sections: list[str], *, subtitle: str = "") -> str:
    """A complete, self-contained HTML document (inline CSS, no scripts, no network)."""
    sub = f'<p class="subtitle">{esc(subtitle)}</p>' if subtitle else ""
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1>{sub}</header>\n<main>\n{body}\n</main>\n"
        "</body>\n</html>\n"
    )
