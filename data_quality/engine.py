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
from collections.abc import Mapping, Sequence
from dataclasses import replace
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


def plain_value(value: Any) -> Any:
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


def rows_observed(unexpected: int, elements: int | None) -> str:
    """The observed text of a row-level expectation: "k of n rows (share %)"."""
    share = f" ({100 * unexpected / elements:.3g} %)" if elements else ""
    return f"{unexpected} of {elements} rows{share}"


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
        observed = json.dumps(plain_value(res["observed_value"]), default=str)
    elif unexpected is not None:
        observed = rows_observed(int(unexpected), elements)
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
            json.dumps([plain_value(v) for v in sample[:MAX_EXAMPLES]], default=str)
            if examples and sample and not result.success
            else None
        ),
    )


#: frames of at least this many rows are validated one column group at a time
SPLIT_MIN_ROWS = 50_000
#: integers up to this magnitude are exact as float64
_EXACT_FLOAT_INT = 2**53
_BETWEEN = "expect_column_values_to_be_between"
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": MAX_EXAMPLES}


def expectation_domain(expectation: Any) -> tuple[str, ...]:
    """The columns an expectation reads (empty: the table's row count)."""
    kwargs = expectation.configuration.kwargs
    if "column" in kwargs:
        return (str(kwargs["column"]),)
    if "column_A" in kwargs:
        return (str(kwargs["column_A"]), str(kwargs["column_B"]))
    return tuple(str(c) for c in kwargs.get("column_list", ()))


def _column_groups(
    frame: pd.DataFrame, expectations: Sequence[Any]
) -> list[tuple[tuple[str, ...], list[int]]]:
    """Expectations grouped by the columns they read, in order of first appearance."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, expectation in enumerate(expectations):
        domain = expectation_domain(expectation)
        if not domain or not set(domain) <= set(frame.columns):
            domain = ()  # table-level, or a missing column: on the whole frame, as before
        groups.setdefault(domain, []).append(i)
    return list(groups.items())


def _vectorisable(column: pd.Series) -> pd.Series | None:
    """A nullable integer column as numpy int64 (no nulls) or float64 (nulls as NaN), for
    GX's vectorised between check (on a nullable dtype it compares value by value in
    Python). None when the values are not all exact as float64."""
    if not isinstance(column.dtype, pd.Int64Dtype | pd.Int32Dtype | pd.Int16Dtype
                      | pd.Int8Dtype):
        return None
    if not column.hasnans:
        return column.astype("int64")
    present = column.dropna()
    if len(present) and int(present.abs().max()) >= _EXACT_FLOAT_INT:
        return None
    return column.astype("float64")


def _group_frame(
    frame: pd.DataFrame, domain: tuple[str, ...], expectations: Sequence[Any]
) -> tuple[pd.DataFrame, bool]:
    """The columns of ``domain`` (the first column for a table-level group), and whether
    an integer column went to float64 (its failing examples are turned back to ints)."""
    if not domain:
        return frame, False
    sub = frame[list(domain)]
    if len(domain) == 1 and all(e.expectation_type == _BETWEEN for e in expectations):
        fast = _vectorisable(sub[domain[0]])
        if fast is not None:
            return pd.DataFrame({domain[0]: fast}, index=sub.index), fast.dtype == "float64"
    return sub, False


def gx_results(frame: pd.DataFrame, expectations: Sequence[Any], name: str) -> list[Any]:
    """GX's results of ``expectations`` on ``frame``, in their order: one batch, one
    validator (the batch is loaded once, not again by ``Batch.validate``)."""
    import great_expectations as gx
    from great_expectations.validator.v1_validator import Validator

    batch_definition = _batch_definition()  # creates the context the suite needs
    gx_suite = gx.ExpectationSuite(name=name)
    for expectation in expectations:
        gx_suite.add_expectation(expectation)
    validator = Validator(batch_definition=batch_definition, result_format=_RESULT_FORMAT,
                          batch_parameters={"dataframe": frame})
    return list(validator.validate_expectation_suite(gx_suite).results)


def _as_ints(result: Any) -> Any:
    """Failing examples of a column read as float64 for speed, back to the ints they were."""
    sample = (result.result or {}).get("partial_unexpected_list")
    if sample:
        result.result["partial_unexpected_list"] = [
            int(v) if isinstance(v, float) and v.is_integer() else v for v in sample]
    return result


def validate_frame(
    frame: pd.DataFrame,
    expectations: Sequence[Any],
    *,
    suite: str,
    table: str,
    batch: str = "",
    examples: bool = True,
    split_min_rows: int = SPLIT_MIN_ROWS,
) -> list[Outcome]:
    """Validate ``frame`` against ``expectations`` (GX Expectation objects).

    A large frame is validated one group of expectations at a time, each on the columns
    it reads: GX filters the whole frame it is given for every column metric, so on a
    wide frame most of the work would copy columns the metric never reads. Outcomes are
    the same as on the whole frame, in the expectations' order."""
    expectations = list(expectations)
    if len(frame) < split_min_rows:
        results = gx_results(frame, expectations, suite)
    else:
        by_index: dict[int, Any] = {}
        for domain, indexes in _column_groups(frame, expectations):
            group = [expectations[i] for i in indexes]
            sub, as_float = _group_frame(frame, domain, group)
            for i, result in zip(indexes, gx_results(sub, group, suite), strict=True):
                by_index[i] = _as_ints(result) if as_float else result
        results = [by_index[i] for i in range(len(expectations))]
    outcomes = [
        _outcome(r, suite=suite, table=table, batch=batch, examples=examples)
        for r in results
    ]
    log.debug("%s %s: %d expectations, %d failed", suite, batch, len(outcomes),
              sum(not o.passed for o in outcomes))
    return outcomes


