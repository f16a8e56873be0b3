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


def test_data_quality_checks_guard_every_raw_asset_and_mart():
    g = graph()
    check_keys = {c.to_user_string() for c in g.asset_check_keys}
    for entity in ENTITIES:
        assert f"raw/{entity}:gx_contract" in check_keys
    assert "raw/events:gx_volume" in check_keys
    marts = keys("marts")
    assert len(marts) == 16
    for mart in marts:
        assert f"{mart}:gx_invariants" in check_keys
        assert f"{mart}:no_personal_data" in check_keys
    blocking = {c.to_user_string() for c in g.asset_check_keys if g.get(c).blocking}
    assert "raw/events:gx_contract" in blocking and "marts/revenue_daily:gx_invariants" in blocking
    assert "raw/events:gx_volume" not in blocking  # a warning by default


def test_the_publish_is_downstream_of_every_mart_and_in_both_jobs():
    g = graph()
    serving = dg.AssetKey(["serving", "database"])
    assert {k.to_user_string() for k in g.get(serving).parent_keys} == keys("marts")
    for job in ("refresh_job", "transform_job"):
        assert serving in defs.resolve_job_def(job).asset_layer.selected_asset_keys
