"""Charts converted in worker processes (reports/chart_workers.py) are the charts converted
in process: the same SVG, the same report pages; a refused spec or a dead worker is an
error that names it, never a report with a chart missing. Charts taken from a chart cache
(reports/chart_cache.py) are the charts converted again."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from reports import specs
from reports.chart_cache import ChartCache, chart_key
from reports.chart_workers import ChartWorkerError, ChartWorkers
from reports.render import _chart_cell, _PendingCharts, render
from warehouse.settings import ReportsSettings


def _charts() -> list:
    line = specs.line_spec(specs.series_frame(
        {"dau": [(date(2026, 1, d), float(d * 3)) for d in range(1, 15)],
         "wau <b>": [(date(2026, 1, d), float(d * 7)) for d in range(1, 15)]}),
        title="DAU \u202e", y_title="users")
    bars = specs.bar_spec(specs.bar_frame(["a", "b\u2066", "c"], [0.5, 0.25, None]),
                          title="bars", percent=True, sort=True)
    return [line, bars]


def test_workers_give_the_svg_of_the_render_process() -> None:
    charts = _charts() * 3
    with ChartWorkers(2) as pool:
        futures = [pool.submit(specs.spec_dict(c)) for c in charts]
        svgs = [f.result(timeout=60) for f in futures]
    assert svgs == [specs.to_svg(c) for c in charts]
    assert all(s.startswith("<svg") and "<?xml" not in s for s in svgs)


def test_a_refused_spec_is_an_error_naming_it_and_the_worker_goes_on() -> None:
    with ChartWorkers(1) as pool:
        bad = pool.submit({"mark": "no-such-mark", "data": {"values": []}})
        with pytest.raises(ChartWorkerError, match="vl-convert refused a chart"):
            bad.result(timeout=60)
        good = pool.submit(specs.spec_dict(_charts()[1])).result(timeout=60)
    assert good == specs.to_svg(_charts()[1])


def test_a_dead_worker_is_an_error() -> None:
    with ChartWorkers(1) as pool:
        pool.submit(specs.spec_dict(_charts()[1])).result(timeout=60)
        [proc] = pool._procs
        proc.kill()
        proc.wait()
        with pytest.raises(ChartWorkerError, match="chart worker exited"):
            pool.submit(specs.spec_dict(_charts()[1])).result(timeout=60)


def test_at_least_one_worker() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ChartWorkers(0)


_CHART_CELL = re.compile(r'<div class="chart(?: wide)?"><svg')
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( UTC)?")


def test_a_render_with_workers_writes_the_pages_of_one_without(demo_warehouse: Path,
                                                               tmp_path: Path) -> None:
    # (workers, charts converted in the render before the workers start)
    variants = {"inline": (0, 0), "workers": (2, 0), "after_10": (2, 10)}
    con = duckdb.connect(str(demo_warehouse))
    try:
        pages, results = {}, {}
        for name, (workers, before) in variants.items():
            root = tmp_path / name
            cfg = ReportsSettings(chart_workers=workers, charts_before_workers=before)
            results[name] = result = render(con, root, "weekly", cfg, run_id="t")
            assert result.reports >= 2
            pages[name] = {p.relative_to(root): _STAMP.sub("", p.read_text())
                           for p in sorted(root.rglob("*.html"))}
    finally:
        con.close()
    # Vega-Lite charts (the paths' Sankey diagrams are drawn without vl-convert)
    charts = results["inline"].charts
    assert charts >= 20
    assert sum(len(_CHART_CELL.findall(page)) for page in pages["inline"].values()) >= charts
    assert {n: r.charts for n, r in results.items()} == dict.fromkeys(variants, charts)
    assert {n: r.charts_in_workers for n, r in results.items()} == {
        "inline": 0, "workers": charts, "after_10": charts - 10}
    for name in ("workers", "after_10"):
        assert pages[name].keys() == pages["inline"].keys()
        for page_name, page in pages[name].items():
            assert "<!--chart" not in page, (name, page_name)
            assert page == pages["inline"][page_name], (name, page_name)


def test_a_render_of_fewer_charts_than_before_workers_starts_none(
        demo_warehouse: Path, tmp_path: Path) -> None:
    """A render with fewer charts than charts_before_workers (the demo's overall report
    alone) converts them itself."""
    cfg = ReportsSettings(per_creator=False, charts_before_workers=100)
    assert cfg.chart_workers >= 1
    con = duckdb.connect(str(demo_warehouse))
    try:
        result = render(con, tmp_path, "daily", cfg, run_id="t")
    finally:
        con.close()
    assert 0 < result.charts <= cfg.charts_before_workers
    assert result.charts_in_workers == 0


# --------------------------------------------------------------------------- chart cache

_LONG_DECIMALS = re.compile(r"\d+\.\d{7,}")


def _same_numbers(page: str) -> str:
    """A page with its long decimals to 6 places: DuckDB's parallel float sums may differ
    in the last bits between two reads of the same table (two renders without any cache
    differ so), which moves an SVG path by 1e-13 px."""
    return _LONG_DECIMALS.sub(lambda m: f"{float(m.group()):.6f}", _STAMP.sub("", page))


def _pages(root: Path, kind: str) -> dict[Path, str]:
    return {p.relative_to(root): _same_numbers(p.read_text())
            for p in sorted((root / kind).rglob("*.html"))}


def test_renders_sharing_a_chart_cache_convert_a_shared_chart_once(
        demo_warehouse: Path, tmp_path: Path) -> None:
    """The daily and weekly reports of a run share most charts: with one cache the weekly
    render takes them from it, and writes the pages a render without the cache writes."""
    cfg = ReportsSettings(chart_workers=2, charts_before_workers=5)
    con = duckdb.connect(str(demo_warehouse))
    try:
        alone = render(con, tmp_path / "alone", "weekly", cfg, run_id="t")
        cache = ChartCache()
        daily = render(con, tmp_path / "shared", "daily", cfg, run_id="t", chart_cache=cache)
        weekly = render(con, tmp_path / "shared", "weekly", cfg, run_id="t",
                        chart_cache=cache)
        again = render(con, tmp_path / "again", "weekly", cfg, run_id="t", chart_cache=cache)
    finally:
        con.close()
    assert daily.charts_cached == alone.charts_cached == 0
    assert weekly.charts == alone.charts >= 20
    # most of the weekly's charts are the daily's; the others convert (some in workers)
    assert alone.charts / 2 < weekly.charts_cached < weekly.charts
    assert weekly.charts_in_workers < alone.charts_in_workers
    assert (again.charts_cached, again.charts_in_workers) == (again.charts, 0)
    expected = _pages(tmp_path / "alone", "weekly")
    assert len(expected) >= 2
    for name in ("shared", "again"):
        got = _pages(tmp_path / name, "weekly")
        assert got.keys() == expected.keys()
        for page_name, page in got.items():
            assert "<!--chart" not in page, (name, page_name)
            assert page == expected[page_name], (name, page_name)


def test_a_chart_twice_in_one_render_converts_once_in_the_workers() -> None:
    line, bars = _charts()
    pending = _PendingCharts(workers=1, inline=0, cache=ChartCache())
    try:
        first = pending.add("bars", lambda: bars)
        second = pending.add("bars", lambda: bars)
        other = pending.add("line", lambda: line)
        page = pending.resolve(f"{first}|{second}|{other}")
    finally:
        assert pending.pool is not None
        pending.pool.close()
    assert (pending.submitted, pending.cached, first) == (2, 1, second)
    svg_bars, svg_line = specs.to_svg(bars), specs.to_svg(line)
    assert page.split("|") == [_chart_cell(svg_bars), _chart_cell(svg_bars),
                               _chart_cell(svg_line)]
    assert pending.cache.get("bars") == svg_bars and not pending.futures


def test_chart_keys_tell_values_and_their_types_apart() -> None:
    day = date(2026, 1, 2)
    keys = [chart_key("line", {"dau": [(day, 1.0)]}, "t"),
            chart_key("line", {"dau": [("2026-01-02", 1.0)]}, "t"),  # text, not a date
            chart_key("line", {"dau": [(day, 1)]}, "t"),
            chart_key("line", {"dau": [(day, Decimal("1.0"))]}, "t"),
            chart_key("line", {"dau": [(day, 1.0000000000000002)]}, "t"),
            chart_key("bars", {"dau": [(day, 1.0)]}, "t"),
            chart_key("line", {"dau": [(day, 1.0)]}, "t", True)]
    assert None not in keys and len(set(keys)) == len(keys)
    assert chart_key("line", {"dau": [(day, 1.0)]}, "t") == keys[0]
    assert chart_key("line", object()) is None  # no value to key on: drawn each time


def test_the_chart_cache_drops_the_least_recently_used_past_its_bytes() -> None:
    cache = ChartCache(max_bytes=10)
    cache.put("a", "1234")
    cache.put("b", "1234")
    assert cache.get("a") == "1234"  # now the most recently used
    cache.put("c", "1234")
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (
        "1234", None, "1234", 2)
    cache.put(None, "x")
    assert cache.get(None) is None and len(cache) == 2
