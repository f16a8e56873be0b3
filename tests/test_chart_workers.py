"""Charts converted in worker processes (reports/chart_workers.py) are the charts converted
in process: the same SVG, the same report pages; a refused spec or a dead worker is an
error that names it, never a report with a chart missing."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from reports import specs
from reports.chart_workers import ChartWorkerError, ChartWorkers
from reports.render import render
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


def test_a_small_render_starts_no_workers(demo_warehouse: Path, tmp_path: Path) -> None:
    """The default settings: a render with fewer charts than charts_before_workers (the
    demo's overall report alone) converts them itself."""
    cfg = ReportsSettings(per_creator=False)
    assert cfg.chart_workers >= 1
    con = duckdb.connect(str(demo_warehouse))
    try:
        result = render(con, tmp_path, "daily", cfg, run_id="t")
    finally:
        con.close()
    assert 0 < result.charts <= cfg.charts_before_workers
    assert result.charts_in_workers == 0
