"""Personal data never downstream of raw: no column named like it, no value equal to a
user's email or display name, and nothing shaped like an email address, in a table.

The frame has one row per column of the table; failing values are never shown (they
would be the personal data), only the column names and counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import duckdb
import pandas as pd

from data_quality import expect as ex
from data_quality.engine import validate_frame
from data_quality.outcomes import Outcome

EMAIL_REGEX = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"

FRAME_COLUMNS = ("column_name", "personal_column_name", "email_values",
                 "display_name_values", "email_like_values")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _is_text(data_type: str) -> bool:
    upper = data_type.upper()
    return upper in ("VARCHAR", "TEXT", "JSON") or upper.startswith("VARCHAR")


def personal_column_name(name: str) -> bool:
    """A column named like personal data: containing "email", or "display_name"."""
    lowered = name.lower()
    return "email" in lowered or lowered == "display_name"


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()


def scan_sql(schema: str, table: str, text_columns: Sequence[str], has_users: bool) -> str:
    """One scan of the table counting, for every text column, the values equal to a
    user's email, equal to a display name, and shaped like an email address (columns
    e0, n0, r0, e1, ...). One scan instead of one per column: the table is read once
    whatever its width. ``contains(..., '@')`` is checked before the regex, which needs
    an '@' anyway: the same count, without running the regex on most values."""
    emails = (
        "SELECT DISTINCT email AS v FROM raw.users WHERE email IS NOT NULL"
        if has_users else "SELECT NULL::VARCHAR AS v WHERE false"
    )
    names = (
        "SELECT DISTINCT display_name AS v FROM raw.users WHERE display_name IS NOT NULL"
        if has_users else "SELECT NULL::VARCHAR AS v WHERE false"
    )
    parts = []
    for i, name in enumerate(text_columns):
        col = f"CAST({_quote(name)} AS VARCHAR)"
        parts += [
            f"count(*) FILTER (WHERE {col} IN (SELECT v FROM emails)) AS e{i}",
            f"count(*) FILTER (WHERE {col} IN (SELECT v FROM names)) AS n{i}",
            f"count(*) FILTER (WHERE contains({col}, '@') "
            f"AND regexp_matches({col}, '{EMAIL_REGEX}')) AS r{i}",
        ]
    return (
        f"WITH emails AS ({emails}), names AS ({names})\nSELECT " + ",\n    ".join(parts)
        + f"\nFROM {_quote(schema)}.{_quote(table)}"
    )


def personal_data_frame(con: duckdb.DuckDBPyConnection, schema: str, table: str
                        ) -> pd.DataFrame:
    """One row per column of the table: whether its name is personal, and the counts of
    its values equal to a user's email, equal to a display name, shaped like an email
    address (0 for a column that is not text)."""
    columns = _columns(con, schema, table)
    has_users = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'raw' AND table_name = 'users'"
    ).fetchone()[0] > 0
    text = [name for name, data_type in columns if _is_text(data_type)]
    counts = (
        dict(zip(text, _triples(con.execute(scan_sql(schema, table, text, has_users))
                                .fetchone()), strict=True))
        if text else {}
    )
    rows = [(name, personal_column_name(name), *counts.get(name, (0, 0, 0)))
            for name, _ in columns]
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    return frame.astype({"column_name": "object", "personal_column_name": "bool",
                         "email_values": "int64", "display_name_values": "int64",
                         "email_like_values": "int64"})


def _triples(row: Sequence[int]) -> list[tuple[int, int, int]]:
    return [tuple(row[i:i + 3]) for i in range(0, len(row), 3)]


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
    frame = personal_data_frame(con, schema, table)
    outcomes = validate_frame(frame, _expectations(), suite=f"{name}.personal_data",
                              table=name, examples=False)
    if all(o.passed for o in outcomes):
        return outcomes
    # name the offending columns (never their values) in the observed text
    failing = frame[frame["personal_column_name"] | (frame["email_values"] > 0)
                    | (frame["display_name_values"] > 0) | (frame["email_like_values"] > 0)]
    if len(failing):
        cols = ", ".join(failing["column_name"])
        outcomes = [
            o if o.passed else replace(o, observed=f"{o.observed} in column(s) {cols}")
            for o in outcomes
        ]
    return outcomes
