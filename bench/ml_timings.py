"""ML training and scoring wall times at N events (generated sample, 60 export days).

For each N: generate the sample (seed 1), load every complete export day into a fresh
DuckDB file (the ingest assets' loader), build the dbt models (``dbt build``, models and
seeds only: the tests are not what is measured), then run the ML steps the Dagster
assets run (models_ml.pipeline, without Dagster's run overhead) and time each one.
Training = feature snapshots + the forced training of churn, goal success and LTV;
scoring = everything the daily ml_scoring_job runs with those models. Writes
``bench/results/ml_timings.json``.

    python bench/ml_timings.py --events 1000000 --events 10000000
"""

from __future__ import annotations

import logging
import resource
from pathlib import Path
from typing import Any

from harness import dbt_build, ml_steps, run_sizes, timed

from ingest.batch import load_entity_days
from ingest.landing import landing_entities, scan_landing
from ingest.loader import ensure_schema
from models_ml import pipeline
from sample_exports import generate_exports
from warehouse.db import connect
from warehouse.settings import load_settings

log = logging.getLogger(__name__)


def measure(n_events: int, workdir: Path) -> dict[str, Any]:
    landing, warehouse = workdir / "landing", workdir / "wh.duckdb"
    prep: dict[str, float] = {}
    summary = timed(prep, "generate_s", lambda: generate_exports(
        landing, seed=1, target_events=n_events, days=60))
    con = connect(warehouse)
    ensure_schema(con)
    days = sorted({d.export_date for d in scan_landing(landing) if d.complete})
    timed(prep, "load_s", lambda: [load_entity_days(con, landing, e, days, info=log.debug)
                                    for e in landing_entities()])
    con.close()
    timed(prep, "dbt_build_s", dbt_build, warehouse, workdir, load_settings().dbt_vars())
    with pipeline.compute_threads(load_settings().ml.threads):
        steps = ml_steps(warehouse)
    return {
        "target_events": n_events,
        "events_written": summary.events_written,
        "prepare": prep,
        **steps,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    settings = load_settings().ml.as_params()
    run_sizes(__doc__, measure, report_name="ml_timings.json", extra={"settings": settings})


if __name__ == "__main__":
    main()
