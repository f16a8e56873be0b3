"""SVGs of report charts already drawn, by what was drawn: renders that share a cache
convert each chart once.

A run renders the daily and then the weekly reports of the same as-of date in one
process; most of the weekly pages' charts are the daily pages' (the 60-day engagement
series, the funnels, the forecasts: 248 of 294 at the benchmark's 10M events), and each
costs ~30 ms of vl-convert plus the building of its Altair spec. A chart is keyed by the
chart function's name and the ``repr`` of its arguments (the rows read from the warehouse:
strings, numbers, dates, decimals, whose ``repr`` names the type and the exact value), so
a key is equal only when the chart drawn is; an argument whose ``repr`` is an object's
address is not cached. The SVG is a function of the spec and vl-convert alone.
"""

from __future__ import annotations

from collections import OrderedDict

#: room for a run's charts ten times over (its daily and weekly renders at 10M events:
#: 345 charts, 5.4 MiB)
DEFAULT_MAX_BYTES = 64 * 2**20


def chart_key(kind: str, *args: object) -> str | None:
    """The key of the chart ``kind`` drawn from ``args``; None when an argument has no
    value-based ``repr`` (the chart is then drawn each time)."""
    key = repr((kind, args))
    return None if " at 0x" in key else key


class ChartCache:
    """SVG by :func:`chart_key`, least recently used first out past ``max_bytes``."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._svgs: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._svgs)

    def get(self, key: str | None) -> str | None:
        if key is None:
            return None
        svg = self._svgs.get(key)
        if svg is not None:
            self._svgs.move_to_end(key)
        return svg

    def put(self, key: str | None, svg: str) -> None:
        if key is None or key in self._svgs:
            return
        self._svgs[key] = svg
        self._bytes += len(svg)
        while self._bytes > self.max_bytes and self._svgs:
            _, old = self._svgs.popitem(last=False)
            self._bytes -= len(old)
