"""dbt end to end on a hand-made warehouse: raw tables -> staging -> engagement_daily.

The raw tables are created with the ingest DDL and filled by hand (lineage and
``is_current`` set the way the ingest sets them), dbt runs in-process twice (``build``:
models, data tests and unit tests), and the mart is compared with numbers computed by
hand from metrics.md:

1. first load (export days 2025-01-09 and 2025-01-10), reporting time zone New York;
2. a reload with export day 2025-01-11, which brings a late event on 2025-01-10 and
   re-sends an already loaded event.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from tests.dbt_support import DBT_PROJECT_DIR, dbt_build, raw_warehouse
from warehouse.settings import load_settings

TZ = "America/New_York"  # UTC-5 in January
# every setting of config/settings.yaml, with the ones this test is about pinned
DBT_VARS = {
    **load_settings().dbt_vars(),
    "reporting_timezone": TZ,
    "wau_window_days": 7,
    "mau_window_days": 30,
    "as_of_date": None,
}
LOADED_AT = datetime(2025, 1, 12, 6, 0, 0)

# event_id, event_type, event_ts (UTC), session_id, user_id, creator_id, export_date
FIRST_EXPORTS = [
    # s1: u1 with c1 on 01-08 (New York), one bot event that is not active
    ("e01", "conversation_start", "2025-01-08 15:00:00", "s1", "u1", "c1", "2025-01-09"),
    ("e02", "user_message", "2025-01-08 15:01:00", "s1", "u1", "c1", "2025-01-09"),
    ("e03", "bot_response", "2025-01-08 15:02:00", "s1", "u1", "c1", "2025-01-09"),
    # 03:00 UTC on 01-09 is 22:00 on 01-08 in New York: the event crosses midnight
    ("e04", "lesson_started", "2025-01-09 03:00:00", "s2", "u2", "c2", "2025-01-09"),
    # anonymous active event: counts in active_events and sessions, never as a user
    ("e05", "user_message", "2025-01-09 14:00:00", "s3", None, "c1", "2025-01-09"),
    # a session of bot events only (anonymous): a session, no active event
    ("e11", "bot_response", "2025-01-09 16:00:00", "s6", None, "c2", "2025-01-09"),
    # u1 with both creators on 01-10: once in '__all__'
    ("e06", "lesson_started", "2025-01-10 12:00:00", "s4", "u1", "c2", "2025-01-10"),
    ("e07", "user_message", "2025-01-10 13:00:00", "s5", "u1", "c1", "2025-01-10"),
    # e02 re-sent on 01-10: this copy wins, the 01-09 copy is no longer current
    ("e02", "user_message", "2025-01-08 15:01:00", "s1", "u1", "c1", "2025-01-10"),
]

# A non-current copy that must be ignored: had it counted, u3 would be active on 01-07
# with c1 and every series would start on 01-07.
STALE_COPY = ("e02", "user_message", "2025-01-07 15:01:00", "s1", "u3", "c1", "2025-01-08")

RELOAD_EXPORTS = [
    # late: exported on 01-11, happened on 01-10 (15:00 in New York)
    ("e09", "user_message", "2025-01-10 20:00:00", "s7", "u3", "c1", "2025-01-11"),
    ("e10", "user_message", "2025-01-11 15:00:00", "s8", "u2", "c1", "2025-01-11"),
    # e07 re-sent: still one event
    ("e07", "user_message", "2025-01-10 13:00:00", "s5", "u1", "c1", "2025-01-11"),
]

D8, D9, D10, D11 = (date(2025, 1, d) for d in (8, 9, 10, 11))

# (date, creator_id): (dau, wau, mau, stickiness, sessions, active_events)
EXPECTED_FIRST = {
    (D8, "c1"): (1, 1, 1, 1.0, 1, 2),
    (D9, "c1"): (0, 1, 1, 0.0, 1, 1),
    (D10, "c1"): (1, 1, 1, 1.0, 1, 1),
    (D8, "c2"): (1, 1, 1, 1.0, 1, 1),
    (D9, "c2"): (0, 1, 1, 0.0, 1, 0),
    (D10, "c2"): (1, 2, 2, 0.5, 1, 1),
    (D8, "__all__"): (2, 2, 2, 1.0, 2, 3),
    (D9, "__all__"): (0, 2, 2, 0.0, 2, 1),
    (D10, "__all__"): (1, 2, 2, 0.5, 2, 2),
}

EXPECTED_AFTER_RELOAD = {
    **EXPECTED_FIRST,
    # the late event: yesterday (01-10) gains u3 for c1 and for all creators
    (D10, "c1"): (2, 2, 2, 1.0, 2, 2),
    (D10, "__all__"): (2, 3, 3, 2 / 3, 3, 3),
    (D11, "c1"): (1, 3, 3, 1 / 3, 1, 1),
    (D11, "c2"): (0, 2, 2, 0.0, 0, 0),
    (D11, "__all__"): (1, 3, 3, 1 / 3, 1, 1),
}


# --- raw layer, by hand -------------------------------------------------------------


def _insert_events(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    for line, (event_id, event_type, ts, session, user, creator, export) in enumerate(rows, 1):
        con.execute(
            """
            INSERT INTO raw.events (event_id, event_type, is_known_event_type, event_ts,
                session_id, user_id, creator_id, export_date, source_file, source_line,
                load_id, loaded_at, is_current)
            VALUES (?, ?, true, CAST(? AS TIMESTAMP), ?, ?, ?, CAST(? AS DATE), ?, ?, ?, ?, true)
            """,
            [event_id, event_type, ts, session, user, creator, export,
             f"events/{export}/part-0.ndjson", line, f"load-{export}", LOADED_AT],
        )
    # the ingest's rule: the latest export date wins, then the last file and line
    con.execute(
        """
        UPDATE raw.events AS t SET is_current = r.rn = 1
        FROM (
            SELECT export_date, source_file, source_line, row_number() OVER (
                PARTITION BY event_id
                ORDER BY export_date DESC, source_file DESC, source_line DESC) AS rn
            FROM raw.events
        ) AS r
        WHERE t.export_date = r.export_date AND t.source_file = r.source_file
          AND t.source_line = r.source_line
        """
    )


def _insert_platform(con: duckdb.DuckDBPyConnection) -> None:
    lineage = "DATE '2025-01-10', 'platform/x/2025-01-10/x.csv', {line}, 'load-p', " \
        "TIMESTAMP '2025-01-12 06:00:00', true"
    for i, user in enumerate(("u1", "u2", "u3", "u4"), 1):
        con.execute(
            f"""
            INSERT INTO raw.users (user_id, email, display_name, signup_at, country, timezone,
                acquisition_channel, plan, export_date, source_file, source_line, load_id,
                loaded_at, is_current)
            VALUES (?, ?, ?, TIMESTAMP '2025-01-01 10:00:00', 'US', 'America/New_York',
                    'organic', 'free', {lineage.format(line=i + 1)})
            """,
            [user, f"{user}@example.com", f"User {user.upper()}"],
        )
    for i, creator in enumerate(("c1", "c2"), 1):
        con.execute(
            f"""
            INSERT INTO raw.creators (creator_id, name, category, joined_at, export_date,
                source_file, source_line, load_id, loaded_at, is_current)
            VALUES (?, ?, 'fitness', TIMESTAMP '2024-06-01 00:00:00',
                    {lineage.format(line=i + 1)})
            """,
            [creator, f"Creator {creator}"],
        )
    con.execute(
        f"""
        INSERT INTO raw.payments (payment_id, user_id, program_id, amount, currency, paid_at,
            kind, export_date, source_file, source_line, load_id, loaded_at, is_current)
        VALUES ('p1', 'u1', 'prog1', 19.99, 'usd', TIMESTAMP '2025-01-10 12:00:00', 'charge',
                {lineage.format(line=2)})
        """
    )
    # a rejected users record carries personal data in its raw text
    con.execute(
        """
        INSERT INTO raw.rejects VALUES ('users', DATE '2025-01-10',
            'platform/users/2025-01-10/users.csv', 6, 'missing_field',
            'required column signup_at is empty', 'u9,u9@example.com,User U9,,US',
            'load-p', TIMESTAMP '2025-01-12 06:00:00')
        """
    )


# --- dbt ----------------------------------------------------------------------------


def _dbt_build(tmp: Path) -> None:
    dbt_build(tmp, DBT_VARS, ["+engagement_daily", "stg_users", "stg_rejects"])


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection with the default configuration: dbt-duckdb may keep its database
    instance open in this process, and DuckDB refuses a second instance of the same file
    with another configuration (read_only among them)."""
    return duckdb.connect(str(path))


