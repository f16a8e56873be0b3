"""The data-quality checks' share of the daily run, at N events of history.

    python bench/data_quality_cost.py --events 1000000 [--events 10000000]

Generates N events over 60 export days, loads all but the last complete day and builds
the marts (the history), then times the daily run of the last day stage by stage, as the
Dagster jobs run them (without Dagster's own overhead): load the day (every entity),
the raw checks on it, the incremental dbt build, the mart checks, the publish. Writes
bench/results/data_quality_cost.json.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from harness import dbt_build, mart_checks, raw_checks, run_sizes

from ingest.batch import load_entity_days
from ingest.landing import landing_entities, scan_landing
from ingest.loader import ensure_schema
from sample_exports import generate_exports
from serving.publish import publish
from warehouse.db import connect
from warehouse.settings import ENV_INCREMENTAL_START, ENV_WAREHOUSE, load_settings

log = logging.getLogger("bench")


def measure(n_events: int, workdir: Path) -> dict:
    settings = load_settings()
    cfg = settings.data_quality
    landing = workdir / "landing"
    summary = generate_exports(landing, seed=1, target_events=n_events, days=60)
    warehouse = workdir / "wh.duckdb"
    os.environ[ENV_WAREHOUSE] = str(warehouse)
    days = sorted({d.export_date for d in scan_landing(landing) if d.complete})
    history, today = days[:-1], days[-1:]
    con = connect(warehouse)
    ensure_schema(con)
    t0 = time.perf_counter()
    for entity in landing_entities():
        load_entity_days(con, landing, entity, history, info=log.debug)
    history_load_s = time.perf_counter() - t0
    con.close()
    dbt_vars = settings.dbt_vars()
    t0 = time.perf_counter()
    dbt_build(warehouse, workdir, dbt_vars, tests=True)
    history_dbt_s = time.perf_counter() - t0

    stages: dict[str, float] = {}
    con = connect(warehouse)
    t0 = time.perf_counter()
    for entity in landing_entities():
        load_entity_days(con, landing, entity, today, info=log.debug)
    stages["load_day"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_raw = raw_checks(con, today, cfg)
    stages["raw_checks"] = time.perf_counter() - t0
    con.close()
    os.environ[ENV_INCREMENTAL_START] = (  # as the Dagster dbt asset passes it
        today[0] - timedelta(days=int(dbt_vars["incremental_lookback_days"]))).isoformat()
    t0 = time.perf_counter()
    dbt_build(warehouse, workdir, dbt_vars, tests=True)
    stages["dbt_incremental"] = time.perf_counter() - t0
    con = connect(warehouse)
    t0 = time.perf_counter()
    n_marts = mart_checks(con, workdir)
    stages["mart_checks"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    publish(con, workdir / "serving.duckdb")
    stages["publish"] = time.perf_counter() - t0
    events_today = con.execute(
        "SELECT count(*) FROM raw.events WHERE export_date = ?", [today[0]]).fetchone()[0]
    con.close()
    total = sum(stages.values())
    checks = stages["raw_checks"] + stages["mart_checks"]
    return {
        "target_events": n_events,
        "events_written": summary.events_written,
        "history_days": len(history),
        "history_load_s": round(history_load_s, 1),
        "history_dbt_build_s": round(history_dbt_s, 1),
        "daily_run_events": events_today,
        "daily_run_s": {k: round(v, 2) for k, v in stages.items()},
        "daily_run_total_s": round(total, 2),
        "expectations_evaluated": n_raw + n_marts,
        "checks_s": round(checks, 2),
        "checks_share_of_daily_run": round(checks / total, 3),
    }


def main() -> None:
    run_sizes(__doc__, measure, report_name="data_quality_cost.json")


if __name__ == "__main__":
    main()
