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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import dbt_build, run_sizes

from ingest.batch import load_entity_days
from ingest.landing import landing_entities, scan_landing
from ingest.loader import connect, ensure_schema
from models_ml import pipeline
from models_ml.config import MLConfig
from orchestration.settings import load_settings
from sample_exports import generate_exports

log = logging.getLogger(__name__)


def _timed(out: dict[str, float], name: str, fn: Callable[..., Any], *args: Any) -> Any:
    t0 = time.perf_counter()
    value = fn(*args)
    out[name] = round(time.perf_counter() - t0, 2)
    log.info("%s: %.1f s  %s", name, out[name], str(value)[:200])
    return value


def measure(n_events: int, workdir: Path) -> dict[str, Any]:
    landing, warehouse = workdir / "landing", workdir / "wh.duckdb"
    prep: dict[str, float] = {}
    summary = _timed(prep, "generate_s", lambda: generate_exports(
        landing, seed=1, target_events=n_events, days=60))
    con = connect(warehouse)
    ensure_schema(con)
    days = sorted({d.export_date for d in scan_landing(landing) if d.complete})
    _timed(prep, "load_s", lambda: [load_entity_days(con, landing, e, days, info=log.debug)
                                    for e in landing_entities()])
    con.close()
    _timed(prep, "dbt_build_s", dbt_build, warehouse, workdir, load_settings().dbt_vars())
    with pipeline.compute_threads(MLConfig.from_dict(load_settings().ml).threads):
        timed = _ml_steps(warehouse)
    return {
        "target_events": n_events,
        "events_written": summary.events_written,
        "prepare": prep,
        **timed,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _ml_steps(warehouse: Path) -> dict[str, Any]:
    """The ML steps of the assets, each timed: training, then scoring and analyses."""
    cfg = MLConfig.from_dict(load_settings().ml)
    metrics = load_settings().metrics
    defaults = {k: float(metrics[f"bkt_{k}"]) for k in ("p_init", "p_transit", "p_guess",
                                                         "p_slip")}
    con = connect(warehouse)
    training: dict[str, float] = {}
    scoring: dict[str, float] = {}
    figures: dict[str, Any] = {}
    try:
        events, users = con.execute(
            "select count(*), count(distinct user_id) from staging.stg_events").fetchall()[0]
        _timed(training, "user_features", pipeline.build_user_features, con, cfg)
        trained = _timed(training, "train_models", pipeline.train_models, con, cfg, True)
        for name, fn, *extra in (
            ("churn_predictions", pipeline.score_churn),
            ("goal_success_predictions", pipeline.score_goal_success),
            ("ltv_predictions", pipeline.score_ltv),
            ("engagement_forecast", pipeline.forecast_engagement),
            ("metric_anomalies", pipeline.detect_metric_anomalies),
            ("user_behaviour_anomalies", pipeline.detect_user_anomalies),
            ("user_segments", pipeline.segment_users),
            ("experiment_analysis", pipeline.analyse_experiments,
             int(metrics["experiment_conversion_window_days"]), "UTC"),
            ("bkt_params", pipeline.fit_bkt_params, defaults),
            ("engagement_drivers", pipeline.engagement_drivers),
            ("insights", pipeline.generate_insights),
        ):
            value = _timed(scoring, name, fn, con, cfg, *extra)
            if name in ("engagement_forecast", "experiment_analysis"):
                figures[name] = value
        figures["models"] = trained
    finally:
        con.close()
    return {
        "events_in_staging": events,
        "users": users,
        "threads": cfg.threads,
        "training_s": round(sum(training.values()), 2),
        "scoring_s": round(sum(scoring.values()), 2),
        "training_steps": training,
        "scoring_steps": scoring,
        "figures": pipeline.mlio.clean_json(figures),
    }


def main() -> None:
    settings = MLConfig.from_dict(load_settings().ml).as_params()
    run_sizes(__doc__, measure, report_name="ml_timings.json", extra={"settings": settings})


if __name__ == "__main__":
    main()
