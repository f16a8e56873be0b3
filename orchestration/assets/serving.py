"""The publish: marts (and ml tables) copied to the serving database BI tools read.

Runs only downstream of passed blocking checks (Dagster skips it otherwise), and checks
the gate itself under the writer lock (data_quality/gate.py): no blocking failure in the
latest validations, every loaded day validated, every table exactly as validated. A
refusal names the table, the expectation and the observed value.
"""


import dagster as dg

from data_quality.gate import publish_blockers
from data_quality.mart_suites import MART_SUITES
from ingest.landing import landing_entities
from orchestration.assets.ml import ml_assets
from orchestration.keys import (
    ALERTS_KEY,
    BKT_PARAMS_KEY,
    SERVING_KEY,
    mart_key,
    ml_key,
    report_key,
)
from orchestration.resources import ServingResource, WarehouseResource
from orchestration.semantic import store_semantic_manifest
from serving.publish import publish

ML_TABLES = [k.path[-1] for a in ml_assets for k in a.keys] + [BKT_PARAMS_KEY.path[-1]]


class PublishBlocked(dg.Failure):
    """The data-quality gate refuses the publish."""


@dg.asset(
    key=SERVING_KEY,
    deps=[*(mart_key(name) for name in MART_SUITES), *(ml_key(t) for t in ML_TABLES),
          report_key("daily"), report_key("weekly"), report_key("monthly"),
          report_key("quarterly"), ALERTS_KEY],
    group_name="serving",
    kinds={"duckdb"},
    description="The serving database (INSIGHTS_SERVING_DB): schemas marts and ml, the "
    "latest data-quality results, the reports index and the alerts, replaced atomically, "
    "for BI tools and analysts; plus one Parquet file per mart in parquet/ beside it "
    "(marts.events: a folder of event_date partitions).",
)
def serving_database(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    serving: ServingResource,
) -> dg.MaterializeResult:
    with warehouse.writer(holder=f"run {context.run_id} (publish)") as con:
        problems = publish_blockers(
            con, entities=landing_entities(), marts=list(MART_SUITES), ml_tables=ML_TABLES
        )
        if problems:
            shown = problems[:10] + ([f"... and {len(problems) - 10} more"]
                                     if len(problems) > 10 else [])
            raise PublishBlocked(
                description="publish blocked by the data-quality gate:\n" + "\n".join(shown),
                metadata={"problems": len(problems)},
            )
        store_semantic_manifest(con)  # for the metrics catalogue the publish writes
        result = publish(con, serving.file, run_id=context.run_id,
                         parquet_dir=serving.parquet_dir)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.target)),
            "tables": len(result.tables),
            "rows": sum(result.tables.values()),
            "seconds": round(result.seconds, 3),
            "parquet_files": len(result.parquet),
            "parquet_dir": dg.MetadataValue.path(str(serving.parquet_dir)),
            "row_counts": dg.MetadataValue.json(result.tables),
        }
    )
