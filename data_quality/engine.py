"""Run expectations on a pandas DataFrame with GX Core (one ephemeral context per process).

GX's SQL data source over duckdb-engine reports every expectation as failed with an
empty result, silently; so suites pull DataFrames from DuckDB (set-based SQL, event
tables in batches of export days) and validate them here. A test keeps a clean suite
passing, so a broken engine cannot hide.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import pandas as pd

from data_quality.outcomes import BLOCKING, WARNING, Outcome

log = logging.getLogger(__name__)

MAX_EXAMPLES = 5


@lru_cache(maxsize=1)
def _batch_definition():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("insights_warehouse")
    asset = source.add_dataframe_asset(name="frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _columns(kwargs: dict[str, Any]) -> str:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(kwargs["column_list"])
    return "(table)"


def _raised(result: Any) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():  # keyed by metric when several metrics failed
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _outcome(
    result: Any, *, suite: str, table: str, batch: str, examples: bool
) -> Outcome:
    config = result.expectation_config
    kwargs = dict(config.kwargs)
    severity = str(getattr(config.severity, "value", config.severity) or "critical").lower()
    res = result.result or {}
    error = _raised(result)
    unexpected = res.get("unexpected_count")
    elements = res.get("element_count")
    if error is not None:
        observed = f"error: {error}"
    elif "observed_value" in res:
        observed = json.dumps(_plain(res["observed_value"]), default=str)
    elif unexpected is not None:
        share = f" ({100 * unexpected / elements:.3g} %)" if elements else ""
        observed = f"{unexpected} of {elements} rows{share}"
    else:
        observed = "n/a"
    sample = res.get("partial_unexpected_list") or []
    return Outcome(
        suite=suite,
        table_name=table,
        batch=batch,
        expectation=config.type,
        columns=_columns(kwargs),
        description=str(config.description or config.type),
        severity=BLOCKING if severity == "critical" else WARNING,
        passed=bool(result.success) and error is None,
        observed=observed,
        unexpected_count=None if unexpected is None else int(unexpected),
        element_count=None if elements is None else int(elements),
        examples=(
            json.dumps([_plain(v) for v in sample[:MAX_EXAMPLES]], default=str)
            if examples and sample and not result.success
            else None
        ),
    )


def validate_frame(
    frame: pd.DataFrame,
    expectations: Sequence[Any],
    *,
    suite: str,
    table: str,
    batch: str = "",
    examples: bool = True,
) -> list[Outcome]:
    """Validate ``frame`` against ``expectations`` (GX Expectation objects)."""
    import great_expectations as gx

    batch_definition = _batch_definition()  # creates the context the suite needs
    gx_suite = gx.ExpectationSuite(name=suite)
    for expectation in expectations:
        gx_suite.add_expectation(expectation)
    batch_obj = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch_obj.validate(
        gx_suite,
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_EXAMPLES},
    )
    outcomes = [
        _outcome(r, suite=suite, table=table, batch=batch, examples=examples)
        for r in result.results
    ]
    log.debug("%s %s: %d expectations, %d failed", suite, batch, len(outcomes),
              sum(not o.passed for o in outcomes))
    return outcomes
