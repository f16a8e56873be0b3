"""The ML assets end to end on generated data: real DuckDB, dbt and Dagster.

Raw tables are loaded from a generated sample, then ``transform_job`` runs in process:
dbt fits ml.bkt_params from the raw layer and builds the models in one step, then the
ML assets fill every other ``ml`` table.

The sample plants a churn signal a recency-only model cannot see (``PlantedIncidents.
churn_hazard_by_plan``: free users' daily churn hazard x6, paying users' x0.05), besides
the generator's own truths (the experiment's lift, the BKT parameters of every topic);
the tests check the models against them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from ingest.batch import load_entity_days
from ingest.landing import landing_entities, scan_landing
from ingest.loader import ensure_schema
from sample_exports import PlantedIncidents, generate_exports
from tests.dbt_support import isolate_dbt_env
from warehouse.db import connect

log = logging.getLogger(__name__)

pytestmark = pytest.mark.slow  # a whole pipeline run: not in the quick lane (README, -m "not slow")

ML_TABLES = {
    "user_features", "model_registry", "model_artifacts", "churn_predictions",
    "goal_success_predictions", "ltv_predictions", "engagement_forecast", "forecast_backtest",
    "metric_anomalies", "user_behaviour_anomalies", "user_segments", "experiment_analysis",
    "bkt_params", "engagement_drivers", "insights", "business_forecasts", "business_scenarios",
    "model_drift",
}
SPEC_COLUMNS = {  # ../shared/spec/marts.md: the ml tables and their columns at least
    "churn_predictions": {"user_id", "as_of_date", "churn_probability", "risk_band",
                          "model_version"},
    "engagement_forecast": {"date", "creator_id", "metric", "forecast", "lower_80", "upper_80",
                            "lower_95", "upper_95", "model_version"},
    "metric_anomalies": {"date", "creator_id", "metric", "value", "expected", "score",
                         "direction", "severity"},
    "user_segments": {"user_id", "as_of_date", "segment", "segment_label"},
    "insights": {"insight_id", "as_of_date", "creator_id", "kind", "title", "description",
                 "recommendation", "metric", "evidence", "significance", "impact", "rank"},
    "model_registry": {"model_name", "model_version", "trained_at", "train_rows", "metrics",
                       "baseline_metrics", "params"},
}


#: the planted churn signal: daily churn hazard multipliers of free, pro and team users
CHURN_BY_PLAN = (6.0, 0.05, 0.05)
#: floor of the churn model's test AUC on this data (measured 0.84; recency alone 0.79)
CHURN_AUC_FLOOR = 0.75
#: BKT: attempt-weighted mean absolute error of each fitted parameter against the true
#: one, the error allowed on a topic with at least BKT_WELL_MEASURED attempts, and on any
#: fitted topic (measured: 0.03, 0.04 and 0.08 at most)
BKT_MEAN_ERROR, BKT_TOPIC_ERROR, BKT_ANY_ERROR, BKT_WELL_MEASURED = 0.05, 0.08, 0.15, 500


def _transform(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    return defs.resolve_job_def("transform_job").execute_in_process(
        instance=instance, raise_on_error=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("ml_e2e")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    manifest = generate_exports(landing, seed=21, users=600, days=58,
                                incidents=PlantedIncidents(churn_hazard_by_plan=CHURN_BY_PLAN))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSIGHTS_LANDING_DIR", str(landing))
        mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        isolate_dbt_env(mp, warehouse)
        con = connect(warehouse)
        ensure_schema(con)
        days = sorted({d.export_date for d in scan_landing(landing) if d.complete})
        for entity in landing_entities():
            load_entity_days(con, landing, entity, days, info=log.debug)
        con.close()
        instance = dg.DagsterInstance.ephemeral()
        result = _transform(instance)
        yield warehouse, result, manifest, instance


def _con(warehouse: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse), read_only=True)


def test_the_run_builds_dbt_around_the_ml_tables_and_fills_every_one(built):
    warehouse, result, _, _ = built
    assert result.success
    steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
    # dbt runs once, before every ml step
    assert [s for s in steps if s.startswith("dbt_models")] == ["dbt_models"]
    assert steps.index("dbt_models") < steps.index("ml__experiment_analysis")
    con = _con(warehouse)
    try:
        counts = {t: con.execute(f"select count(*) from ml.{t}").fetchall()[0][0]
                  for t in ML_TABLES}
        assert not [t for t, n in counts.items() if n == 0], counts
        for table, cols in SPEC_COLUMNS.items():
            got = {r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = 'ml' "
                "and table_name = ?", [table]).fetchall()}
            assert cols <= got, (table, cols - got)
        # topic_mastery used the fitted parameters of ml.bkt_params (via int_bkt_params)
        fitted = con.execute(
            "select count(*) from marts.topic_mastery m join ml.bkt_params p using (topic) "
            "where m.params_source = 'fitted'").fetchall()[0][0]
        assert fitted > 0
        assert con.execute("select count(*) from marts.topic_mastery where topic not in "
                           "(select topic from ml.bkt_params) and params_source <> 'default'"
                           ).fetchall()[0][0] == 0
        # the dbt step validated the table it wrote, as the publish gate requires
        assert con.execute(
            "select count(*) from ops.data_quality_checks where asset_key = 'ml/bkt_params' "
            "and check_name = 'no_personal_data' and status = 'passed'").fetchone()[0] == 1
    finally:
        con.close()


def test_the_bkt_fit_reads_the_attempts_of_int_exercise_attempts(built):
    """ml.bkt_params is fitted from the raw layer before dbt builds: its SQL must select the
    same attempts (resolved users, order) as the dbt model topic_mastery reads."""
    from models_ml.analyse import BKT_ATTEMPTS_SQL

    warehouse, *_ = built
    con = _con(warehouse)
    try:
        cols = "topic, user_id, attempt_number, cast(is_correct as double) as is_correct"
        fitted = con.execute(f"select {cols} from ({BKT_ATTEMPTS_SQL})", [0]).df()
        model = con.execute(f"select {cols} from intermediate.int_exercise_attempts").df()
        assert len(fitted) == len(model) > 0
        key = ["topic", "user_id", "attempt_number"]
        pd.testing.assert_frame_equal(fitted.sort_values(key).reset_index(drop=True),
                                      model.sort_values(key).reset_index(drop=True),
                                      check_dtype=False)
    finally:
        con.close()


def test_models_are_registered_beside_their_baselines(built):
    warehouse, *_ = built
    con = _con(warehouse)
    try:
        reg = con.execute("select * from ml.model_registry").df()
        for name in ("churn", "goal_success"):
            rows = reg[reg["model_name"] == name]
            row = rows[~rows["model_version"].str.endswith("-baseline")].iloc[0]
            metrics, base = json.loads(row["metrics"]), json.loads(row["baseline_metrics"])
            for key in ("roc_auc", "pr_auc", "brier", "lift_top_decile"):
                assert key in metrics and key in base
            # published only when the bootstrap interval of the AUC gain excludes zero
            assert bool(row["beats_baseline"]) == (metrics["auc_gain_low"] > 0)
            assert metrics["auc_gain_low"] <= metrics["auc_gain"] <= metrics["auc_gain_high"]
            assert row["metric_value"] == pytest.approx(metrics["roc_auc"])
            assert row["baseline_value"] == pytest.approx(base["roc_auc"])
            assert row["lift_at_10"] == pytest.approx(metrics["lift_top_decile"])
            assert json.loads(row["reliability"]) and row["decision"]
            assert bool(row["published"]) == bool(row["beats_baseline"])
            assert row["model_version"].startswith(f"{name}-")
            # a model that loses is flagged and its baseline published as its own row
            assert len(rows) == (1 if row["beats_baseline"] else 2)
            assert (rows["model_version"].str.endswith("-baseline").any()
                    == (not row["beats_baseline"]))
            assert rows["published"].astype(bool).sum() == 1
        # LTV: every candidate registered on the same split, the lowest error published
        ltv = reg[reg["model_name"] == "ltv"]
        assert ltv["published"].astype(bool).sum() == 1
        if len(ltv) > 1:
            best = ltv.loc[ltv["metric_value"].idxmin()]
            assert bool(best["published"]) and len(set(ltv["split_date"])) == 1
        pred = con.execute("select * from ml.ltv_predictions").df()
        assert "predicted_revenue_90d" in pred and (pred["predicted_revenue_90d"] >= 0).all()
        assert set(pred["model_version"]) == set(ltv.loc[ltv["published"].astype(bool),
                                                         "model_version"])
        assert con.execute("select count(*) from ml.ltv_predictions_90d").fetchone()[0] == len(
            pred)
        churn = con.execute("select * from ml.churn_predictions").df()
        assert churn["churn_probability"].between(0, 1).all()
        assert set(churn["risk_band"]) <= {"low", "medium", "high"}
        published = reg[(reg["model_name"] == "churn") & reg["published"].astype(bool)]
        assert set(churn["model_version"]) == set(published["model_version"])
        assert con.execute("select count(*) from ml.model_artifacts where model_version = ?",
                           [published["model_version"].iloc[0]]).fetchall()[0][0] == 1
        fc = con.execute("select * from ml.engagement_forecast").df()
        assert (fc.groupby(["creator_id", "metric"]).size() == 30).all()
        assert (fc["lower_95"] <= fc["lower_80"] + 1e-9).all()
        assert ((fc["lower_80"] <= fc["forecast"] + 1e-9)
                & (fc["forecast"] <= fc["upper_80"] + 1e-9)).all()
        assert (fc["upper_80"] <= fc["upper_95"] + 1e-9).all()
    finally:
        con.close()


def test_the_churn_model_finds_the_planted_churn_signal_and_is_published(built):
    """On data whose churn depends on the plan (which a recency-only baseline cannot see)
    the churn model's test AUC is above the floor, the model itself is published (not
    its baseline) and scores free users, who churn six times faster, as likelier to
    churn than paying users, who hardly churn."""
    warehouse, *_ = built
    con = _con(warehouse)
    try:
        reg = con.execute("select * from ml.model_registry where model_name = 'churn'").df()
        published = reg[reg["published"].astype(bool)]
        assert len(published) == 1, reg[["model_version", "published", "decision"]]
        version = published["model_version"].iloc[0]
        assert not version.endswith("-baseline"), published["decision"].iloc[0]
        metrics = json.loads(published["metrics"].iloc[0])
        assert metrics["roc_auc"] >= CHURN_AUC_FLOOR, metrics["roc_auc"]
        by_plan = dict(con.execute(
            "select u.plan, avg(p.churn_probability) from ml.churn_predictions as p "
            "join staging.stg_users as u using (user_id) group by u.plan").fetchall())
        versions = {r[0] for r in con.execute(
            "select distinct model_version from ml.churn_predictions").fetchall()}
    finally:
        con.close()
    assert versions == {version}
    assert by_plan["free"] > max(by_plan["pro"], by_plan["team"]) + 0.1, by_plan


def test_fitted_bkt_parameters_are_near_the_planted_ones(built):
    """ml.bkt_params (EM on the generated attempts) against the generator's true guess,
    slip and learning probabilities per topic (the manifest's ``bkt_true_params``; the
    simulator also varies learning speed by user, so p_transit is a population mean).
    Stated tolerance: attempt-weighted mean absolute error at most BKT_MEAN_ERROR per
    parameter, at most BKT_TOPIC_ERROR on every topic with BKT_WELL_MEASURED attempts or
    more, at most BKT_ANY_ERROR on any fitted topic."""
    warehouse, _, manifest, _ = built
    truth = manifest.truth["bkt_true_params"]
    con = _con(warehouse)
    try:
        fitted = con.execute("select topic, p_guess, p_slip, p_transit, attempts "
                             "from ml.bkt_params").df()
    finally:
        con.close()
    assert len(fitted) >= 8, fitted
    weights = fitted["attempts"].to_numpy(float)
    well = weights >= BKT_WELL_MEASURED
    assert well.any()
    for param in ("p_guess", "p_slip", "p_transit"):
        true = fitted["topic"].map(lambda t, k=param: truth[t][k]).to_numpy(float)
        err = np.abs(fitted[param].to_numpy(float) - true)
        log.info("%s: weighted mean error %.3f, max %.3f", param,
                 np.average(err, weights=weights), err.max())
        assert np.average(err, weights=weights) <= BKT_MEAN_ERROR, (param, err)
        assert err[well].max() <= BKT_TOPIC_ERROR, (param, fitted["topic"][well], err[well])
        assert err.max() <= BKT_ANY_ERROR, (param, err)


def test_the_planted_incident_is_found(built):
    warehouse, _, manifest, _ = built
    truth = json.loads(manifest.manifest_path.read_text())["truth"]["incident"]
    con = _con(warehouse)
    try:
        found = con.execute(
            "select creator_id, direction, severity from ml.metric_anomalies "
            "where metric = 'response_time_p95' and date = ?", [truth["date"]]).fetchall()
    finally:
        con.close()
    assert (truth["creator_id"], "up", "high") in found


def test_the_experiment_analysis_agrees_with_the_mart_and_adds_the_corrections(built):
    warehouse, *_ = built
    con = _con(warehouse)
    try:
        mart = con.execute("select * from marts.experiment_results order by variant").df()
        py = con.execute("select * from ml.experiment_analysis where is_primary "
                         "order by variant").df()
        assert list(mart["users"]) == list(py["users"])
        assert list(mart["conversions"]) == list(py["conversions"])
        treat = mart[~mart["is_control"]].iloc[0]
        ptreat = py[~py["is_control"]].iloc[0]
        assert treat["p_value"] == pytest.approx(ptreat["p_value"], abs=1e-6)
        # Holm, power and MDE live in the ml table only: no mart reads an ml table
        assert ptreat["p_value_holm"] >= ptreat["p_value"] - 1e-12
        assert ptreat["metrics_tested"] == 4 and ptreat["mde"] > 0
        assert not {"p_value_holm", "power", "mde", "mde_lift"} & set(mart.columns)
        assert ptreat["msprt_p_value"] >= ptreat["p_value"] - 1e-12
        assert 0 <= ptreat["prob_beat_control"] <= 1 and bool(ptreat["srm_ok"])
        rev = con.execute("select * from ml.experiment_analysis "
                          "where metric_kind = 'continuous' and not is_control").df()
        assert len(rev) == 1 and rev["test"].iloc[0] in {"welch", "cuped_welch"}
        assert rev["ci_low"].iloc[0] <= rev["mean_difference"].iloc[0] <= rev["ci_high"].iloc[0]
    finally:
        con.close()


def test_the_experiment_interval_covers_the_planted_lift(built):
    """The generator plants a relative lift on the primary conversion metric; the 95 %
    interval of the difference, divided by the observed control rate, covers it."""
    warehouse, _, manifest, _ = built
    truth = manifest.truth["experiment"]
    con = _con(warehouse)
    try:
        py = con.execute("select * from ml.experiment_analysis where is_primary "
                         "and metric_kind = 'conversion' order by variant").df()
    finally:
        con.close()
    ctrl = py[py["is_control"]].iloc[0]
    treat = py[~py["is_control"]].iloc[0]
    p0 = ctrl["conversion_rate"]
    lo, hi = treat["ci_low"] / p0, treat["ci_high"] / p0
    log.info("planted lift %.3f, interval [%.3f, %.3f]", truth["true_relative_lift"], lo, hi)
    assert lo <= truth["true_relative_lift"] <= hi


def test_the_forecast_backtest_names_the_published_method_and_any_fallback(built):
    warehouse, *_ = built
    con = _con(warehouse)
    try:
        bt = con.execute("select * from ml.forecast_backtest").df()
        fc = con.execute("select distinct creator_id, metric, method "
                         "from ml.engagement_forecast").df()
    finally:
        con.close()
    assert {"mase_ets", "mase_theta", "mase_seasonal_naive", "best_model",
            "fallback_reason", "backtest_origins"} <= set(bt.columns)
    merged = bt.merge(fc, on=["creator_id", "metric"])
    assert len(merged) == len(bt) and (merged["chosen"] == merged["method"]).all()
    for r in bt.itertuples():
        if r.chosen != "seasonal_naive":  # a published model beat the naive forecast
            assert getattr(r, f"mase_{r.chosen}") < r.mase_seasonal_naive
            assert pd.isna(r.fallback_reason)
        else:
            assert isinstance(r.fallback_reason, str) and r.fallback_reason


def test_a_second_run_is_deterministic(built):
    warehouse, _, _, instance = built
    tables = ("churn_predictions", "goal_success_predictions", "user_segments",
              "engagement_forecast", "bkt_params",
              "experiment_analysis", "engagement_drivers")

    def snapshot() -> dict[str, pd.DataFrame]:
        con = _con(warehouse)
        try:
            return {t: con.execute(f"select * exclude (fitted_at) from ml.{t}"
                                   if t == "bkt_params" else f"select * from ml.{t}").df()
                    for t in tables}
        finally:
            con.close()

    first = snapshot()
    from orchestration.definitions import defs

    for job in ("ml_training_job", "ml_scoring_job"):  # retrain (forced), then rescore
        assert defs.resolve_job_def(job).execute_in_process(instance=instance).success
    second = snapshot()
    for t in tables:
        pd.testing.assert_frame_equal(first[t], second[t], obj=t)
