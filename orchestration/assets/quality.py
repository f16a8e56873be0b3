"""Great Expectations suites (data_quality/) as Dagster asset checks.

Raw assets: ``gx_contract`` (blocking) on every ingest asset, plus ``gx_volume`` on
raw/events (a warning unless the settings make it blocking). Marts: ``gx_invariants``
and ``no_personal_data`` (both blocking) on every mart. A failed blocking expectation
fails its check with severity ERROR, which keeps Dagster from running anything
downstream in the run (the dbt models after raw, the publish after the marts); the
publish asset also refuses while the latest validation of any check has a blocking
failure. Every outcome is stored in ``ops.data_quality``; the HTML summary is rewritten
after each check op.
"""


import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date

import dagster as dg
import duckdb

from data_quality import store
from data_quality.checks import (
    CONTRACT,
    DRIFT,
    DRIFT_TABLES,
    INVARIANTS,
    PERSONAL,
    VOLUME,
    failed_run,
    run_mart_check,
    run_ml_check,
    run_raw_check,
    run_table_checks,
)
from data_quality.html_summary import write_summary
from data_quality.mart_suites import MART_SUITES
from data_quality.outcomes import (
    BLOCKING,
    WARNING,
    Outcome,
    as_records,
    failures,
    summary_message,
)
from ingest.landing import EVENTS, landing_entities
from orchestration.assets.ml import ml_assets
from orchestration.keys import mart_key, raw_key
from orchestration.partitions import run_export_days
from orchestration.resources import ReportsResource, WarehouseResource
from warehouse.failpoints import failpoint
from warehouse.settings import load_settings


def _key_str(key: dg.AssetCheckKey) -> str:
    return key.asset_key.to_user_string()


def check_result(
    key: dg.AssetCheckKey, outcomes: Sequence[Outcome], *, blocking: bool, seconds: float
) -> dg.AssetCheckResult:
    """Passed when every expectation passed; ERROR (blocks downstream) when a blocking
    expectation failed on a blocking check, else WARN."""
    failed = failures(outcomes)
    blocked = blocking and any(o.severity == BLOCKING for o in failed)
    return dg.AssetCheckResult(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if blocked else dg.AssetCheckSeverity.WARN,
        description=summary_message(outcomes),
        metadata={
            "expectations": len(outcomes),
            "failed": len(failed),
            "blocking_failed": sum(o.severity == BLOCKING for o in failed),
            "seconds": round(seconds, 3),
            # JSON, not markdown: failing values come from the exports and must stay inert
            "failures": dg.MetadataValue.json(as_records(failed[:50])),
        },
    )


def _days_for(
    con: duckdb.DuckDBPyConnection, key: dg.AssetCheckKey, entity: str, run_days: list[date]
) -> list[date]:
    """The run's export days, every day whose latest load this check has not validated
    (a check that crashed or did not run after a load), and every day whose latest
    validation failed a blocking expectation (validated again until it passes, e.g. after
    a threshold was changed)."""
    days = set(run_days)
    days |= set(store.unvalidated_days(con, entity, key.name))
    days |= set(store.failing_days(con, _key_str(key), key.name))
    return sorted(days)


def _failed_run(key: dg.AssetCheckKey, exc: Exception, severity: str) -> list[Outcome]:
    return failed_run(".".join(key.asset_key.path), exc, severity)


def raw_check_specs() -> list[dg.AssetCheckSpec]:
    cfg = load_settings().data_quality
    specs = [
        dg.AssetCheckSpec(
            CONTRACT,
            asset=raw_key(entity),
            blocking=True,
            description="Great Expectations: the contract's fields, types, ranges, keys and "
            "enums on the current rows of the run's export days, and their reject rate.",
        )
        for entity in landing_entities()
    ]
    specs.append(
        dg.AssetCheckSpec(
            VOLUME,
            asset=raw_key(EVENTS),
            blocking=cfg.volume_blocking,
            description="Great Expectations: each export day's events within a band of the "
            "same weekday's history.",
        )
    )
    return specs


