"""dbt command lines and the incremental window, built by pure functions (unit-tested)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"


def vars_args(dbt_vars: Mapping[str, Any]) -> list[str]:
    """``--vars`` with the settings, as a stable JSON document."""
    return ["--vars", json.dumps(dict(dbt_vars), sort_keys=True, default=str)]


def parse_args(dbt_vars: Mapping[str, Any]) -> list[str]:
    return ["parse", "--quiet", *vars_args(dbt_vars)]


def build_args(
    dbt_vars: Mapping[str, Any],
    *,
    full_refresh: bool = False,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    unit_tests: bool = False,
) -> list[str]:
    """``dbt build`` (models, seeds, snapshots and their data tests) with the settings as
    vars. dbt unit tests check the models' SQL on fixed inputs, not the data: they run in
    the test suite (tests/test_dbt_unit_tests.py), not in every pipeline run, where they
    cost about as much as all the data tests (dbt's advice for production builds)."""
    args = ["build", *vars_args(dbt_vars)]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    return args


def passthrough_args(user_args: Sequence[str], dbt_vars: Mapping[str, Any]) -> list[str]:
    """A hand-typed dbt command with the settings added as vars (unless it sets its own).

    Commands that take no vars (``deps``, ``clean``, ``debug``, ``--version``) pass unchanged.
    """
    args = list(user_args)
    if not args or args[0] in ("deps", "clean", "debug", "init") or args[0].startswith("-"):
        return args
    if "--vars" in args:
        return args
    return [*args, *vars_args(dbt_vars)]


def incremental_start_date(tags: Mapping[str, str], lookback_days: int) -> str | None:
    """The first day the incremental models must rebuild in a run that loaded export days:
    the earliest export day of the run's partition (range) minus the lookback (late events
    of a day's export reach back that far). None for runs without export days: the models
    then rebuild from their latest day minus the lookback."""
    first = tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG)
    if not first:
        return None
    return (date.fromisoformat(first) - timedelta(days=lookback_days)).isoformat()


def window_start(tag_start: str | None, unbuilt: date | None, lookback_days: int) -> str | None:
    """Pure: the earlier of the run's own window start and the earliest unbuilt export
    day minus the lookback (None: neither, the models use their latest day)."""
    starts = [s for s in (tag_start,) if s]
    if unbuilt is not None:
        starts.append((unbuilt - timedelta(days=lookback_days)).isoformat())
    return min(starts) if starts else None


def register_raw_args(location: str, tables: Mapping[str, bool], target: str,
                      dbt_vars: Mapping[str, Any] | None = None) -> list[str]:
    """``dbt run-operation register_raw_tables`` over the Parquet raw export at ``location``
    (``tables``: ``schema.table`` -> partitioned by export_date), on ``target``; with the
    settings as vars (``dbt_vars``), the same as the builds', so that the next
    ``insights dbt --target spark`` parses the project partially, not all of it again."""
    args = ["run-operation", "register_raw_tables", "--target", target, "--args",
            json.dumps({"path": location, "tables": dict(tables)}, sort_keys=True)]
    if dbt_vars is not None:
        args += vars_args(dbt_vars)
    return args
