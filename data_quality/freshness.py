"""Freshness of the exports: is every entity's latest complete export day recent enough?

An export day is due the day after it ends. An entity is *late* when its newest complete
export day (with ``_SUCCESS``) is older than ``reference - max_lag_days``, and *behind*
when complete days wait in the landing folder unloaded. The reference is today in the
reporting time zone (``clock``, for the scheduled runs) or the newest export day loaded
(``data``, for a backfill of old data or the demo, whose days are months old by the
clock). Pure on its inputs; the Dagster check (orchestration/assets/freshness.py) feeds it
the landing scan and ``raw.load_audit``, and records the reference it judged against in
``ops.export_freshness`` so that the reports' freshness table uses the same one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

from data_quality.outcomes import WARNING, Outcome

SUITE = "landing.freshness"
CLOCK, DATA = "clock", "data"
REFERENCES = (CLOCK, DATA)


@dataclass(frozen=True)
class Reference:
    """The day freshness is judged against, and where it comes from."""

    kind: str  # clock | data
    day: date

    def describe(self) -> str:
        """How the reports and the check's descriptions name it."""
        if self.kind == DATA:
            return f"the newest export day loaded, {self.day.isoformat()}"
        return f"today, {self.day.isoformat()}"


def reference_for(kind: str, today: date, newest_loaded: date | None) -> Reference:
    """Pure: today for ``clock``; the newest export day loaded for ``data`` (today, i.e.
    the clock, while nothing is loaded yet)."""
    if kind not in REFERENCES:
        raise ValueError(f"freshness reference {kind!r}: expected one of {REFERENCES}")
    if kind == DATA and newest_loaded is not None:
        return Reference(DATA, newest_loaded)
    return Reference(CLOCK, today)


def age_days(reference: date, day: date) -> int:
    """Pure: the age of an export day against the reference day (the check and the
    reports' freshness table both use it, so they agree on the lag)."""
    return (reference - day).days


def freshness_outcomes(
    today: date,
    latest_complete: Mapping[str, date | None],
    latest_loaded: Mapping[str, date | None],
    entities: Iterable[str],
    *,
    max_lag_days: int = 1,
    reference: Reference | None = None,
) -> list[Outcome]:
    """Two expectations per entity (warnings): the newest complete export day is at most
    ``max_lag_days`` old against the reference (``today`` when none is given), and it has
    been loaded."""
    ref = reference or Reference(CLOCK, today)
    due = ref.day - timedelta(days=max_lag_days)
    out: list[Outcome] = []
    for entity in entities:
        complete, loaded = latest_complete.get(entity), latest_loaded.get(entity)
        age = None if complete is None else age_days(ref.day, complete)
        out.append(Outcome(
            SUITE, f"landing/{entity}", "", "expect_export_to_be_fresh", "export_date",
            f"the newest complete export day is on or after {due.isoformat()} "
            f"(at most {max_lag_days} day(s) old against {ref.describe()})",
            WARNING, complete is not None and complete >= due,
            "no complete export day" if complete is None
            else f"newest complete export day {complete.isoformat()} ({age} days old)",
        ))
        behind = complete is not None and (loaded is None or loaded < complete)
        out.append(Outcome(
            SUITE, f"landing/{entity}", "", "expect_complete_exports_to_be_loaded",
            "export_date", "the newest complete export day is loaded",
            WARNING, not behind,
            f"loaded up to {loaded.isoformat() if loaded else 'nothing'}, complete up to "
            f"{complete.isoformat() if complete else 'nothing'}",
        ))
    return out


# One row per judgement: the reference and the lag the check used. The reports' freshness
# table reads the latest one, so it shows the ages the check judged.
JUDGEMENTS_DDL = """
CREATE TABLE IF NOT EXISTS ops.export_freshness (
    judged_at TIMESTAMP NOT NULL,   -- UTC
    run_id VARCHAR,                 -- Dagster run id
    reference VARCHAR NOT NULL,     -- clock | data
    reference_date DATE NOT NULL,   -- the day ages are counted from
    max_lag_days INTEGER NOT NULL
)
"""


def record_reference(con: duckdb.DuckDBPyConnection, reference: Reference, *,
                     max_lag_days: int, run_id: str | None) -> None:
    """Store the reference and lag of one freshness judgement in ``ops.export_freshness``."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute(JUDGEMENTS_DDL)
    con.execute(
        "INSERT INTO ops.export_freshness VALUES (?, ?, ?, ?, ?)",
        [datetime.now(UTC).replace(tzinfo=None), run_id, reference.kind, reference.day,
         max_lag_days],
    )


def newest_loaded_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The newest export day of any entity with a load that is not wholly failed."""
    return con.execute(
        "SELECT max(export_date) FROM raw.load_audit WHERE status <> 'failed'").fetchone()[0]
