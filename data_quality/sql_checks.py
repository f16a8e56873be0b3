"""Column expectations of a large frame counted in DuckDB, then validated by GX.

Pulling a large frame into pandas for GX costs memory in proportion to the table (the
9.2M-row ``marts.events`` took 15 GiB at 10M events). For the expectations whose
verdict is a count of failing rows, DuckDB counts in one scan of the frame (set-based,
its memory bounded by DuckDB): rows considered, failing rows and up to five failing
values per expectation. GX then validates a one-row frame of those counts, one success
ratio per expectation (``(considered - failing) / considered >= mostly``, GX's own
rule, vacuously true when no row is considered), and each outcome keeps the original
expectation's type, columns, description, severity and counts, as if GX had read the
rows.

Counted here: not null, unique (one column), between (numeric columns), in set
(values of the column's kind). Any other expectation, or one on a column of another
type, is validated by GX on a frame of only the columns it reads.

Missing values are those pandas calls missing: NULL, and NaN in a float column (the
DataFrame path turns a NaN into a missing value), so the verdicts equal GX's on the
pulled frame.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from data_quality.engine import (
    MAX_EXAMPLES,
    expectation_domain,
    gx_results,
    plain_value,
    validate_frame,
)
from data_quality.outcomes import BLOCKING, WARNING, Outcome

log = logging.getLogger(__name__)

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")
_FLOAT = ("FLOAT", "DOUBLE")


@dataclass(frozen=True)
class Counted:
    """The SQL of one expectation's counts over the frame (relation ``frame``)."""

    considered: str  # aggregate: the rows GX's success ratio is taken over
    unexpected: str  # aggregate: the failing rows
    examples: str  # aggregate: a list of up to MAX_EXAMPLES failing values


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _kind(sql_type: str) -> str:
    """numeric | float | varchar | boolean | other, from a DuckDB type name."""
    base = sql_type.upper().split("(")[0].strip()
    if base in _FLOAT:
        return "float"
    if base in _NUMERIC:
        return "numeric"
    if base == "VARCHAR":
        return "varchar"
    if base == "BOOLEAN":
        return "boolean"
    return "other"


def _missing(column: str, kind: str) -> str:
    col = quote(column)
    return f"({col} IS NULL OR isnan({col}))" if kind == "float" else f"({col} IS NULL)"


def _values_fit(values: Sequence[Any], kind: str) -> bool:
    if kind == "varchar":
        return all(isinstance(v, str) for v in values)
    if kind in ("numeric", "float"):
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if kind == "boolean":
        return all(isinstance(v, bool) for v in values)
    return False


def _map_counts(column: str, kind: str, failing: str) -> Counted:
    """Counts of a column map expectation: non-missing rows considered, ``failing`` among
    them."""
    present = f"NOT {_missing(column, kind)}"
    where = f"{present} AND ({failing})"
    return Counted(
        considered=f"count(*) FILTER (WHERE {present})",
        unexpected=f"count(*) FILTER (WHERE {where})",
        examples=f"min({quote(column)}, {MAX_EXAMPLES}) FILTER (WHERE {where})",
    )


def counted(expectation: Any, types: Mapping[str, str]) -> Counted | None:
    """The SQL counts of ``expectation`` over a frame of columns ``types`` (name -> DuckDB
    type), or None when it is not counted here (GX reads its rows instead)."""
    kind_name = expectation.expectation_type
    kwargs = expectation.configuration.kwargs
    column = kwargs.get("column")
    if column is None or column not in types or kwargs.get("row_condition"):
        return None
    kind = _kind(types[column])
    col = quote(column)
    if kind_name == "expect_column_values_to_not_be_null":
        missing = _missing(column, kind)  # GX: every row considered, the missing ones fail
        # the failing values are all missing: GX lists them as nulls
        return Counted("count(*)", f"count(*) FILTER (WHERE {missing})",
                       f"[NULL for _ in range(least(count(*) FILTER (WHERE {missing}), "
                       f"{MAX_EXAMPLES}))]")
    if kind_name == "expect_column_values_to_be_unique":
        if kind == "other":
            return None
        present = f"NOT {_missing(column, kind)}"
        groups = f"(SELECT {col} AS v, count(*) AS n FROM frame WHERE {present} GROUP BY 1)"
        return Counted(
            f"count(*) FILTER (WHERE {present})",
            f"(SELECT coalesce(sum(n) FILTER (WHERE n > 1), 0) FROM {groups})",
            f"(SELECT min(v, {MAX_EXAMPLES}) FILTER (WHERE n > 1) FROM {groups})",
        )
    if kind_name == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if kind not in ("numeric", "float") or (low is None and high is None) \
                or kwargs.get("strict_min") or kwargs.get("strict_max"):
            return None
        bounds = [f"{col} >= {_literal(low)}" if low is not None else "true",
                  f"{col} <= {_literal(high)}" if high is not None else "true"]
        return _map_counts(column, kind, f"NOT ({' AND '.join(bounds)})")
    if kind_name == "expect_column_values_to_be_in_set":
        values = list(kwargs.get("value_set") or [])
        if not values or not _values_fit(values, kind):
            return None
        listed = ", ".join(_literal(v) for v in values)
        return _map_counts(column, kind, f"{col} NOT IN ({listed})")
    return None


