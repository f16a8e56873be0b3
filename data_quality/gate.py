"""The publish gate: what must hold before the serving database may be replaced.

1. No check's latest validation has a failed blocking expectation.
2. Every export day's latest load has been validated by its raw check (a load whose
   check crashed or never ran is not published).
3. Every published mart and ml table is exactly what its checks validated (its
   fingerprint then equals its fingerprint now): a table rebuilt after its checks (by a
   concurrent run, or `insights dbt`) is not published until checked again.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from data_quality.checks import CONTRACT
from data_quality.store import blocking_failures, stale_validations, unvalidated_days


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    return {
        t for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
            [schema],
        ).fetchall()
    }


def _days(days: list) -> str:
    shown = ", ".join(d.isoformat() for d in days[:5])
    return shown + (f" and {len(days) - 5} more" if len(days) > 5 else "")


def publish_blockers(
    con: duckdb.DuckDBPyConnection,
    *,
    entities: Iterable[str],
    marts: Iterable[str],
    ml_tables: Iterable[str],
) -> list[str]:
    """Messages naming each reason not to publish; empty when the publish may go."""
    problems = [o.message() for o in blocking_failures(con)]
    loaded = {e for (e,) in con.execute("SELECT DISTINCT entity FROM raw.load_audit").fetchall()}
    for entity in entities:
        if entity in loaded:
            days = unvalidated_days(con, entity, CONTRACT)
            if days:
                problems.append(
                    f"raw.{entity}: export days loaded but not validated since their latest "
                    f"load: {_days(days)}"
                )
    existing_marts, existing_ml = _tables(con, "marts"), _tables(con, "ml")
    problems += [f"marts.{m}: missing" for m in marts if m not in existing_marts]
    checked = [(f"marts/{m}", "marts", m) for m in marts if m in existing_marts]
    checked += [(f"ml/{t}", "ml", t) for t in ml_tables if t in existing_ml]
    problems += stale_validations(con, checked)
    return problems