def _engagement(con: duckdb.DuckDBPyConnection) -> dict[tuple[date, str], tuple]:
    rows = con.execute(
        """
        SELECT "date", creator_id, dau, wau, mau, stickiness, sessions, active_events
        FROM marts.engagement_daily
        """
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


COVERAGE_START = D8  # the first day (New York) with a loaded event


def _covered(key: tuple[date, str], exp: tuple) -> tuple:
    """metrics.md v2 "Coverage": a WAU / MAU window that reaches before the coverage
    start is unknown, null (stickiness with MAU). The hand-made numbers above are what
    the windows hold; every window of this short warehouse reaches before D8."""
    day = key[0]
    wau_known = day - timedelta(days=DBT_VARS["wau_window_days"] - 1) >= COVERAGE_START
    mau_known = day - timedelta(days=DBT_VARS["mau_window_days"] - 1) >= COVERAGE_START
    dau, wau, mau, stickiness, *rest = exp
    return (dau, wau if wau_known else None, mau if mau_known else None,
            stickiness if mau_known else None, *rest)


def _assert_engagement(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for key, exp in expected.items():
        got, exp = actual[key], _covered(key, exp)
        assert got[:3] == exp[:3] and got[4:] == exp[4:], (key, got, exp)
        if exp[3] is None:
            assert got[3] is None, (key, got, exp)
        else:
            assert got[3] == pytest.approx(exp[3]), (key, got, exp)


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    def fill(con: duckdb.DuckDBPyConnection) -> None:
        _insert_events(con, [STALE_COPY, *FIRST_EXPORTS])
        _insert_platform(con)

    return raw_warehouse(monkeypatch, tmp_path / "warehouse.duckdb", fill)


def test_engagement_daily_end_to_end(warehouse: Path, tmp_path: Path) -> None:
    assert os.environ["INSIGHTS_WAREHOUSE"] == str(warehouse)

    # --- first load ---------------------------------------------------------------
    _dbt_build(tmp_path)
    with _connect(warehouse) as con:
        _assert_engagement(_engagement(con), EXPECTED_FIRST)
        assert con.execute(
            "SELECT DISTINCT as_of_date FROM marts.engagement_daily"
        ).fetchall() == [(D10,)]

        # the stale copy of e02 is gone; the current one is there once
        assert con.execute(
            "SELECT user_id, event_date FROM staging.stg_events WHERE event_id = 'e02'"
        ).fetchall() == [("u1", D8)]
        # the time zone moved e04 to the previous day
        assert con.execute(
            "SELECT CAST(event_ts AS DATE), event_date FROM staging.stg_events "
            "WHERE event_id = 'e04'"
        ).fetchall() == [(D9, D8)]

        # personal data never leaves the raw layer
        stg_user_columns = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'staging' AND table_name = 'stg_users'"
        ).fetchall()}
        assert "user_id" in stg_user_columns
        assert not {"email", "display_name"} & stg_user_columns
        assert con.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema IN ('staging', 'intermediate', 'marts') "
            "AND column_name IN ('email', 'display_name')"
        ).fetchone() == (0,)
        assert con.execute(
            "SELECT raw_text, is_raw_text_withheld FROM staging.stg_rejects"
        ).fetchall() == [(None, True)]

        # the mart is documented in the database too (COMMENT ON, for BI tools)
        assert con.execute(
            "SELECT comment FROM duckdb_tables() "
            "WHERE schema_name = 'marts' AND table_name = 'engagement_daily'"
        ).fetchone()[0]

    # --- reload: export day 2025-01-11 with a late event on 2025-01-10 -------------
    with _connect(warehouse) as con:
        _insert_events(con, RELOAD_EXPORTS)
        assert con.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_current) FROM raw.events "
            "WHERE event_id = 'e07'"
        ).fetchone() == (2, 1)

    _dbt_build(tmp_path)
    with _connect(warehouse) as con:
        _assert_engagement(_engagement(con), EXPECTED_AFTER_RELOAD)
        assert con.execute(
            "SELECT DISTINCT as_of_date FROM marts.engagement_daily"
        ).fetchall() == [(D11,)]


