"""Personal data never downstream of raw: no column named like it, no value equal to a
user's email or display name, and nothing shaped like an email address, in a table.

The frame has one row per column of the table; failing values are never shown (they
would be the personal data), only the column names and counts.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb

from data_quality import expect as ex
from data_quality.outcomes import Outcome
from data_quality.suite import Suite

EMAIL_REGEX = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
PERSONAL_COLUMN = "(lower(column_name) LIKE '%email%' OR lower(column_name) = 'display_name')"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _frame_sql(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    has_users = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'raw' AND table_name = 'users'"
    ).fetchone()[0]
    emails = (
        "SELECT DISTINCT email AS v FROM raw.users WHERE email IS NOT NULL"
        if has_users else "SELECT NULL::VARCHAR AS v WHERE false"
    )
    names = (
        "SELECT DISTINCT display_name AS v FROM raw.users WHERE display_name IS NOT NULL"
        if has_users else "SELECT NULL::VARCHAR AS v WHERE false"
    )
    parts = []
    relation = f"{_quote(schema)}.{_quote(table)}"
    for name, data_type in columns:
        lit = "'" + name.replace("'", "''") + "'"
        flagged = f"{PERSONAL_COLUMN.replace('column_name', lit)}"
        if data_type.upper() in ("VARCHAR", "TEXT", "JSON") or data_type.upper().startswith(
            "VARCHAR"
        ):
            col = f"CAST({_quote(name)} AS VARCHAR)"
            parts.append(
                f"SELECT {lit} AS column_name, {flagged} AS personal_column_name, "
                f"count(*) FILTER (WHERE {col} IN (SELECT v FROM emails)) AS email_values, "
                f"count(*) FILTER (WHERE {col} IN (SELECT v FROM names)) "
                f"AS display_name_values, "
                f"count(*) FILTER (WHERE regexp_matches({col}, '{EMAIL_REGEX}')) "
                f"AS email_like_values FROM {relation}"
            )
        else:
            parts.append(
                f"SELECT {lit} AS column_name, {flagged} AS personal_column_name, "
                f"0 AS email_values, 0 AS display_name_values, 0 AS email_like_values"
            )
    if not parts:
        return (
            "SELECT NULL::VARCHAR AS column_name, false AS personal_column_name, "
            "0 AS email_values, 0 AS display_name_values, 0 AS email_like_values WHERE false"
        )
    return (
        f"WITH emails AS ({emails}), names AS ({names})\n" + "\nUNION ALL\n".join(parts)
    )


def _expectations() -> list:
    return [
        ex.in_set("personal_column_name", [False]),
        ex.equals_zero("email_values", "no value equals a user's email"),
        ex.equals_zero("email_like_values", "no value looks like an email address"),
        # a display name can equal an ordinary word ("control", "unknown"): reported, not
        # blocking; the column-name and email expectations block
        ex.equals_zero(
            "display_name_values", "no value equals a user's display name", warning=True
        ),
    ]


def validate_no_personal_data(
    con: duckdb.DuckDBPyConnection, schema: str, table: str
) -> list[Outcome]:
    name = f"{schema}.{table}"
    suite = Suite(
        f"{name}.personal_data", name, _frame_sql(con, schema, table), _expectations,
        examples=False,
    )
    outcomes = suite.run(con)
    if all(o.passed for o in outcomes):
        return outcomes
    # name the offending columns (never their values) in the observed text
    failing = con.execute(
        f"SELECT column_name FROM ({suite.sql}) WHERE personal_column_name "
        "OR email_values > 0 OR display_name_values > 0 OR email_like_values > 0"
    ).fetchall()
    if failing:
        cols = ", ".join(c for (c,) in failing)
        outcomes = [
            o if o.passed else replace(o, observed=f"{o.observed} in column(s) {cols}")
            for o in outcomes
        ]
    return outcomes
