"""Short constructors for the GX Core expectations the suites use, with a severity and a
plain-language description on each (GX's own ``severity``: critical = blocking)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import great_expectations as gx
from great_expectations.expectations import Expectation


def _sev(warning: bool) -> str:
    return "warning" if warning else "critical"


def not_null(column: str, *, warning: bool = False, what: str = "") -> Expectation:
    return gx.expectations.ExpectColumnValuesToNotBeNull(
        column=column, severity=_sev(warning), description=what or f"{column} is never null"
    )


def unique(column: str, *, warning: bool = False, what: str = "") -> Expectation:
    return gx.expectations.ExpectColumnValuesToBeUnique(
        column=column,
        severity=_sev(warning),
        description=what or f"one row per {column}",
    )


def unique_key(columns: Sequence[str], *, warning: bool = False, what: str = "") -> Expectation:
    if len(columns) == 1:
        return unique(columns[0], warning=warning, what=what)
    return gx.expectations.ExpectCompoundColumnsToBeUnique(
        column_list=list(columns),
        severity=_sev(warning),
        description=what or f"one row per {' x '.join(columns)}",
    )


def between(
    column: str,
    low: float | None,
    high: float | None,
    *,
    warning: bool = False,
    mostly: float | None = None,
    what: str = "",
) -> Expectation:
    kwargs: dict[str, Any] = {}
    if mostly is not None and mostly < 1:
        kwargs["mostly"] = mostly
    if not what:
        if low is not None and high is not None:
            what = f"{column} in [{low:g}, {high:g}]"
        elif low is not None:
            what = f"{column} >= {low:g}"
        else:
            what = f"{column} <= {high:g}"
    return gx.expectations.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=low,
        max_value=high,
        severity=_sev(warning),
        description=what,
        **kwargs,
    )


def rate(column: str, *, warning: bool = False, what: str = "") -> Expectation:
    return between(
        column, 0, 1, warning=warning, what=what or f"{column} is a fraction in [0, 1]"
    )


def non_negative(column: str, *, warning: bool = False) -> Expectation:
    return between(column, 0, None, warning=warning)


def equals_zero(column: str, what: str, *, warning: bool = False) -> Expectation:
    return between(column, 0, 0, warning=warning, what=what)


def in_set(
    column: str,
    values: Sequence[Any],
    *,
    warning: bool = False,
    mostly: float | None = None,
    what: str = "",
) -> Expectation:
    kwargs: dict[str, Any] = {}
    if mostly is not None and mostly < 1:
        kwargs["mostly"] = mostly
    return gx.expectations.ExpectColumnValuesToBeInSet(
        column=column,
        value_set=list(values),
        severity=_sev(warning),
        description=what or f"{column} is one of {', '.join(map(str, values))}",
        **kwargs,
    )


def matches(column: str, regex: str, what: str, *, warning: bool = False) -> Expectation:
    return gx.expectations.ExpectColumnValuesToMatchRegex(
        column=column, regex=regex, severity=_sev(warning), description=what
    )


def at_least(a: str, b: str, *, warning: bool = False, what: str = "") -> Expectation:
    """a >= b on every row where both are set."""
    return gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=a,
        column_B=b,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
        severity=_sev(warning),
        description=what or f"{b} <= {a}",
    )


def row_count(value: int, what: str, *, warning: bool = False) -> Expectation:
    return gx.expectations.ExpectTableRowCountToEqual(
        value=value, severity=_sev(warning), description=what
    )
