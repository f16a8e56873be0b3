"""The Sankey chart of path_edges (reports/sankey.py) and the weekly report's paths
section (reports/content.py paths_section)."""

from __future__ import annotations

import itertools
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from reports import content
from reports.render import section_html
from reports.sankey import END, OTHER, Edge, sankey_chart, sankey_layout
from warehouse.settings import parse_settings

EDGES = [
    Edge(1, "conversation_start", "user_message", 40),
    Edge(1, "conversation_start", END, 10),
    Edge(2, "user_message", "intent:billing", 25),
    Edge(2, "user_message", "intent:greeting", 10),
    Edge(2, "user_message", END, 5),
    Edge(3, "intent:billing", "bot_response", 20),
    Edge(3, "intent:greeting", "bot_response", 10),
]


def test_nodes_hold_the_users_who_reached_them_and_bands_fit_their_nodes():
    layout = sankey_layout(EDGES, width=800, height=300)
    nodes = {(n.column, n.label): n for n in layout.nodes}
    assert nodes[(0, "conversation_start")].users == 50
    assert nodes[(1, "user_message")].users == 40 and nodes[(1, END)].users == 10
    assert nodes[(3, "bot_response")].users == 30
    for node in layout.nodes:  # one scale for every node
        assert node.height == pytest.approx(node.users * layout.scale)
        assert node.y > 0 and node.y + node.height <= 300
        out = [k for k in layout.links if k.source is node]
        into = [k for k in layout.links if k.target is node]
        assert sum(k.thickness for k in out) <= node.height + 1e-9
        if node.column > 0:
            assert sum(k.thickness for k in into) == pytest.approx(node.height)
        # bands are stacked inside their nodes, without overlapping
        spans = sorted((k.y0, k.y0 + k.thickness) for k in out)
        assert all(a[1] <= b[0] + 1e-9 for a, b in itertools.pairwise(spans))
        assert all(node.y - 1e-9 <= lo and hi <= node.y + node.height + 1e-9
                   for lo, hi in spans)
    xs = sorted({n.x for n in layout.nodes})
    assert len(xs) == 4 and xs == sorted(xs)  # one column per step
    # within a column, the largest label first and `end` last
    column1 = [n.label for n in layout.nodes if n.column == 1]
    assert column1 == ["user_message", END]


def test_small_labels_of_a_column_are_merged_into_other():
    edges = [Edge(1, "start", f"label_{i}", 10 - i) for i in range(6)]
    edges += [Edge(2, f"label_{i}", END, 10 - i) for i in range(6)]
    layout = sankey_layout(edges, max_nodes=3)
    column1 = {n.label: n.users for n in layout.nodes if n.column == 1}
    assert column1 == {"label_0": 10, "label_1": 9, OTHER: 8 + 7 + 6 + 5}
    assert sum(k.users for k in layout.links if k.source.column == 1) == 10 + 9 + 26


def test_the_chart_draws_every_band_and_escapes_labels():
    svg = sankey_chart([*EDGES, Edge(3, "user_message", "<script>x</script>", 1)],
                       title="Path <p>")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "Path &lt;p&gt;" in svg
    assert len(re.findall(r"<path ", svg)) == len(EDGES) + 1
    assert "no data" in sankey_chart([], title="empty")


def _path_edges_db(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE SCHEMA intermediate")
    con.execute("CREATE TABLE intermediate.int_as_of_date AS SELECT DATE '2026-01-18' "
                "AS as_of_date")
    con.execute("CREATE TABLE marts.path_edges (path VARCHAR, direction VARCHAR, "
                "creator_id VARCHAR, step INTEGER, source VARCHAR, target VARCHAR, "
                "users BIGINT, max_steps INTEGER)")
    con.executemany("INSERT INTO marts.path_edges VALUES ('after_start', 'after', ?, ?, ?, "
                    "?, ?, 5)", [(c, e.step, e.source, e.target, e.users)
                                 for c in ("__all__", "c1") for e in EDGES])
    return con


def test_the_weekly_report_has_a_paths_section_with_one_chart_per_path(tmp_path: Path):
    con = _path_edges_db(tmp_path / "w.duckdb")
    cfg = parse_settings({}).reports
    weekly = content.gather(con, "weekly", date(2026, 1, 18), "__all__", cfg)
    daily = content.gather(con, "daily", date(2026, 1, 18), "__all__", cfg)
    assert "paths" not in [s.name for s in daily.sections]
    (sec,) = [s for s in weekly.sections if s.name == "paths"]
    assert sec.available and set(sec.charts["paths"]) == {"after_start"}
    assert sec.tables[0].rows[0] == ["after_start", 1, "conversation_start", "user_message",
                                     40]
    html = section_html(sec, weekly, "dq.html")
    assert html.count("<svg") == 1 and "Path after_start" in html
    con.execute("DELETE FROM marts.path_edges")
    empty = content.paths_section(con)
    assert not empty.available
