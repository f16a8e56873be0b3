"""Daily and weekly reports: self-contained HTML (inline SVG charts) with CSV and JSON
exports of the same numbers, indexed in ``ops.reports``.

Modules: :mod:`reports.html` (escaping, number formats and page building blocks),
:mod:`reports.specs` (Vega-Lite chart specs rendered offline to inline SVG),
:mod:`reports.chart_workers` (their SVG conversion in worker processes),
:mod:`reports.sankey` (the paths' Sankey, the one chart Vega-Lite has no mark for),
:mod:`reports.custom` (custom analyses), :mod:`reports.exports` (CSV/JSON writers that
neutralise spreadsheet formulas), :mod:`reports.content` (queries gathering the
numbers), :mod:`reports.render` (assembling and writing one report), :mod:`reports.index`
(the ``ops.reports`` table).
"""
