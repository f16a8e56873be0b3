"""The data-quality checks of a daily run, timed on a warehouse that already holds months
(for example ROOT/result_TAG.duckdb of ``bench/daily_build.py run``, which has the new day
loaded and the incremental build done):

    python bench/dq_daily.py WAREHOUSE DAY

the raw checks of export day DAY (every entity's contract, the events' volume), then every
mart check (invariants and no personal data), as the Dagster steps run them, without
Dagster. Writes one JSON line: seconds and expectations of each part, peak RSS. The checks
record their outcomes in the warehouse, as a run does: use a copy.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from datetime import date
from pathlib import Path

from harness import connect_warehouse, mart_checks, raw_checks

log = logging.getLogger("dq_daily")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("day", type=date.fromisoformat)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from warehouse.settings import load_settings

    cfg = load_settings().data_quality
    con = connect_warehouse(args.warehouse)
    try:
        t = time.perf_counter()
        n_raw = raw_checks(con, [args.day], cfg)
        raw_s = time.perf_counter() - t
        log.info("raw checks of %s: %d expectations in %.2f s", args.day, n_raw, raw_s)
        t = time.perf_counter()
        n_marts = mart_checks(con, args.warehouse.parent)
        marts_s = time.perf_counter() - t
        log.info("mart checks: %d expectations in %.2f s", n_marts, marts_s)
    finally:
        con.close()
    json.dump({"raw_s": round(raw_s, 2), "raw_expectations": n_raw,
               "marts_s": round(marts_s, 2), "mart_expectations": n_marts,
               "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024},
              sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
