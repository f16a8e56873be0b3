"""A self-contained HTML page of the latest validation of every check (escaped, offline,
printable): the equivalent of GX Data Docs for this warehouse."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from data_quality.store import check_statuses, ensure_tables
from warehouse.html import CSP, breakable

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1120px;padding:0 1rem;
color:#1d2733}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #dde3ea;padding:.3rem .5rem;text-align:left;vertical-align:top;
overflow-wrap:break-word}
th{overflow-wrap:normal}
th{background:#f3f6f9}
.passed{color:#1a7f37}.warning{color:#9a6700}.failed{color:#cf222e;font-weight:600}
.muted{color:#57606a}
.expect{min-width:16em}
"""


def _cell(value: object) -> str:
    """A cell's text (times to the second); a long identifier may wrap at its ``_ . /``
    (never mid-word)."""
    if isinstance(value, datetime):
        value = value.isoformat(sep=" ", timespec="seconds")
    return breakable(value)


def render(
    checks: Sequence[tuple], outcomes: Sequence[tuple], generated_at: datetime
) -> str:
    """HTML from rows of ops.data_quality_checks and ops.data_quality_latest."""
    n_failed = sum(1 for c in checks if c[2] == "failed")
    n_warn = sum(1 for c in checks if c[2] == "warning")
    head = (
        f"<p>{len(checks)} checks: {len(checks) - n_failed - n_warn} passed, "
        f"{n_warn} with warnings, {n_failed} failed (blocking). "
        f"<span class='muted'>Generated {generated_at:%Y-%m-%d %H:%M} UTC.</span></p>"
    )
    check_rows = "".join(
        f"<tr><td>{_cell(a)}</td><td>{_cell(c)}</td><td class='{_cell(s)}'>{_cell(s)}</td>"
        f"<td>{_cell(n)}</td><td>{_cell(f)}</td><td>{_cell(t)}</td></tr>"
        for a, c, s, n, f, t in checks
    )
    # the expectations table without the columns no outcome fills (batch, examples on a
    # warehouse whose checks have no batches and no failures): the rest keeps its width
    names = ["table", "batch", "expectation", "columns", "what it asserts", "severity",
             "result", "observed", "examples"]
    shown = [i for i, _ in enumerate(names)
             if i not in (1, 8) or any(o[i] not in (None, "", "[]") for o in outcomes)]

    def detail(o: tuple) -> str:
        table, batch, expectation, columns, description, severity, passed, observed, \
            examples = o
        status = "passed" if passed else ("failed" if severity == "blocking" else "warning")
        cells = [f"<td>{_cell(table)}</td>", f"<td>{_cell(batch)}</td>",
                 f"<td class='expect'>{_cell(expectation)}</td>", f"<td>{_cell(columns)}</td>",
                 f"<td>{_cell(description)}</td>", f"<td>{_cell(severity)}</td>",
                 f"<td class='{status}'>{'passed' if passed else 'FAILED'}</td>",
                 f"<td>{_cell(observed)}</td>", f"<td>{_cell(examples)}</td>"]
        return "<tr>" + "".join(cells[i] for i in shown) + "</tr>"

    detail_rows = "".join(detail(o) for o in outcomes)
    detail_head = "".join(f"<th>{names[i]}</th>" for i in shown)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>Data quality - Insights Warehouse</title><style>{STYLE}</style></head>
<body><h1>Data quality: latest validation</h1>{head}
<h2>Checks</h2>
<table><thead><tr><th>asset</th><th>check</th><th>status</th><th>expectations</th>
<th>failed</th><th>validated at (UTC)</th></tr></thead><tbody>{check_rows}</tbody></table>
<h2>Expectations</h2>
<table><thead><tr>{detail_head}</tr></thead><tbody>{detail_rows}</tbody></table>
</body></html>
"""


def write_summary(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """Render the latest results to ``path``, replaced atomically (``con`` may write)."""
    ensure_tables(con)
    checks = check_statuses(con)
    outcomes = con.execute(
        "SELECT table_name, batch, expectation, columns, description, severity, passed, "
        "observed, examples FROM ops.data_quality_latest "
        "ORDER BY passed, severity, table_name, batch, expectation, columns"
    ).fetchall()
    page = render(checks, outcomes, datetime.now(UTC))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
