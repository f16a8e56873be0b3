"""A suite: one DataFrame pulled from the warehouse by SQL, and the expectations on it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
