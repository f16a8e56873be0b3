"""A suite: one DataFrame pulled from the warehouse by SQL, and the expectations on it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import duckdb

from data_quality import sql_checks
from data_quality.engine import validate_frame
from data_quality.outcomes import Outcome

#: frames of at least this many rows have their column expectations counted in SQL
#: (data_quality/sql_checks.py) instead of pulled into pandas: memory stays flat as the
#: table grows (marts.events at 10M events: 9.2M rows)
COUNT_IN_SQL_MIN_ROWS = 200_000


@dataclass(frozen=True)
class Suite:
    name: str  # e.g. "marts.engagement_daily" or "raw.events.volume"
    table: str  # the relation it guards
    sql: str  # the frame; DuckDB named parameters ($days, ...) allowed
    expectations: Callable[[], list[Any]]
    examples: bool = True  # False where failing values could be personal data
    # computed once into a temporary table, which the row count and the checks then read
    # (a frame whose SQL is costly, such as the events of some export days found by a
    # join, would otherwise be computed once to count its rows and again to check them)
    materialize: bool = False

    def run(
        self,
        con: duckdb.DuckDBPyConnection,
        params: Mapping[str, Any] | None = None,
        batch: str = "",
        count_in_sql_min_rows: int | None = COUNT_IN_SQL_MIN_ROWS,
    ) -> list[Outcome]:
        """The outcomes of the expectations on the frame: a frame of at least
        ``count_in_sql_min_rows`` rows (None: never) is counted in SQL, a smaller one
        pulled into pandas and validated by GX row by row."""
        params = dict(params or {})
        if self.materialize:
            with _materialized(con, self.sql, params) as relation:
                frame = replace(self, sql=f"SELECT * FROM {relation}", materialize=False)
                return frame.run(con, {}, batch, count_in_sql_min_rows)
        expectations = self.expectations()
        if count_in_sql_min_rows is not None:
            rows = con.execute(f"SELECT count(*) FROM ({self.sql}) AS frame", params
                               ).fetchone()[0]
            if rows >= count_in_sql_min_rows:
                return sql_checks.validate_counted(
                    con, self.sql, params, expectations, suite=self.name, table=self.table,
                    batch=batch, examples=self.examples)
        frame = con.execute(self.sql, params).df()
        return validate_frame(
            frame,
            expectations,
            suite=self.name,
            table=self.table,
            batch=batch,
            examples=self.examples,
        )


@contextmanager
def _materialized(con: duckdb.DuckDBPyConnection, sql: str,
                  params: Mapping[str, Any]) -> Iterator[str]:
    """The rows of ``sql`` in a temporary table of their own (dropped after use)."""
    name = f"_dq_frame_{uuid.uuid4().hex[:12]}"
    con.execute(f"CREATE TEMP TABLE {name} AS {sql}", dict(params))
    try:
        yield name
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")
