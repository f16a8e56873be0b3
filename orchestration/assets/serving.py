"""The publish: marts (and ml tables) copied to the serving database BI tools read.

Runs only downstream of passed blocking checks (Dagster skips it otherwise), and
refuses on its own while the latest validation of any check has a blocking failure,
with a message that names the table, the expectation and the observed value.
"""


import dagster as dg

from data_quality.mart_suites import MART_SUITES
from data_quality.outcomes import summary_message
from data_quality.store import blocking_failures
from orchestration.assets.ml import ml_assets
from orchestration.assets.quality import mart_key
from orchestration.resources import ServingResource, WarehouseResource
from serving.publish import publish

SERVING_KEY = dg.AssetKey(["serving", "database"])


class PublishBlocked(dg.Failure):
    """The latest data-quality validation has a blocking failure."""


@dg.asset(
    key=SERVING_KEY,
    deps=[*(mart_key(name) for name in MART_SUITES), *(k for a in ml_assets for k in a.keys)],
    group_name="serving",
    kinds={"duckdb"},
    description="The serving database (INSIGHTS_SERVING_DB): schemas marts and ml and the "
    "latest data-quality results, replaced atomically, for BI tools and analysts.",
)
def serving_database(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    serving: ServingResource,
) -> dg.MaterializeResult:
    with warehouse.writer(holder=f"run {context.run_id} (publish)") as con:
        failed = blocking_failures(con)
        if failed:
            raise PublishBlocked(
                description="publish blocked by failed blocking data-quality checks:\n"
                + summary_message(failed, limit=10),
                metadata={"blocking_failures": len(failed)},
            )
        result = publish(con, serving.file, run_id=context.run_id)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.target)),
            "tables": len(result.tables),
            "rows": sum(result.tables.values()),
            "seconds": round(result.seconds, 3),
            "row_counts": dg.MetadataValue.json(result.tables),
        }
    )
