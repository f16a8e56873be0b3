"""Contract v1 rules for platform CSV rows, compiled to one DuckDB SELECT per entity.

Pure functions of a :class:`~ingest.schema.PlatformEntity`; unit-tested directly.
CSV has no null: an empty cell is NULL.
"""

from __future__ import annotations

from ingest.schema import COLUMN_SQL_TYPES, PlatformEntity


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def typed_sql(kind: str, cell: str) -> str:
    """SQL of a cell's typed value, NULL when empty or not parseable."""
    v = f"nullif(trim({cell}), '')"
    if kind == "str":
        return f"nullif({cell}, '')"
    if kind in ("ts", "date"):
        # the year's digits first: DuckDB's cast also reads 'epoch' and 'infinity'
        iso = f"CASE WHEN left({v}, 1) BETWEEN '0' AND '9' THEN {v} END"
        if kind == "date":
            return f"try_cast({iso} AS DATE)"
        return f"(try_cast({iso} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
    if kind == "list":
        return f"list_filter(string_split({v}, '|'), lambda x: trim(x) <> '')"
    if kind == "int":
        # DuckDB's cast rounds '1.5' to 2 and reads '0x10': an integer is digits (.0 allowed)
        return (f"CASE WHEN regexp_full_match({v}, '[+-]?[0-9]+(\\.0*)?') "
                f"THEN try_cast({v} AS BIGINT) END")
    if kind == "num":
        # NaN and infinities are no numbers of the contract (as for events)
        return f"CASE WHEN isfinite(try_cast({v} AS DOUBLE)) THEN try_cast({v} AS DOUBLE) END"
    return f"try_cast({v} AS {COLUMN_SQL_TYPES[kind]})"


KIND_LABEL = {
    "ts": "an ISO-8601 date-time",
    "date": "a date (YYYY-MM-DD)",
    "int": "an integer",
    "num": "a number",
    "money": "a decimal amount",
}


def parse_sql(entity: PlatformEntity, rows_table: str, present: set[str],
              record_column: str = "record_number", keep: tuple[str, ...] = ()) -> str:
    """One SELECT over ``rows_table`` (all-VARCHAR cells named as the CSV header, plus
    the record number in ``record_column``) giving the record number, the reject reason
    and the entity's typed columns, then the columns of ``rows_table`` named in ``keep``
    as they are.

    ``present`` holds the contract columns the file's header has; absent optional
    columns are NULL.
    """
    checks: list[tuple[str, str, str]] = []
    selects: list[str] = []
    for col, kind in entity.columns.items():
        cell = _ident(col) if col in present else "NULL::VARCHAR"
        typed = typed_sql(kind, cell)
        selects.append(f"{typed} AS {_ident(col)}")
        if col in entity.required:
            checks.append(
                (f"nullif(trim({cell}), '') IS NULL", "missing_field",
                 _q(f"required column {col} is empty"))
            )
        if kind in KIND_LABEL:
            code = "invalid_timestamp" if kind == "ts" else "wrong_type"
            checks.append(
                (f"nullif(trim({cell}), '') IS NOT NULL AND {typed} IS NULL", code,
                 _q(f"{col}: ") + f" || {cell} || " + _q(f" is not {KIND_LABEL[kind]}"))
            )
        if col in entity.enums:
            allowed = ", ".join(_q(v) for v in entity.enums[col])
            checks.append(
                (f"{typed} IS NOT NULL AND {typed} NOT IN ({allowed})", "invalid_value",
                 _q(f"{col}: ") + f" || {cell} || "
                 + _q(f" is not one of {', '.join(entity.enums[col])}"))
            )
        if col in entity.non_negative:
            checks.append(
                (f"{typed} < 0", "out_of_range", _q(f"{col}: ") + f" || {cell} || "
                 + _q(" is negative"))
            )
    if not checks:
        reason_code = reason = "NULL::VARCHAR"
    else:
        reason_code = "CASE " + " ".join(f"WHEN {c} THEN {_q(k)}" for c, k, _ in checks) + " END"
        reason = "CASE " + " ".join(f"WHEN {c} THEN {d}" for c, _, d in checks) + " END"
    return f"""
SELECT {_ident(record_column)} AS record_number,
       {reason_code} AS reason_code,
       {reason} AS reason,
       {", ".join(selects + [_ident(k) for k in keep])}
FROM {rows_table}
"""
