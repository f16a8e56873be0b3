"""The Dagster definitions load, and the asset graph is the one we mean (pinned)."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import defs

ENTITIES = [
    "content_metrics", "creators", "enrollments", "events", "experiment_assignments",
    "payments", "programs", "users",
]
STAGING = [
    "stg_content_metrics", "stg_creators", "stg_enrollments", "stg_events",
    "stg_experiment_assignments", "stg_load_audit", "stg_payments", "stg_programs",
    "stg_rejects", "stg_users",
]


def graph():
    return defs.resolve_asset_graph()


def keys(prefix: str) -> set[str]:
    return {
        k.to_user_string()
        for k in graph().get_all_asset_keys()
        if k.path[0] == prefix
    }


def test_landing_raw_and_staging_assets_are_pinned():
    assert keys("landing") == {f"landing/{e}" for e in ENTITIES}
    assert keys("raw") == {f"raw/{e}" for e in [*ENTITIES, "rejects", "load_audit"]}
    assert keys("staging") == {f"staging/{m}" for m in STAGING}
    assert "marts/engagement_daily" in keys("marts")


def test_lineage_runs_from_landing_files_to_the_mart():
    g = graph()
    mart = dg.AssetKey(["marts", "engagement_daily"])
    ancestors: set[dg.AssetKey] = set()
    frontier = [mart]
    while frontier:
        key = frontier.pop()
        for parent in g.get(key).parent_keys:
            if parent not in ancestors:
                ancestors.add(parent)
                frontier.append(parent)
    assert dg.AssetKey(["staging", "stg_events"]) in ancestors
    assert dg.AssetKey(["raw", "events"]) in ancestors
    assert dg.AssetKey(["landing", "events"]) in ancestors
    assert g.get(dg.AssetKey(["raw", "events"])).parent_keys == {
        dg.AssetKey(["landing", "events"])
    }


def test_ingest_assets_are_partitioned_by_export_day_and_checked():
    g = graph()
    for entity in ENTITIES:
        node = g.get(dg.AssetKey(["raw", entity]))
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
    check_keys = {c.to_user_string() for c in g.asset_check_keys}
    assert "raw/events:reconciles" in check_keys
    assert "raw/events:no_failed_files" in check_keys
    # dbt data tests become asset checks on the mart
    assert any(c.startswith("marts/engagement_daily:") for c in check_keys)


def test_jobs_schedule_and_sensor():
    assert defs.resolve_job_def("refresh_job").partitions_def is not None
    transform = defs.resolve_job_def("transform_job")
    assert transform.partitions_def is None
    assert defs.resolve_sensor_def("landing_sensor").job_name == "refresh_job"
    assert defs.resolve_schedule_def("daily_refresh_schedule").job_name == "refresh_job"


ML_TABLES = [
    "bkt_params", "business_forecasts", "business_scenarios", "churn_predictions",
    "engagement_drivers", "engagement_forecast", "experiment_analysis", "forecast_backtest",
    "goal_success_predictions", "insights", "ltv_predictions", "metric_anomalies",
    "model_artifacts", "model_drift", "model_registry",
    "user_behaviour_anomalies", "user_features", "user_segments",
]


def test_the_flow_is_raw_dbt_ml_one_way():
    """No dbt model reads an ml table computed after dbt: the one ml table dbt reads,
    ml.bkt_params, is written by the dbt step itself before it builds."""
    g = graph()
    assert keys("ml") == {f"ml/{t}" for t in ML_TABLES}
    bkt = dg.AssetKey(["ml", "bkt_params"])
    assert bkt in g.get(dg.AssetKey(["intermediate", "int_bkt_params"])).parent_keys
    assert not g.get(bkt).is_materializable  # no op of its own between raw and dbt
    dbt_keys = {k for k in g.get_all_asset_keys()
                if k.path[0] in ("staging", "intermediate", "marts")}
    for key in dbt_keys:
        ml_parents = {p for p in g.get(key).parent_keys if p.path[0] == "ml"}
        assert ml_parents <= {bkt}, (key, ml_parents)
    assert not {p for p in g.get(dg.AssetKey(["marts", "experiment_results"])).parent_keys
                if p.path[0] == "ml"}
    assert dg.AssetKey(["staging", "stg_experiment_assignments"]) in g.get(
        dg.AssetKey(["ml", "experiment_analysis"])).parent_keys
    assert dg.AssetKey(["ml", "user_features"]) in g.get(
        dg.AssetKey(["ml", "churn_predictions"])).parent_keys


def test_dbt_builds_in_one_step_between_the_raw_checks_and_the_ml_tables():
    from dagster._core.execution.api import create_execution_plan

    plan = create_execution_plan(defs.resolve_job_def("transform_job"))
    deps = plan.get_executable_step_deps()
    assert [k for k in deps if k.startswith("dbt_models")] == ["dbt_models"]
    assert deps["dbt_models"] == {"raw_quality_checks"}
    assert "dbt_models" in deps["ml__experiment_analysis"]


def test_refresh_job_builds_dbt_in_one_step():
    """The seed and the models in one step too: no check op spans several ml steps (such
    an op sits below and above ml steps, and Dagster's cycle resolution would split dbt)."""
    from dagster._core.execution.api import create_execution_plan

    plan = create_execution_plan(defs.resolve_job_def("refresh_job"))
    deps = plan.get_executable_step_deps()
    assert [k for k in deps if k.startswith("dbt_models")] == ["dbt_models"]
    assert "raw__events" in deps["dbt_models"]
    assert "dbt_models" in deps["ml__experiment_analysis"]


def test_ml_jobs_and_schedules():
    def selected(job: str) -> set[str]:
        return {k.to_user_string()
                for k in defs.resolve_job_def(job).asset_layer.selected_asset_keys}

    # ml/bkt_params is written by the dbt step (no op of its own)
    every = {f"ml/{t}" for t in ML_TABLES} - {"ml/bkt_params"}
    assert every <= selected("refresh_job") and every <= selected("transform_job")
    assert selected("ml_training_job") == {"ml/user_features", "ml/model_registry",
                                           "ml/model_artifacts", "reports/weekly",
                                           "serving/database"}
    assert selected("ml_scoring_job") == every - {"ml/model_registry", "ml/model_artifacts"} | {
        "reports/daily", "ops/alerts", "serving/database"}
    train_sched = defs.resolve_schedule_def("ml_training_schedule")
    score_sched = defs.resolve_schedule_def("ml_scoring_schedule")
    assert train_sched.job_name == "ml_training_job" and train_sched.cron_schedule == "0 3 * * 1"
    assert score_sched.job_name == "ml_scoring_job" and score_sched.cron_schedule == "0 8 * * *"
    # the monthly and quarterly reports render once a month, then publish (after them)
    assert selected("period_reports_job") == {"reports/monthly", "reports/quarterly",
                                              "serving/database"}
    assert not {"reports/monthly", "reports/quarterly"} & selected("refresh_job")
    assert train_sched.execution_timezone == score_sched.execution_timezone == "UTC"


def test_data_quality_checks_guard_every_raw_asset_and_mart():
    g = graph()
    check_keys = {c.to_user_string() for c in g.asset_check_keys}
    for entity in ENTITIES:
        assert f"raw/{entity}:gx_contract" in check_keys
    assert "raw/events:gx_volume" in check_keys
    marts = keys("marts")
    # v2: + retention, stickiness_distribution, creators, user_identities, api_health_daily,
    # satisfaction_daily, agent_daily, content_platform_daily, content_timing,
    # session_depth_daily, path_edges, events, funnel_breakdowns, funnel_trends,
    # funnel_time_to_convert; issue 25: agent_version_daily, intent_satisfaction_daily,
    # user_engagement, failure_reasons_daily, lesson_quality_daily
    assert len(marts) == 36
    for mart in marts:
        assert f"{mart}:gx_invariants" in check_keys
        assert f"{mart}:no_personal_data" in check_keys
    blocking = {c.to_user_string() for c in g.asset_check_keys if g.get(c).blocking}
    assert "raw/events:gx_contract" in blocking and "marts/revenue_daily:gx_invariants" in blocking
    assert "raw/events:gx_volume" not in blocking  # a warning by default
    assert "raw/events:export_freshness" in check_keys  # late exports: a warning
    assert "raw/events:export_freshness" not in blocking


def test_the_publish_is_downstream_of_every_mart_and_in_both_jobs():
    g = graph()
    serving = dg.AssetKey(["serving", "database"])
    assert {k.to_user_string() for k in g.get(serving).parent_keys} == (
        keys("marts") | keys("ml") | {"reports/daily", "reports/weekly", "reports/monthly",
                                      "reports/quarterly", "ops/alerts"})
    for job in ("refresh_job", "transform_job", "ml_scoring_job"):
        assert serving in defs.resolve_job_def(job).asset_layer.selected_asset_keys


def test_every_ml_table_is_checked_for_personal_data():
    """ml/bkt_params, written by the dbt step, is validated by that step (recorded in
    ops.data_quality like a check; tests/test_ml_assets_e2e.py)."""
    check_keys = {c.to_user_string() for c in graph().asset_check_keys}
    for table in keys("ml") - {"ml/bkt_params"}:
        assert f"{table}:no_personal_data" in check_keys


def test_transform_job_validates_the_raw_layer_again_before_dbt():
    job = defs.resolve_job_def("transform_job")
    nodes = {n.name for n in job.graph.node_defs}
    assert "raw_quality_checks" in nodes
    assert "raw__events_export_freshness" in nodes  # lateness judged on every run
    # nothing is loaded: no ingest op
    assert not any(n.startswith("raw__") for n in nodes - {"raw__events_export_freshness"})
