"""The daily run's incremental dbt build on a warehouse that already holds months, as one
command: for farm-bench A/B of dbt models (PYTHONPATH choosing the code) and for
comparing two versions' tables afterwards (bench/compare_warehouses.py).

    python bench/daily_build.py prepare ROOT [--events N]
    python bench/daily_build.py run ROOT TAG

``prepare`` generates a landing in ROOT (seed 1, 60 days; kept when there), loads every
complete export day but the last, builds every model (``--full-refresh``), then loads the
last day and keeps that warehouse as ROOT/daily_start.duckdb: the state a scheduled run
finds. ``run`` copies it to ROOT/daily.duckdb (one path for every run: dbt's partial parse
holds the path) and runs the incremental build of the models with the window a Dagster run
passes (INSIGHTS_INCREMENTAL_START_DATE = the new day minus the lookback), in its own dbt
target folder ROOT/work_TAG; it writes ROOT/daily_TAG.json (the build's wall seconds and
each model's) and ROOT/result_TAG.duckdb.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from datetime import date
from pathlib import Path

from harness import dbt_build, load_days, node_timings

log = logging.getLogger("daily_build")


def prepare(root: Path, events: int) -> None:
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    from ingest.landing import scan_landing
    from sample_exports import generate_exports
    from warehouse.settings import load_settings

    landing, warehouse = root / "landing", root / "daily.duckdb"
    if not landing.exists():
        generate_exports(landing, seed=1, target_events=events, days=60)
    days = sorted({d.export_date for d in scan_landing(landing) if d.complete})
    warehouse.unlink(missing_ok=True)
    start = time.perf_counter()
    load_days(warehouse, landing, days[:-1])
    log.info("%d export days loaded in %.1f s", len(days) - 1, time.perf_counter() - start)
    start = time.perf_counter()
    dbt_build(warehouse, root / "work_full", load_settings().dbt_vars(),
              extra=("--full-refresh",))
    log.info("full build in %.1f s", time.perf_counter() - start)
    DuckDBConnectionManager.close_all_connections()
    load_days(warehouse, landing, days[-1:])
    shutil.move(warehouse, root / "daily_start.duckdb")
    (root / "new_day").write_text(days[-1].isoformat())
    log.info("ready: %s, the new export day %s", root / "daily_start.duckdb", days[-1])


def run(root: Path, tag: str) -> None:
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    import warehouse
    from orchestration.dbt_args import window_start
    from warehouse.settings import ENV_INCREMENTAL_START, load_settings

    log.info("%s: the code of %s", tag, Path(warehouse.__file__).parent.parent)

    warehouse = root / "daily.duckdb"
    shutil.copyfile(root / "daily_start.duckdb", warehouse)
    dbt_vars = load_settings().dbt_vars()
    new_day = date.fromisoformat((root / "new_day").read_text().strip())
    # the window as the Dagster dbt asset computes it for a newly loaded export day
    os.environ[ENV_INCREMENTAL_START] = window_start(
        None, new_day, int(dbt_vars["incremental_lookback_days"])) or ""
    work = root / f"work_{tag}"
    start = time.perf_counter()
    dbt_build(warehouse, work, dbt_vars)
    wall = time.perf_counter() - start
    nodes = node_timings(work / "dbt_target")
    (root / f"daily_{tag}.json").write_text(json.dumps(
        {"wall_s": round(wall, 2), "node_sum_s": round(sum(s for _, s in nodes), 2),
         "nodes": [[n, round(s, 2)] for n, s in nodes]}, indent=1))
    log.info("%s: incremental build %.1f s; slowest %s", tag, wall,
             ", ".join(f"{n} {s:.1f}" for n, s in nodes[:4]))
    # closed first: DuckDB writes what its write-ahead log still holds (dbt's last drops)
    # into the file, which is what the copy takes
    DuckDBConnectionManager.close_all_connections()
    shutil.copyfile(warehouse, root / f"result_{tag}.duckdb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("root", type=Path)
    p.add_argument("--events", type=int, default=10_000_000)
    r = sub.add_parser("run")
    r.add_argument("root", type=Path)
    r.add_argument("tag")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.root.mkdir(parents=True, exist_ok=True)
    if args.command == "prepare":
        prepare(args.root, args.events)
    else:
        run(args.root, args.tag)


if __name__ == "__main__":
    main()