def frame_types(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any]
) -> dict[str, str]:
    """The frame's columns and their DuckDB types, without reading a row."""
    description = con.execute(f"SELECT * FROM ({sql}) AS frame LIMIT 0", dict(params)
                              ).description
    return {name: str(sql_type) for name, sql_type, *_ in description}


def counts_sql(sql: str, counts: Sequence[Counted]) -> str:
    """One scan of the frame: its row count, then considered, failing rows and failing
    values of each expectation (columns n, c0, u0, x0, c1, ...)."""
    parts = ["count(*) AS n"]
    for i, c in enumerate(counts):
        parts += [f"{c.considered} AS c{i}", f"{c.unexpected} AS u{i}", f"{c.examples} AS x{i}"]
    return f"WITH frame AS ({sql})\nSELECT\n    " + ",\n    ".join(parts) + "\nFROM frame"


def _proxy(i: int, mostly: float) -> Any:
    """GX's verdict on counted expectation ``i``: its success ratio at least ``mostly``."""
    import great_expectations as gx

    return gx.expectations.ExpectColumnValuesToBeBetween(column=f"ratio{i}", min_value=mostly)


def _columns(kwargs: Mapping[str, Any]) -> str:
    return str(kwargs.get("column", "(table)"))


def _outcome(expectation: Any, passed: bool, unexpected: int, elements: int,
             sample: Sequence[Any] | None, *, suite: str, table: str, batch: str,
             examples: bool) -> Outcome:
    config = expectation.configuration
    severity = str(getattr(config.severity, "value", config.severity) or "critical").lower()
    share = f" ({100 * unexpected / elements:.3g} %)" if elements else ""
    return Outcome(
        suite=suite, table_name=table, batch=batch, expectation=config.type,
        columns=_columns(config.kwargs),
        description=str(config.description or config.type),
        severity=BLOCKING if severity == "critical" else WARNING,
        passed=passed,
        observed=f"{unexpected} of {elements} rows{share} (counted in SQL)",
        unexpected_count=int(unexpected), element_count=int(elements),
        examples=(json.dumps([plain_value(v) for v in list(sample)[:MAX_EXAMPLES]], default=str)
                  if examples and sample and not passed else None),
    )


def validate_counted(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any],
    expectations: Sequence[Any],
    *,
    suite: str,
    table: str,
    batch: str = "",
    examples: bool = True,
) -> list[Outcome]:
    """Outcomes of ``expectations`` on the frame of ``sql``: the counted ones from one SQL
    scan, validated by GX as a one-row frame; the others by GX on the columns they read.
    In the expectations' order."""
    expectations = list(expectations)
    types = frame_types(con, sql, params)
    plan = [counted(e, types) for e in expectations]
    by_index: dict[int, Outcome] = {}
    done = [i for i, c in enumerate(plan) if c is not None]
    if done:
        row = con.execute(counts_sql(sql, [plan[i] for i in done]), dict(params)).fetchone()
        ratios: dict[str, float | None] = {}
        proxies = []
        for k, i in enumerate(done):
            considered, unexpected = row[1 + 3 * k], row[2 + 3 * k]
            ratios[f"ratio{k}"] = ((considered - unexpected) / considered
                                   if considered else None)  # None: vacuously true in GX
            mostly = expectations[i].configuration.kwargs.get("mostly") or 1.0
            proxies.append(_proxy(k, float(mostly)))
        small = pd.DataFrame({name: pd.Series([v], dtype="float64")
                              for name, v in ratios.items()})
        verdicts = gx_results(small, proxies, suite)
        for k, i in enumerate(done):
            unexpected, sample = row[2 + 3 * k], row[3 + 3 * k]
            passed = bool(verdicts[k].success) and not (verdicts[k].exception_info or {}
                                                        ).get("raised_exception")
            by_index[i] = _outcome(expectations[i], passed, unexpected, row[0], sample,
                                   suite=suite, table=table, batch=batch, examples=examples)
    rest = [i for i, c in enumerate(plan) if c is None]
    if rest:
        columns = sorted({c for i in rest for c in expectation_domain(expectations[i])
                          if c in types})
        needs_all = any(not expectation_domain(expectations[i]) for i in rest) or not columns
        select = "*" if needs_all else ", ".join(quote(c) for c in columns)
        frame = con.execute(f"SELECT {select} FROM ({sql}) AS frame", dict(params)).df()
        for i, outcome in zip(rest, validate_frame(
                frame, [expectations[i] for i in rest], suite=suite, table=table,
                batch=batch, examples=examples), strict=True):
            by_index[i] = outcome
    log.debug("%s %s: %d expectations counted in SQL, %d on rows", suite, batch,
              len(done), len(rest))
    return [by_index[i] for i in range(len(expectations))]

