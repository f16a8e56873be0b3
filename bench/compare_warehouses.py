"""Compare two DuckDB warehouses table by table: every table of every schema, ``EXCEPT ALL``
both ways, apart from columns that hold when or by which run a row was written.

    python bench/compare_warehouses.py A.duckdb B.duckdb [--schemas raw,marts] [--ignore col,...]

Prints one line per table (rows in A, in B, rows only in A, only in B) and exits 1 when any
table differs or exists in one warehouse only.
"""

from __future__ import annotations

import argparse
import sys

import duckdb

# written per run or per load: never equal between two runs of the same code
VOLATILE = ("load_id", "loaded_at", "rejected_at", "started_at", "finished_at", "run_id",
            "built_at", "loads_up_to", "fitted_at")


def tables(con: duckdb.DuckDBPyConnection, db: str, schemas: set[str] | None) -> dict:
    rows = con.execute(
        "SELECT table_schema, table_name, list(column_name ORDER BY ordinal_position) "
        "FROM information_schema.columns WHERE table_catalog = ? GROUP BY 1, 2", [db]
    ).fetchall()
    return {(s, t): cols for s, t, cols in rows if schemas is None or s in schemas}


def compare(a: str, b: str, schemas: set[str] | None, ignore: set[str]) -> int:
    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS wa (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS wb (READ_ONLY)")
    ta, tb = tables(con, "wa", schemas), tables(con, "wb", schemas)
    differ = 0
    for key in sorted(set(ta) | set(tb)):
        name = ".".join(key)
        if key not in ta or key not in tb:
            print(f"{name}: only in {'A' if key in ta else 'B'}")
            differ += 1
            continue
        cols = [c for c in ta[key] if c in tb[key] and c not in ignore]
        if not cols:
            print(f"{name}: no column to compare")
            continue
        sel = ", ".join(f'"{c}"' for c in cols)
        count = "SELECT count(*) FROM ({} EXCEPT ALL {})"
        qa, qb = (f'SELECT {sel} FROM {db}."{key[0]}"."{key[1]}"' for db in ("wa", "wb"))
        na = con.execute(f"SELECT count(*) FROM ({qa})").fetchone()[0]
        nb = con.execute(f"SELECT count(*) FROM ({qb})").fetchone()[0]
        only_a = con.execute(count.format(qa, qb)).fetchone()[0]
        only_b = con.execute(count.format(qb, qa)).fetchone()[0]
        skipped = sorted(set(ta[key]) ^ set(tb[key]) | (set(ta[key]) & ignore))
        ok = only_a == only_b == 0 and set(ta[key]) == set(tb[key])
        differ += not ok
        print(f"{name}: {'same' if ok else 'DIFFERENT'} (A {na:,} rows, B {nb:,}; only in A "
              f"{only_a:,}, only in B {only_b:,}; not compared: {', '.join(skipped) or '-'})")
    print(f"{differ} table(s) differ")
    return 1 if differ else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--schemas", help="comma-separated schemas (default: all)")
    p.add_argument("--ignore", default=",".join(VOLATILE),
                   help="columns left out of the comparison")
    args = p.parse_args()
    schemas = set(args.schemas.split(",")) if args.schemas else None
    sys.exit(compare(args.a, args.b, schemas, set(filter(None, args.ignore.split(",")))))


if __name__ == "__main__":
    main()
