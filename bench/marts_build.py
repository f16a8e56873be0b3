"""dbt build time of the marts at N events, and the slowest models.

For each N: generate the sample (seed 1, 60 export days), load every complete export day
into a fresh DuckDB file (the ingest assets' loader), then ``dbt build`` the project from
scratch twice: models and seeds only (what the marts cost), then with every data test
(what a full ``transform_job`` dbt step costs; dbt unit tests run in the test suite).
Per-model times come from dbt's run_results.json. Writes ``bench/results/marts_build.json``.

    python bench/marts_build.py --events 1000000 --events 10000000
"""

from __future__ import annotations

import logging
import resource
import time
from pathlib import Path
from typing import Any

from harness import dbt_build, node_timings, run_sizes

from ingest.batch import load_entity_days
from ingest.landing import landing_entities, scan_landing
from ingest.loader import ensure_schema
from sample_exports import generate_exports
from warehouse.db import connect
from warehouse.settings import load_settings

log = logging.getLogger("bench")


def measure(n_events: int, workdir: Path) -> dict[str, Any]:
    landing, warehouse = workdir / "landing", workdir / "wh.duckdb"
    summary = generate_exports(landing, seed=1, target_events=n_events, days=60)
    con = connect(warehouse)
    ensure_schema(con)
    days = sorted({d.export_date for d in scan_landing(landing) if d.complete})
    for entity in landing_entities():
        load_entity_days(con, landing, entity, days, info=log.debug)
    loaded = con.execute("SELECT count(*) FROM raw.events WHERE is_current").fetchone()[0]
    con.close()
    dbt_vars = load_settings().dbt_vars()
    t0 = time.perf_counter()
    target = dbt_build(warehouse, workdir, dbt_vars, extra=("--full-refresh",))
    models_s = time.perf_counter() - t0
    slowest = node_timings(target)
    t0 = time.perf_counter()
    target = dbt_build(warehouse, workdir, dbt_vars, tests=True, extra=("--full-refresh",))
    with_tests_s = time.perf_counter() - t0
    tests = node_timings(target, ("test", "unit_test"))
    return {
        "target_events": n_events,
        "events_written": summary.events_written,
        "events_current": loaded,
        "dbt_models_and_seeds_s": round(models_s, 1),
        "dbt_build_with_tests_s": round(with_tests_s, 1),
        "nodes": len(node_timings(target, ("model", "seed", "test", "unit_test"))),
        "slowest_models": [{"model": n, "seconds": round(s, 2)} for n, s in slowest[:5]],
        "slowest_tests": [{"test": n, "seconds": round(s, 2)} for n, s in tests[:3]],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    run_sizes(__doc__, measure, report_name="marts_build.json")


if __name__ == "__main__":
    main()