@dg.multi_asset_check(
    specs=raw_check_specs(),
    can_subset=True,
    name="raw_quality_checks",
    description="Great Expectations suites on the raw layer (data_quality/raw_suites.py).",
)
def raw_quality_checks(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    reports: ReportsResource,
) -> Iterator[dg.AssetCheckResult]:
    settings = load_settings()
    cfg = settings.data_quality
    run_days = run_export_days(context.run.tags)
    with warehouse.writer(holder=f"run {context.run.run_id} (raw checks)") as con:
        for key in sorted(context.selected_asset_check_keys, key=str):
            entity = key.asset_key.path[-1]
            started = time.perf_counter()
            severity = WARNING if key.name == VOLUME and not cfg.volume_blocking else BLOCKING
            try:
                days = _days_for(con, key, entity, run_days)
                outcomes = run_raw_check(con, entity, key.name, days, cfg,
                                         settings.ingest.future_tolerance_days)
            except Exception as exc:
                days, outcomes = [], _failed_run(key, exc, severity)
            seconds = time.perf_counter() - started
            store.record(con, outcomes, asset_key=_key_str(key), check_name=key.name,
                         run_id=context.run.run_id, days=days)
            failpoint("checks.raw.recorded")  # N-th raw check recorded, the others not
            context.log.info("%s %s: %s", _key_str(key), key.name,
                             summary_message(outcomes).splitlines()[0])
            blocking = key.name != VOLUME or cfg.volume_blocking
            yield check_result(key, outcomes, blocking=blocking, seconds=seconds)
        write_summary(con, reports.data_quality_page)


def _table_checks(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    reports: ReportsResource,
    schema: str,
    run: Callable[[duckdb.DuckDBPyConnection, str, str], list[Outcome]],
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks of tables of ``schema``, run and recorded in turn by
    :func:`data_quality.checks.run_table_checks` (the personal-data checks validated
    together, one fingerprint per table), each a check result."""
    keys = {(k.asset_key.path[-1], k.name): k for k in context.selected_asset_check_keys}
    ordered = sorted(keys.items(), key=lambda item: str(item[1]))
    with warehouse.writer(holder=f"run {context.run.run_id} ({schema} checks)") as con:
        for table, check, outcomes, seconds in run_table_checks(
                con, schema, [pair for pair, _ in ordered], run, context.run.run_id):
            failpoint(f"checks.{schema}.recorded")  # e.g. checks.marts.recorded:N
            yield check_result(keys[(table, check)], outcomes, blocking=True, seconds=seconds)
        write_summary(con, reports.data_quality_page)


def mart_check_specs() -> list[dg.AssetCheckSpec]:
    specs = []
    for name in MART_SUITES:
        specs.append(dg.AssetCheckSpec(
            INVARIANTS, asset=mart_key(name), blocking=True,
            description="Great Expectations: the invariants of metrics.md on this mart "
            "(data_quality/mart_suites.py).",
        ))
        specs.append(dg.AssetCheckSpec(
            PERSONAL, asset=mart_key(name), blocking=True,
            description="No email or display name (by column name, by value, or shaped "
            "like an email address) in this mart.",
        ))
    return specs


@dg.multi_asset_check(
    specs=mart_check_specs(),
    can_subset=True,
    name="mart_quality_checks",
    description="Great Expectations suites on the marts (data_quality/mart_suites.py, "
    "data_quality/privacy.py).",
)
def mart_quality_checks(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    reports: ReportsResource,
) -> Iterator[dg.AssetCheckResult]:
    yield from _table_checks(context, warehouse, reports, "marts", run_mart_check)


def ml_check_specs(asset: dg.AssetsDefinition) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            PERSONAL, asset=key, blocking=True,
            description="No email or display name (by column name, by value, or shaped "
            "like an email address) in this ml table, which the serving database publishes.",
        )
        for key in asset.keys
    ] + [
        dg.AssetCheckSpec(
            DRIFT, asset=key, blocking=False,
            description="Model monitoring: a warning when a model's input features or "
            "prediction distribution moved between training and scoring (PSI).",
        )
        for key in asset.keys if key.path[-1] in DRIFT_TABLES
    ]


def _ml_checks(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """The checks of one ml step's tables, in an op of their own: one op checking every ml
    table would sit both below and above ml steps (its blocking checks gate the next
    ones), and Dagster would split the dbt build of refresh_job around such a loop."""

    @dg.multi_asset_check(
        specs=ml_check_specs(asset),
        can_subset=True,
        name=f"{asset.node_def.name}_quality_checks",
        description="Personal data never reaches an ml table (data_quality/privacy.py).",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        reports: ReportsResource,
    ) -> Iterator[dg.AssetCheckResult]:
        yield from _table_checks(context, warehouse, reports, "ml", run_ml_check)

    return _checks


ml_quality_checks = [_ml_checks(asset) for asset in ml_assets]

quality_checks = [raw_quality_checks, mart_quality_checks, *ml_quality_checks]
