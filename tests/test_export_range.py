"""`insights export`'s cut (serving.export): a table's rows from --from to --to, both days
included, counted here by hand; a table without a date column whole; only the published
schemas; a reversed range refused. Fast: a small DuckDB, no demo."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from serving.export import ExportError, export_tables, resolve_tables


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("create schema marts; create schema ml; create schema raw")
    c.execute("""create table marts.daily as
        select date '2026-01-01' + cast(i as integer) as date, i as n from range(10) t(i)""")
    c.execute("create table marts.creators as select 'c1' as creator_id union all select 'c2'")
    c.execute("create table ml.scores as select date '2026-01-05' as as_of_date, 0.5 as p")
    c.execute("create table raw.users as select 'u1' as user_id, 'a@b.c' as email")
    return c


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_range_keeps_both_end_days_and_nothing_outside(con, tmp_path: Path, fmt: str):
    start, end = date(2026, 1, 3), date(2026, 1, 6)
    files = export_tables(con, resolve_tables(con, ["daily", "creators", "ml.scores"]),
                          start=start, end=end, fmt=fmt, folder=tmp_path)
    by_table = {f.table: f for f in files}
    reader = "read_csv" if fmt == "csv" else "read_parquet"
    got = [r[0] for r in duckdb.connect().execute(
        f"select cast(date as date) from {reader}(?) order by 1",
        [str(by_table["marts.daily"].path)]).fetchall()]
    # 01-03, 01-04, 01-05, 01-06: four days, the two ends included
    assert got == [start + timedelta(days=k) for k in range(4)]
    assert by_table["marts.daily"].rows == 4 and by_table["marts.daily"].date_column == "date"
    assert by_table["marts.creators"].rows == 2  # no date column: whole
    assert by_table["marts.creators"].date_column is None
    assert by_table["ml.scores"].rows == 1 and by_table["ml.scores"].date_column == "as_of_date"


def test_open_ended_ranges_and_refusals(con, tmp_path: Path):
    tables = resolve_tables(con, ["daily"])
    [f] = export_tables(con, tables, start=date(2026, 1, 8), end=None, fmt="csv",
                        folder=tmp_path)
    assert f.rows == 3  # 01-08, 01-09 and 01-10, the last day
    [f] = export_tables(con, tables, start=None, end=date(2026, 1, 1), fmt="csv",
                        folder=tmp_path)
    assert f.rows == 1  # 01-01 alone
    with pytest.raises(ExportError, match="after --to"):
        export_tables(con, tables, start=date(2026, 1, 5), end=date(2026, 1, 4), fmt="csv",
                      folder=tmp_path)
    with pytest.raises(ExportError, match=r"no published table raw\.users"):
        resolve_tables(con, ["raw.users"])
