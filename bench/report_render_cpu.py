"""CPU seconds of one report render (the reports asset's work, without Dagster) on a copy
of a built warehouse: run it with ``PYTHONPATH`` at each checkout to compare, side by side.

    PYTHONPATH=CHECKOUT python bench/report_render_cpu.py WAREHOUSE_COPY OUT_DIR [daily]

The render writes ``ops.reports`` into the warehouse and the files under OUT_DIR: use a
copy per run, then ``diff -r`` the two OUT_DIRs (only render times may differ).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import duckdb

from reports.render import render
from warehouse.settings import load_settings


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the chart workers)."""
    return sum(sum(resource.getrusage(who)[:2])
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def main() -> None:
    db, out = sys.argv[1:3]
    kind = sys.argv[3] if len(sys.argv) > 3 else "daily"
    settings = load_settings()
    con = duckdb.connect(db)
    cpu0 = _cpu()
    t0 = time.perf_counter()
    result = render(con, Path(out), kind, settings.reports,
                    cost_currency=settings.metrics.cost_currency)
    cpu = _cpu() - cpu0
    print(f"{kind}: {result.reports} reports, {len(result.files)} files, "
          f"cpu {cpu:.2f} s, wall {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