def test_the_utc_shortcut_names_only_zones_that_are_utc() -> None:
    """The reporting-zone macros take a UTC timestamp's own date and hour, without the
    time-zone conversion, for the zone names of `utc_zone_names`: each must be offset 0
    without daylight time at every instant, and the shortcut must equal the conversion."""
    text = (DBT_PROJECT_DIR / "macros" / "cross_db" / "to_local_date.sql").read_text()
    block = re.search(r"macro utc_zone_names\(\).*?endmacro", text, re.S)
    assert block is not None
    names = re.findall(r"'([^']+)'", block.group(0))
    assert "UTC" in names and len(names) >= 10
    for name in names:
        zone = ZoneInfo(name)
        for year in range(1900, 2101, 3):
            for month in range(1, 13):
                instant = datetime(year, month, 15, 12, tzinfo=zone)
                assert instant.utcoffset() == timedelta(0), (name, instant)
                assert instant.dst() in (None, timedelta(0)), (name, instant)
    # the zone database of DuckDB (ICU) agrees: the date and hour of the conversion are
    # the timestamp's own, over years of timestamps 37 minutes apart
    different = duckdb.sql(f"""
        select count(*) from generate_series(
            timestamp '1969-12-30 00:00:00', timestamp '1973-03-01 00:00:00',
            interval 37 minute) as t(ts), unnest({names}) as z(zone)
        where cast(ts as date) <> cast(timezone(zone, timezone('UTC', ts)) as date)
           or hour(ts) <> hour(timezone(zone, timezone('UTC', ts)))
    """).fetchall()[0][0]
    assert different == 0
