"""The result of one expectation on one batch, independent of Great Expectations' types."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BLOCKING = "blocking"
WARNING = "warning"


@dataclass(frozen=True)
class Outcome:
    """One expectation evaluated on one batch of one table."""

    suite: str  # e.g. "marts.engagement_daily"
    table_name: str  # the relation the suite guards
    batch: str  # "" for a whole table, else the export days validated ("2026-01-01..")
    expectation: str  # GX expectation type, e.g. expect_column_values_to_be_between
    columns: str  # the column(s) it looks at
    description: str  # what it asserts, in plain words
    severity: str  # blocking | warning
    passed: bool
    observed: str  # the observed value, or "k of n rows" for row-level expectations
    unexpected_count: int | None = None
    element_count: int | None = None
    examples: str | None = None  # JSON list of up to 5 failing values (never personal data)

    @property
    def blocking_failure(self) -> bool:
        return not self.passed and self.severity == BLOCKING

    def message(self) -> str:
        """One line naming the table, the expectation and the observed value."""
        where = f" [{self.batch}]" if self.batch else ""
        example = f"; e.g. {self.examples}" if self.examples else ""
        return (
            f"{self.table_name}{where}: {self.expectation}({self.columns}) failed "
            f"({self.description}): observed {self.observed}{example}"
        )


def failures(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """Failed outcomes, blocking ones first."""
    failed = [o for o in outcomes if not o.passed]
    return sorted(failed, key=lambda o: (o.severity != BLOCKING, o.table_name, o.batch))


def summary_message(outcomes: Sequence[Outcome], limit: int = 5) -> str:
    failed = failures(outcomes)
    if not failed:
        return f"all {len(outcomes)} expectations passed"
    lines = [o.message() for o in failed[:limit]]
    more = len(failed) - limit
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n".join(lines)


def as_records(outcomes: Iterable[Outcome]) -> list[dict]:
    return [
        {
            "table": o.table_name,
            "batch": o.batch,
            "expectation": o.expectation,
            "columns": o.columns,
            "severity": o.severity,
            "passed": o.passed,
            "observed": o.observed,
            "examples": json.loads(o.examples) if o.examples else None,
        }
        for o in outcomes
    ]
