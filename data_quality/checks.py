"""The checks the Dagster asset checks run, by name: one function per kind of check, each
returning the outcomes of its suites (used by orchestration/assets/quality.py and the
benchmarks alike)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date

import duckdb
import pandas as pd

from data_quality import store
from data_quality.mart_suites import MART_SUITES
from data_quality.outcomes import BLOCKING, WARNING, Outcome, failures, summary_message
from data_quality.privacy import (
    judge_personal_data_frames,
    personal_data_frame,
    validate_no_personal_data,
)
from data_quality.raw_suites import validate_events, validate_platform, validate_volume
from warehouse.settings import DataQualitySettings

CONTRACT = "gx_contract"
VOLUME = "gx_volume"
INVARIANTS = "gx_invariants"
PERSONAL = "no_personal_data"
DRIFT = "psi_drift"
#: the ml tables whose rows carry a drift status, checked by DRIFT (a warning)
DRIFT_TABLES = ("model_drift",)

log = logging.getLogger(__name__)


def guarded(
    suite: str,
    table: str,
    fn: Callable[..., list[Outcome]],
    *args: object,
    severity: str = BLOCKING,
) -> list[Outcome]:
    """A suite that cannot run (a missing table, a broken query, GX or pandas failing,
    memory) is a failed outcome of the check's severity naming the error, recorded like
    any other: never a silent pass, never a crash of the other checks."""
    try:
        return fn(*args)
    except Exception as exc:
        return _could_not_run(suite, table, exc, severity)


def _could_not_run(suite: str, table: str, exc: Exception, severity: str = BLOCKING
                   ) -> list[Outcome]:
    log.error("suite %s could not run", suite, exc_info=exc)
    return [Outcome(suite, table, "", "suite_ran", "(table)", "the suite could run",
                    severity, False, f"error: {type(exc).__name__}: {exc}")]


def run_raw_check(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    check_name: str,
    days: Sequence[date],
    cfg: DataQualitySettings,
    future_days: int = 1,
) -> list[Outcome]:
    table = f"raw.{entity}"
    if check_name == VOLUME:
        return guarded(f"{table}.volume", table, validate_volume, con, days, cfg,
                       severity=BLOCKING if cfg.volume_blocking else WARNING)
    if entity == "events":
        return guarded(table, table, validate_events, con, days, cfg, future_days)
    return guarded(table, table, validate_platform, con, entity, days, cfg)


def validate_model_drift(con: duckdb.DuckDBPyConnection, table: str = "model_drift"
                         ) -> list[Outcome]:
    """One outcome per model: failed (a warning) when any of its input features or its
    prediction distribution moved (PSI status moderate or significant, ml.model_drift)."""
    name = f"ml.{table}"
    rows = con.execute(
        f"select model_name, count(*) as n, "
        f"count(*) filter (where status in ('moderate', 'significant')) as moved, "
        f"string_agg(case when status in ('moderate', 'significant') "
        f"then feature || '=' || round(psi, 3)::varchar end, ', ' order by psi desc) "
        f"as which from ml.{table} group by model_name order by model_name").fetchall()
    return [Outcome(name, name, "", "expect_population_stability", model,
                    f"{model}: every input feature and the prediction keep their "
                    "training distribution (PSI below the warning threshold)", WARNING, moved == 0,
                    f"{moved} of {n} moved" + (f": {which}" if which else ""),
                    unexpected_count=moved, element_count=n)
            for model, n, moved, which in rows]


def run_ml_check(
    con: duckdb.DuckDBPyConnection, table: str, check_name: str = PERSONAL
) -> list[Outcome]:
    """ml tables are published too: the personal-data suite on each; the drift tables
    also get the DRIFT check (a warning, never blocking)."""
    name = f"ml.{table}"
    if check_name == DRIFT:
        return guarded(f"{name}.drift", name, validate_model_drift, con, table,
                       severity=WARNING)
    return guarded(f"{name}.personal_data", name, validate_no_personal_data, con, "ml", table)


def run_mart_check(con: duckdb.DuckDBPyConnection, mart: str, check_name: str) -> list[Outcome]:
    table = f"marts.{mart}"
    if check_name == INVARIANTS:
        return guarded(table, table, MART_SUITES[mart].run, con)
    return guarded(f"{table}.personal_data", table, validate_no_personal_data, con, "marts",
                   mart)


def run_personal_checks(
    con: duckdb.DuckDBPyConnection, schema: str, tables: Sequence[str]
) -> dict[str, tuple[list[Outcome], float]]:
    """The PERSONAL check of each table of ``schema`` (marts or ml), with the outcomes
    :func:`run_mart_check` and :func:`run_ml_check` give, and its seconds: each table's
    frame from its own scan, then one GX validation of every frame when they all pass
    (``privacy.judge_personal_data_frames``; its time split evenly between the tables).
    A table whose frame cannot be computed fails alone, as under :func:`guarded`; every
    table gets its outcomes (this never raises for one table's sake)."""
    seconds: dict[str, float] = {}
    out: dict[str, list[Outcome]] = {}
    frames: dict[str, pd.DataFrame] = {}
    for table in tables:
        name = f"{schema}.{table}"
        started = time.perf_counter()
        try:
            frames[name] = personal_data_frame(con, schema, table)
        except Exception as exc:
            out[table] = _could_not_run(f"{name}.personal_data", name, exc)
        seconds[table] = time.perf_counter() - started
    started = time.perf_counter()
    try:
        judged = judge_personal_data_frames(frames)
    except Exception:  # the stacked validation failed to run: each frame alone, guarded
        log.exception("the personal-data checks of %s could not run together", schema)
        judged = {name: guarded(f"{name}.personal_data", name,
                                lambda n, f: judge_personal_data_frames({n: f})[n], name,
                                frame) for name, frame in frames.items()}
    share = (time.perf_counter() - started) / max(len(frames), 1)
    for name, outcomes in judged.items():
        table = name.split(".", 1)[1]
        out[table] = outcomes
        seconds[table] += share
    return {table: (out[table], seconds[table]) for table in tables}


def failed_run(label: str, exc: Exception, severity: str) -> list[Outcome]:
    """A check that could not run (``label``: "schema.table"), as its failed outcome."""
    return [Outcome(label, label, "", "check_ran", "(table)", "the check could run",
                    severity, False, f"error: {type(exc).__name__}: {exc}")]


def run_table_checks(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    checks: Sequence[tuple[str, str]],
    run: Callable[[duckdb.DuckDBPyConnection, str, str], list[Outcome]],
    run_id: str,
) -> Iterator[tuple[str, str, list[Outcome], float]]:
    """Run and record the ``checks`` ((table, check name), in order) of tables of
    ``schema`` on the writer ``con``; yields (table, check, outcomes, seconds) once each
    is recorded. The personal-data checks of all the tables are validated together first
    (:func:`run_personal_checks`); each table's fingerprint, which the publish gate
    compares with the table it is about to copy, is computed once. A check that cannot
    run is recorded as a failed, blocking outcome: never a silent pass. The mart and ml
    check steps and the benchmarks run their checks through this."""
    personal = run_personal_checks(con, schema, [t for t, check in checks if check == PERSONAL])
    fingerprints: dict[str, str] = {}
    for table, check in checks:
        started = time.perf_counter()
        batched_s = 0.0
        try:
            if table not in fingerprints:
                fingerprints[table] = store.table_fingerprint(con, schema, table)
            fingerprint: str | None = fingerprints[table]
            if check == PERSONAL:
                outcomes, batched_s = personal[table]
            else:
                outcomes = run(con, table, check)
        except Exception as exc:
            fingerprint, outcomes = None, failed_run(f"{schema}.{table}", exc, BLOCKING)
        seconds = time.perf_counter() - started + batched_s
        store.record(con, outcomes, asset_key=f"{schema}/{table}", check_name=check,
                     run_id=run_id, fingerprint=fingerprint)
        yield table, check, outcomes, seconds


class BlockingFailure(RuntimeError):
    """A blocking expectation failed; the message is the check's summary."""


def revalidate_ml_table(con: duckdb.DuckDBPyConnection, table: str, run_id: str) -> None:
    """Validate an ml table again after a step that is not its asset wrote to it (the
    scoring analyses add their versions to ml.model_registry): its latest validation then
    matches what the publish copies. Raises :class:`BlockingFailure` on a blocking
    failure, which fails the writing step."""
    fingerprint = store.table_fingerprint(con, "ml", table)
    outcomes = run_ml_check(con, table, PERSONAL)
    store.record(con, outcomes, asset_key=f"ml/{table}", check_name=PERSONAL, run_id=run_id,
                 fingerprint=fingerprint)
    if any(o.severity == BLOCKING for o in failures(outcomes)):
        raise BlockingFailure(summary_message(outcomes))
