"""Ingest assets: one per entity of contract v1, partitioned by export day.

Each loads the complete export days of its partition range from the landing folder
into ``raw.<entity>`` (events: ``raw.events``), with rejects in ``raw.rejects`` and the
per-file reconciliation in ``raw.load_audit``. Days whose files are unchanged since
their last load are skipped unless ``reload`` is set; days without ``_SUCCESS`` are
never loaded.
"""



import warnings
from datetime import date

import dagster as dg
from pydantic import Field

from ingest.batch import BatchResult, load_entity_days
from ingest.landing import EVENTS, landing_entities
from ingest.lines import ReadLimits
from orchestration.keys import landing_key, raw_key
from orchestration.partitions import export_days
from orchestration.resources import LandingResource, WarehouseResource
from warehouse.failpoints import failpoint
from warehouse.settings import load_settings

# single-run backfills (a range of export days in one run) are what the CLI uses
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")

RAW_GROUP = "raw"
LANDING_GROUP = "landing"


class IngestConfig(dg.Config):
    reload: bool = Field(
        default=False, description="Reload days even when their files are unchanged."
    )


def landing_specs() -> list[dg.AssetSpec]:
    """The export files themselves: external assets at the root of the lineage."""
    return [
        dg.AssetSpec(
            key=landing_key(entity),
            group_name=LANDING_GROUP,
            kinds={"file"},
            description=(
                "Raw event exports: landing/events/YYYY-MM-DD/*.ndjson|.ndjson.gz|.parquet"
                if entity == EVENTS
                else f"Platform exports: landing/platform/{entity}/YYYY-MM-DD/{entity}.csv[.gz]"
            ),
        )
        for entity in landing_entities()
    ]


def audit_specs() -> list[dg.AssetSpec]:
    """Tables every ingest asset writes into: shown in the lineage, read by dbt staging."""
    raw_keys = [raw_key(e) for e in landing_entities()]
    return [
        dg.AssetSpec(
            key=raw_key("rejects"),
            deps=raw_keys,
            group_name=RAW_GROUP,
            kinds={"duckdb"},
            description="Every rejected line or row: file, line number, reason and raw text.",
        ),
        dg.AssetSpec(
            key=raw_key("load_audit"),
            deps=raw_keys,
            group_name=RAW_GROUP,
            kinds={"duckdb"},
            description="One row per file per load: lines read = loaded + rejected + duplicates.",
        ),
    ]


def partition_dates(context: dg.AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(k) for k in context.partition_keys]


def _metadata(batch: BatchResult) -> dict:
    totals = {
        name: batch.total(name)
        for name in ("records_read", "loaded", "rejected", "duplicates", "blank_lines")
    }
    return {
        **{k: dg.MetadataValue.int(v) for k, v in totals.items()},
        "days_loaded": dg.MetadataValue.int(len(batch.results)),
        "rejects_by_reason": dg.MetadataValue.json(batch.rejects_by_reason()),
        "failed_files": dg.MetadataValue.json(batch.failed_messages),
        **{f"days_skipped_{why}": dg.MetadataValue.json(days)
           for why, days in batch.skipped.items()},
    }


def build_ingest_asset(entity: str) -> dg.AssetsDefinition:
    key = raw_key(entity)
    table = "raw.events" if entity == EVENTS else f"raw.{entity}"

    @dg.asset(
        key=key,
        deps=[landing_key(entity)],
        partitions_def=export_days,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=RAW_GROUP,
        kinds={"duckdb"},
        description=f"{table}: validated, typed rows of the {entity} exports, every copy kept "
        "with is_current marking the one that counts.",
        check_specs=[
            dg.AssetCheckSpec(
                "reconciles",
                asset=key,
                blocking=True,
                description="Per file: lines read = loaded + rejected + duplicates.",
            ),
            dg.AssetCheckSpec(
                "no_failed_files",
                asset=key,
                description="No landing file of these days failed (unreadable, too large, a "
                "line too long, not a regular file) or was read only in part (truncated "
                "compressed data): each one is listed with its reason.",
            ),
        ],
    )
    def _ingest(
        context: dg.AssetExecutionContext,
        config: IngestConfig,
        warehouse: WarehouseResource,
        landing: LandingResource,
    ) -> dg.MaterializeResult:
        settings = load_settings().ingest
        limits = ReadLimits(settings.max_file_bytes, settings.max_line_bytes)
        with warehouse.writer(holder=f"run {context.run_id} ({entity})") as con:
            batch = load_entity_days(
                con,
                landing.root,
                entity,
                partition_dates(context),
                reload=config.reload,
                run_id=context.run_id,
                future_days=settings.future_tolerance_days,
                limits=limits,
                info=context.log.info,
                warn=context.log.warning,
            )
            failpoint("ingest.entity_loaded")  # N-th entity's days committed, lock still held
        return dg.MaterializeResult(
            metadata=_metadata(batch),
            check_results=[
                dg.AssetCheckResult(
                    check_name="reconciles",
                    passed=not batch.unbalanced,
                    metadata={"unbalanced_files": dg.MetadataValue.json(batch.unbalanced)},
                ),
                dg.AssetCheckResult(
                    check_name="no_failed_files",
                    passed=not batch.failed_messages,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"failed_files": dg.MetadataValue.json(batch.failed_messages)},
                ),
            ],
        )

    return _ingest


ingest_assets = [build_ingest_asset(entity) for entity in landing_entities()]
