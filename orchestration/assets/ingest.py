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

from ingest.landing import EVENTS, landing_entities, scan_landing
from ingest.loader import load_day
from ingest.results import DayLoadResult
from ingest.state import loaded_signatures, needs_load
from orchestration.partitions import export_days
from orchestration.resources import LandingResource, WarehouseResource
from orchestration.settings import load_settings

# single-run backfills (a range of export days in one run) are what the CLI uses
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")

RAW_GROUP = "raw"
LANDING_GROUP = "landing"


class IngestConfig(dg.Config):
    reload: bool = Field(
        default=False, description="Reload days even when their files are unchanged."
    )


def landing_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["landing", entity])


def raw_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", entity])


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


def _metadata(results: list[DayLoadResult], skipped: dict[str, list[str]]) -> dict:
    totals = {
        name: sum(r.total(name) for r in results)
        for name in ("records_read", "loaded", "rejected", "duplicates", "blank_lines")
    }
    reasons: dict[str, int] = {}
    for r in results:
        for code, n in r.rejects_by_reason.items():
            reasons[code] = reasons.get(code, 0) + n
    failed = [f"{f.source_file}: {f.message}" for r in results for f in r.failed_files]
    return {
        **{k: dg.MetadataValue.int(v) for k, v in totals.items()},
        "days_loaded": dg.MetadataValue.int(len(results)),
        "rejects_by_reason": dg.MetadataValue.json(reasons),
        "failed_files": dg.MetadataValue.json(failed),
        **{f"days_skipped_{why}": dg.MetadataValue.json(days) for why, days in skipped.items()},
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
                description="No landing file of these days was unreadable as a whole.",
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
        wanted = partition_dates(context)
        found = {d.export_date: d for d in scan_landing(landing.root, (entity,))}
        results: list[DayLoadResult] = []
        skipped: dict[str, list[str]] = {"missing": [], "incomplete": [], "unchanged": []}
        with warehouse.writer(holder=f"run {context.run_id} ({entity})") as con:
            loaded = loaded_signatures(con, entity)
            for i, day_date in enumerate(wanted, start=1):
                day = found.get(day_date)
                if day is None:
                    skipped["missing"].append(day_date.isoformat())
                    continue
                if not day.complete:
                    context.log.warning(
                        f"{entity} {day_date}: no _SUCCESS yet in {day.path}; not loaded"
                    )
                    skipped["incomplete"].append(day_date.isoformat())
                    continue
                if not config.reload and not needs_load(landing.root, day, loaded):
                    skipped["unchanged"].append(day_date.isoformat())
                    continue
                result = load_day(
                    con,
                    landing.root,
                    day,
                    run_id=context.run_id,
                    late_days=settings.late_event_max_days,
                    future_days=settings.future_tolerance_days,
                    progress=context.log.debug,
                )
                results.append(result)
                s = result.summary()
                context.log.info(
                    f"[{i}/{len(wanted)}] {entity} {day_date}: {s['records_read']:,} read, "
                    f"{s['loaded']:,} loaded, {s['rejected']:,} rejected, "
                    f"{s['duplicates']:,} duplicates, {s['failed_files']} failed files"
                )
                for f in result.failed_files:
                    context.log.warning(f"{entity} {day_date}: file failed: {f.message}")
        unbalanced = [
            f"{f.source_file}: read {f.records_read} != loaded {f.loaded} + rejected "
            f"{f.rejected} + duplicates {f.duplicates}"
            for r in results
            for f in r.files
            if not f.reconciles
        ]
        failed = [f"{f.source_file}: {f.message}" for r in results for f in r.failed_files]
        return dg.MaterializeResult(
            metadata=_metadata(results, skipped),
            check_results=[
                dg.AssetCheckResult(
                    check_name="reconciles",
                    passed=not unbalanced,
                    metadata={"unbalanced_files": dg.MetadataValue.json(unbalanced)},
                ),
                dg.AssetCheckResult(
                    check_name="no_failed_files",
                    passed=not failed,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"failed_files": dg.MetadataValue.json(failed)},
                ),
            ],
        )

    return _ingest


ingest_assets = [build_ingest_asset(entity) for entity in landing_entities()]
