"""Freshness of the exports: is every entity's latest complete export day recent enough?

An export day is due the day after it ends. An entity is *late* when its newest complete
export day (with ``_SUCCESS``) is older than ``today - max_lag_days`` in the reporting
time zone, and *behind* when complete days wait in the landing folder unloaded. Pure on
its inputs; the Dagster check (orchestration/assets/freshness.py) feeds it the landing
scan and ``raw.load_audit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from data_quality.outcomes import WARNING, Outcome

SUITE = "landing.freshness"


def freshness_outcomes(
    today: date,
    latest_complete: Mapping[str, date | None],
    latest_loaded: Mapping[str, date | None],
    entities: Iterable[str],
    *,
    max_lag_days: int = 1,
) -> list[Outcome]:
    """Two expectations per entity (warnings): the newest complete export day is at most
    ``max_lag_days`` old, and it has been loaded."""
    due = today - timedelta(days=max_lag_days)
    out: list[Outcome] = []
    for entity in entities:
        complete, loaded = latest_complete.get(entity), latest_loaded.get(entity)
        age = None if complete is None else (today - complete).days
        out.append(Outcome(
            SUITE, f"landing/{entity}", "", "expect_export_to_be_fresh", "export_date",
            f"the newest complete export day is on or after {due.isoformat()} "
            f"(at most {max_lag_days} day(s) old)",
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
