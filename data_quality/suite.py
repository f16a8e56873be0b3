"""A suite: one DataFrame pulled from the warehouse by SQL, and the expectations on it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from data_quality.engine import validate_frame
from data_quality.outcomes import Outcome


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
    ) -> list[Outcome]:
        frame = con.execute(self.sql, dict(params or {})).df()
        return validate_frame(
            frame,
            self.expectations(),
            suite=self.name,
            table=self.table,
            batch=batch,
            examples=self.examples,
        )