#: expectations whose passing on stacked frames means passing on each of them, with
#: nothing unexpected in any (row-wise tests, without ``mostly``)
_ROW_WISE = frozenset({"expect_column_values_to_be_between",
                       "expect_column_values_to_be_in_set"})


def validate_frames(
    frames: Mapping[str, pd.DataFrame],
    expectations: Sequence[Any],
    *,
    suites: Mapping[str, str],
    examples: bool = True,
) -> dict[str, list[Outcome]]:
    """:func:`validate_frame` of each frame (keyed by its table's name, ``suites`` giving
    each one's suite name), with one GX validation of the frames stacked when the
    expectations allow it.

    GX's cost is ~20 ms an expectation whatever the rows: tables checked by the same few
    expectations on frames of the same columns (the personal-data check of every mart)
    cost one validation instead of one each. Row-wise expectations without ``mostly``
    pass on the stack exactly when they pass on every frame, with nothing unexpected in
    any: each frame's outcomes are then the stack's, with its own row count. When one
    fails on the stack (or the expectations are of another kind, or the frames' columns
    differ in type, or one is empty), every frame is validated alone, as
    :func:`validate_frame` does: failures keep their own counts and examples."""
    expectations = list(expectations)
    row_wise = all(e.expectation_type in _ROW_WISE and "mostly" not in
                   e.configuration.kwargs for e in expectations)
    parts = list(frames.values())
    alike = all(len(f) and f.dtypes.equals(parts[0].dtypes) for f in parts)
    if row_wise and alike and len(parts) > 1:
        stacked = pd.concat(parts, ignore_index=True)
        together = validate_frame(stacked, expectations, suite="stacked", table="stacked",
                                  examples=False)
        if all(o.passed and o.unexpected_count == 0 for o in together):
            return {
                table: [replace(o, suite=suites[table], table_name=table,
                                element_count=len(frame),
                                observed=rows_observed(0, len(frame)))
                        for o in together]
                for table, frame in frames.items()
            }
    return {table: validate_frame(frame, expectations, suite=suites[table], table=table,
                                  examples=examples)
            for table, frame in frames.items()}
