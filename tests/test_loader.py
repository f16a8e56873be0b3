"""Loading export days into the raw layer: formats, rejects, dedupe, reconciliation,
idempotence and atomicity (ingest.loader on real DuckDB files)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest import loader
from ingest.landing import export_day, scan_landing
from ingest.loader import ensure_schema, load_day
from warehouse.db import connect

from .conftest import event


@pytest.fixture
def con(tmp_path: Path):
    c = connect(tmp_path / "wh.duckdb")
    ensure_schema(c)
    yield c
    c.close()


def load(con, landing: Path, entity: str, day: str):
    found = export_day(landing, entity, date.fromisoformat(day))
    assert found is not None
    return load_day(con, landing, found)


def table_hash(con, table: str) -> str:
    """Content hash of a table, without the columns that name a load."""
    rows = con.execute(
        f"SELECT * EXCLUDE (load_id, loaded_at) FROM {table} ORDER BY ALL"
        if table != "raw.rejects"
        else "SELECT * EXCLUDE (load_id, rejected_at) FROM raw.rejects ORDER BY ALL"
    ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def current(con, sql_where: str = "true") -> list[tuple]:
    return con.execute(
        f"SELECT event_id, export_date, source_file FROM raw.events "
        f"WHERE is_current AND {sql_where} ORDER BY event_id"
    ).fetchall()


def test_ndjson_gzip_and_parquet_load_alike(con, tmp_path, write_events):
    landing = tmp_path / "landing"
    write_events(landing, "2026-03-10", "a.ndjson", [event("a1", "2026-03-10T01:00:00Z")])
    write_events(landing, "2026-03-10", "b.ndjson.gz", [event("b1", "2026-03-10T02:00:00Z")])
    folder = landing / "events" / "2026-03-10"
    duckdb.sql(
        "COPY (SELECT 'p1' AS event_id, 'lesson_started' AS event_type, "
        "'2026-03-10T03:00:00+01:00' AS timestamp, 's9' AS session_id, 'u2' AS user_id, "
        "'{\"topic\": \"algebra\"}' AS data) "
        f"TO '{folder / 'c.parquet'}' (FORMAT parquet)"
    )
    result = load(con, landing, "events", "2026-03-10")
    assert {f.file_format: f.loaded for f in result.files} == {
        "ndjson": 1, "ndjson.gz": 1, "parquet": 1
    }
    topic, ts = con.execute(
        "SELECT topic, event_ts::VARCHAR FROM raw.events WHERE event_id = 'p1'"
    ).fetchone()
    assert (topic, ts) == ("algebra", "2026-03-10 02:00:00")


def test_bad_lines_are_rejected_with_file_line_reason_and_text(con, tmp_path, write_events):
    landing = tmp_path / "landing"
    write_events(
        landing,
        "2026-03-10",
        "a.ndjson",
        [
            event("ok1", "2026-03-10T01:00:00Z"),
            "{broken",
            b'{"event_id": "x\xff", "event_type": "error"}',
            event("neg", "2026-03-10T01:00:00Z", duration_ms=-3),
            "",
            event("ok2", "2026-03-10T01:00:00Z"),
        ],
    )
    result = load(con, landing, "events", "2026-03-10")
    (f,) = result.files
    assert (f.records_read, f.loaded, f.rejected, f.duplicates, f.blank_lines) == (5, 2, 3, 0, 1)
    rejects = con.execute(
        "SELECT source_file, line_number, reason_code, raw_text FROM raw.rejects ORDER BY 2"
    ).fetchall()
    assert [(r[1], r[2]) for r in rejects] == [
        (2, "invalid_json"), (3, "invalid_utf8"), (4, "out_of_range")
    ]
    assert rejects[0][0] == "events/2026-03-10/a.ndjson"
    assert rejects[0][3] == "{broken"
    # invalid bytes kept visibly escaped (DuckDB's BLOB text form), without the newline
    assert "\\xFF" in rejects[1][3] and rejects[1][3].endswith("error\\x22}")
    assert result.rejects_by_reason == {"invalid_json": 1, "invalid_utf8": 1, "out_of_range": 1}


def test_unreadable_files_fail_alone(con, tmp_path, write_events):
    landing = tmp_path / "landing"
    write_events(landing, "2026-03-10", "good.ndjson", [event("g1", "2026-03-10T01:00:00Z")])
    folder = landing / "events" / "2026-03-10"
    (folder / "broken.ndjson.gz").write_bytes(b"\x1f\x8b\x08 this is not gzip")
    duckdb.sql(f"COPY (SELECT 'x' AS event_id) TO '{folder / 'noschema.parquet'}' (FORMAT parquet)")
    (folder / "notes.txt").write_text("hello")
    result = load(con, landing, "events", "2026-03-10")
    by_name = {Path(f.source_file).name: f for f in result.files}
    assert by_name["good.ndjson"].loaded == 1
    assert by_name["broken.ndjson.gz"].status == "failed"
    assert "broken.ndjson.gz" in by_name["broken.ndjson.gz"].message
    assert by_name["noschema.parquet"].status == "failed"
    assert "event_type" in by_name["noschema.parquet"].message
    assert by_name["notes.txt"].status == "ignored"
    audit = dict(con.execute("SELECT source_file, status FROM raw.load_audit").fetchall())
    assert audit["events/2026-03-10/broken.ndjson.gz"] == "failed"


def test_resent_and_late_events_latest_export_date_wins_in_any_load_order(
    con, tmp_path, write_events
):
    landing = tmp_path / "landing"
    write_events(landing, "2026-03-10", "a.ndjson", [
        event("e1", "2026-03-10T01:00:00Z", channel="web"),
        event("e2", "2026-03-10T02:00:00Z"),
    ])
    write_events(landing, "2026-03-12", "a.ndjson", [
        event("e1", "2026-03-10T01:00:00Z", channel="mobile"),  # re-sent two days later
        event("late", "2026-03-06T09:00:00Z"),  # 6 days late
    ])
    # load the later day first: the earlier copy must still lose
    load(con, landing, "events", "2026-03-12")
    first = load(con, landing, "events", "2026-03-10")
    assert current(con) == [
        ("e1", date(2026, 3, 12), "events/2026-03-12/a.ndjson"),
        ("e2", date(2026, 3, 10), "events/2026-03-10/a.ndjson"),
        ("late", date(2026, 3, 12), "events/2026-03-12/a.ndjson"),
    ]
    assert (first.files[0].loaded, first.files[0].duplicates) == (1, 1)
    assert con.execute("SELECT channel FROM raw.events WHERE event_id='e1' AND is_current"
                       ).fetchone() == ("mobile",)
    # the later day's file is replaced without e1: the earlier copy counts again
    write_events(landing, "2026-03-12", "a.ndjson", [event("late", "2026-03-06T09:00:00Z")])
    load(con, landing, "events", "2026-03-12")
    assert ("e1", date(2026, 3, 10), "events/2026-03-10/a.ndjson") in current(con)


def test_duplicates_within_a_day_count_once_and_reconcile(con, tmp_path, write_events):
    landing = tmp_path / "landing"
    write_events(landing, "2026-03-10", "a.ndjson", [event("d", "2026-03-10T01:00:00Z")] * 3)
    write_events(landing, "2026-03-10", "b.ndjson", [event("d", "2026-03-10T01:00:00Z")])
    result = load(con, landing, "events", "2026-03-10")
    assert con.execute("SELECT count(*) FROM raw.events WHERE is_current").fetchone() == (1,)
    assert result.total("duplicates") == 3 and result.total("loaded") == 1
    assert result.reconciles
    assert con.execute(
        "SELECT source_file FROM raw.events WHERE is_current"
    ).fetchone() == ("events/2026-03-10/b.ndjson",)


def test_reload_is_idempotent(con, tmp_path, write_events, write_platform):
    landing = tmp_path / "landing"
    write_events(landing, "2026-03-10", "a.ndjson", [
        event("e1", "2026-03-10T01:00:00Z"), "{bad", event("e1", "2026-03-10T01:00:00Z"),
    ])
    write_platform(landing, "payments", "2026-03-10",
                   "payment_id,user_id,program_id,amount,currency,paid_at,kind\n"
                   "p1,u1,pr1,10.00,USD,2026-03-10T10:00:00Z,charge\n"
                   "p2,u1,pr1,-1,USD,2026-03-10T10:00:00Z,charge\n")
    for day in scan_landing(landing):
        load_day(con, landing, day)
    before = {t: table_hash(con, t) for t in ("raw.events", "raw.rejects", "raw.payments")}
    for day in scan_landing(landing):
        load_day(con, landing, day)
    after = {t: table_hash(con, t) for t in ("raw.events", "raw.rejects", "raw.payments")}
    assert before == after
    # the audit keeps both loads
    assert con.execute("SELECT count(DISTINCT load_id) FROM raw.load_audit").fetchone() == (4,)


def test_failed_swap_leaves_previous_state(con, tmp_path, write_events, monkeypatch):
    landing = tmp_path / "landing"
    write_events(landing, "2026-03-10", "a.ndjson", [event("old", "2026-03-10T01:00:00Z")])
    load(con, landing, "events", "2026-03-10")
    before = table_hash(con, "raw.events")
    write_events(landing, "2026-03-10", "a.ndjson", [event("new", "2026-03-10T01:00:00Z")])

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(loader, "_write_audit", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        load(con, landing, "events", "2026-03-10")
    assert table_hash(con, "raw.events") == before
    assert current(con)[0][0] == "old"


def test_incomplete_day_is_refused(con, tmp_path, write_events):
    landing = tmp_path / "landing"
    write_events(landing, "2026-03-10", "a.ndjson", [event("e", "2026-03-10T01:00:00Z")],
                 complete=False)
    (day,) = scan_landing(landing)
    assert not day.complete
    with pytest.raises(ValueError, match="_SUCCESS"):
        load_day(con, landing, day)


USERS_HEADER = "user_id,email,display_name,signup_at,country,timezone,acquisition_channel,plan"


def test_platform_csv_rejects_and_extra_columns(con, tmp_path, write_platform):
    landing = tmp_path / "landing"
    write_platform(
        landing, "users", "2026-03-10",
        (USERS_HEADER + ",referrer\r\n"
         'u1,a@example.com,"Ann, ""A""",2026-01-01T00:00:00+01:00,US,UTC,ads,free,x\r\n'
         "u2,b@example.com,Bo,not-a-date,DE,UTC,ads,pro,y\r\n"
         "u3,c@example.com,Cy,2026-01-02,DE,UTC,ads,pro,z,surplus\r\n"
         ",d@example.com,Di,2026-01-02,DE,UTC,ads,pro,w\r\n").encode()
        + b"u5,e@example.com,E\xff,2026-01-02,DE,UTC,ads,pro,v\r\n",
    )
    result = load(con, landing, "users", "2026-03-10")
    assert result.rejects_by_reason == {
        "invalid_timestamp": 1, "missing_field": 1, "wrong_column_count": 1, "invalid_utf8": 1
    }
    assert result.reconciles and result.total("loaded") == 1
    row = con.execute("SELECT user_id, display_name, signup_at::VARCHAR, extra FROM raw.users"
                      ).fetchone()
    assert row == ("u1", 'Ann, "A"', "2025-12-31 23:00:00", '{"referrer":"x"}')
    lines = dict(con.execute(
        "SELECT reason_code, line_number FROM raw.rejects WHERE entity = 'users'").fetchall())
    assert lines == {"invalid_timestamp": 3, "wrong_column_count": 4, "missing_field": 5,
                     "invalid_utf8": 6}


def test_platform_header_without_required_column_fails_the_file(con, tmp_path, write_platform):
    landing = tmp_path / "landing"
    write_platform(landing, "payments", "2026-03-10", "payment_id,user_id\np1,u1\n")
    result = load(con, landing, "payments", "2026-03-10")
    (f,) = result.files
    assert f.status == "failed" and "amount" in f.message and "payments.csv" in f.message


def test_snapshots_replace_and_older_snapshot_never_wins(con, tmp_path, write_platform):
    landing = tmp_path / "landing"
    write_platform(landing, "creators", "2026-03-10",
                   "creator_id,name,category,joined_at\nc1,Old,fitness,2025-01-01\n"
                   "c2,Gone,yoga,2025-01-01\n")
    write_platform(landing, "creators", "2026-03-11",
                   "creator_id,name,category,joined_at\nc1,New,fitness,2025-01-01\n")
    load(con, landing, "creators", "2026-03-10")
    load(con, landing, "creators", "2026-03-11")
    assert con.execute("SELECT creator_id, name FROM raw.creators").fetchall() == [("c1", "New")]
    older = load(con, landing, "creators", "2026-03-10")  # backfill of an older snapshot
    assert older.files[0].status == "superseded" and older.reconciles
    assert con.execute("SELECT creator_id, name FROM raw.creators").fetchall() == [("c1", "New")]


def test_increments_accumulate_and_dedupe_on_key(con, tmp_path, write_platform):
    landing = tmp_path / "landing"
    header = "payment_id,user_id,program_id,amount,currency,paid_at,kind\n"
    write_platform(landing, "payments", "2026-03-10",
                   header + "p1,u1,pr1,10,USD,2026-03-10T10:00:00Z,charge\n")
    write_platform(landing, "payments", "2026-03-11",
                   header + "p2,u1,pr1,5,EUR,2026-03-11T10:00:00Z,charge\n"
                   "p1,u1,pr1,12,USD,2026-03-10T10:00:00Z,charge\n", name="payments.csv.gz")
    load(con, landing, "payments", "2026-03-10")
    load(con, landing, "payments", "2026-03-11")
    rows = con.execute(
        "SELECT payment_id, amount::DOUBLE FROM raw.payments WHERE is_current ORDER BY 1"
    ).fetchall()
    assert rows == [("p1", 12.0), ("p2", 5.0)]


PAYMENTS_HEADER = "payment_id,user_id,program_id,amount,currency,paid_at,kind\n"


def test_unterminated_quote_fails_the_file_instead_of_losing_its_tail(con, tmp_path,
                                                                      write_platform):
    landing = tmp_path / "landing"
    write_platform(landing, "payments", "2026-03-10", PAYMENTS_HEADER
                   + "p1,u1,pr1,1.00,USD,2026-03-10,charge\n"
                   + 'p2,u1,"pr1,1.00,USD,2026-03-10,charge\n'
                   + "p3,u1,pr1,1.00,USD,2026-03-10,charge\n")
    (f,) = load(con, landing, "payments", "2026-03-10").files
    assert f.status == "failed" and "unterminated quote" in f.message


def test_csv_header_cannot_inject_sql(con, tmp_path, write_platform):
    landing = tmp_path / "landing"
    evil = "a\"\" := 'x' || (SELECT 42), \"\"b"
    write_platform(landing, "payments", "2026-03-10",
                   PAYMENTS_HEADER.strip() + f',"{evil}"\n'
                   + "p1,u1,pr1,1.00,USD,2026-03-10,charge,hello\n")
    result = load(con, landing, "payments", "2026-03-10")
    assert result.total("loaded") == 1
    (extra,) = con.execute("SELECT extra FROM raw.payments").fetchone()
    # the header is data: it names the key of the unknown column, nothing runs
    assert json.loads(extra) == {evil.replace('""', '"'): "hello"}


def test_corrupt_csv_gz_fails_alone(con, tmp_path, write_platform):
    landing = tmp_path / "landing"
    path = write_platform(landing, "payments", "2026-03-10",
                          PAYMENTS_HEADER + "p1,u1,pr1,1.00,USD,2026-03-10,charge\n",
                          name="payments.csv.gz")
    raw = bytearray(path.read_bytes())
    raw[12:20] = b"\xff" * 8
    path.write_bytes(bytes(raw))
    (f,) = load(con, landing, "payments", "2026-03-10").files
    assert f.status == "failed" and "payments.csv.gz" in f.message


def test_a_file_that_turns_unreadable_keeps_its_earlier_rows(con, tmp_path, write_events):
    landing = tmp_path / "landing"
    write_events(landing, "2026-03-10", "a.ndjson", [event("k1", "2026-03-10T01:00:00Z")])
    b = write_events(landing, "2026-03-10", "b.ndjson.gz", [event("k2", "2026-03-10T01:00:00Z")])
    load(con, landing, "events", "2026-03-10")
    b.write_bytes(b"not gzip at all")
    result = load(con, landing, "events", "2026-03-10")
    assert [f.status for f in result.files] == ["loaded", "failed"]
    assert [r[0] for r in current(con)] == ["k1", "k2"]  # never half a day


def test_glob_characters_in_file_names_are_refused(con, tmp_path, write_events):
    landing = tmp_path / "landing"
    write_events(landing, "2026-03-10", "part1.ndjson", [event("p1", "2026-03-10T01:00:00Z")])
    write_events(landing, "2026-03-10", "part[1].ndjson", [event("p2", "2026-03-10T01:00:00Z")])
    by_name = {Path(f.source_file).name: f for f in load(con, landing, "events",
                                                         "2026-03-10").files}
    assert by_name["part[1].ndjson"].status == "failed"
    assert "glob" in by_name["part[1].ndjson"].message
    assert [r[0] for r in current(con)] == ["p1"]


def test_a_day_with_only_success_is_audited_not_pending(con, tmp_path):
    from ingest.state import loaded_signatures, needs_load

    landing = tmp_path / "landing"
    folder = landing / "events" / "2026-03-10"
    folder.mkdir(parents=True)
    (folder / "_SUCCESS").touch()
    (day,) = scan_landing(landing)
    load_day(con, landing, day)
    assert not needs_load(landing, day, loaded_signatures(con))


def test_superseded_snapshot_days_reconcile(con, tmp_path, write_platform):
    from ingest.batch import load_entity_days

    landing = tmp_path / "landing"
    header = "creator_id,name,category,joined_at\n"
    write_platform(landing, "creators", "2026-03-10", header + "c1,A,x,2025-01-01\n,B,x,x\n")
    write_platform(landing, "creators", "2026-03-11", header + "c1,A2,x,2025-01-01\n,C,x,x\n")
    write_platform(landing, "creators", "2026-03-12", header + "c1,A3,x,2025-01-01\n")
    load(con, landing, "creators", "2026-03-10")
    load(con, landing, "creators", "2026-03-11")
    assert con.execute("SELECT count(*) FROM raw.rejects WHERE entity = 'creators'"
                       ).fetchone() == (2,)
    days = [date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12)]
    batch = load_entity_days(con, landing, "creators", days, reload=True)
    # the old days are audited as superseded (in one transaction), their rejects dropped
    assert batch.skipped["superseded"] == ["2026-03-10", "2026-03-11"]
    rows = con.execute(
        "SELECT export_date::VARCHAR, loaded, rejected, duplicates, reconciles "
        "FROM raw.file_reconciliation WHERE entity = 'creators' ORDER BY 1"
    ).fetchall()
    assert rows == [("2026-03-10", 0, 0, 0, True), ("2026-03-11", 0, 0, 0, True),
                    ("2026-03-12", 1, 0, 0, True)]
    assert con.execute("SELECT count(*) FROM raw.rejects WHERE entity = 'creators'"
                       ).fetchone() == (0,)
    # each old day has its own audit of this load, with the reason
    audits = con.execute(
        "SELECT export_date::VARCHAR, status, message FROM raw.load_audit "
        "WHERE entity = 'creators' AND status = 'superseded' ORDER BY 1"
    ).fetchall()
    assert [a[:2] for a in audits] == [("2026-03-10", "superseded"), ("2026-03-11", "superseded")]
    assert all("2026-03-12" in a[2] for a in audits), audits
    assert con.execute("SELECT name FROM raw.creators WHERE is_current").fetchall() == [("A3",)]


def _loaded(tmp_path: Path, name: str, landing: Path, entity: str, days: list[date], *,
            batched: bool):
    """A new warehouse with ``days`` of ``entity`` loaded as one batch (``load_entity_days``,
    whose result is returned, every file reconciled) or day by day (``load_day``: None)."""
    from ingest.batch import load_entity_days

    c = connect(tmp_path / f"{name}.duckdb")
    ensure_schema(c)
    if not batched:
        for d in days:
            load(c, landing, entity, d.isoformat())
        return c, None
    batch = load_entity_days(c, landing, entity, days)
    assert len(batch.results) == len(days) and not batch.unbalanced
    return c, batch


def test_days_loaded_as_one_batch_equal_days_loaded_one_by_one(tmp_path, write_events):
    """load_entity_days stages and validates several event days together; the tables must
    be exactly those of loading each day on its own (rejects judged by their own day)."""
    landing = tmp_path / "landing"
    write_events(landing, "2026-03-10", "a.ndjson", [
        event("e1", "2026-03-10T01:00:00Z", channel="web"),
        event("soon", "2026-03-11T23:00:00Z"),  # fine for 03-10 (the day after)
        event("far", "2026-03-12T00:30:00Z"),  # too late for 03-10
        "{broken",
        "",
    ])
    write_events(landing, "2026-03-11", "a.ndjson.gz", [
        event("e1", "2026-03-10T01:00:00Z", channel="mobile"),
        event("far", "2026-03-12T00:30:00Z"),  # fine for 03-11
    ])
    (landing / "events" / "2026-03-11" / "b.ndjson.gz").write_bytes(b"\x1f\x8b not gzip")
    write_events(landing, "2026-03-12", "a.ndjson", [b'{"event_id": "\xff"}'])
    days = [date(2026, 3, d) for d in (10, 11, 12)]
    tables = ("raw.events", "raw.rejects")
    hashes = []
    for batched in (True, False):
        c, _ = _loaded(tmp_path, f"wh_{batched}", landing, "events", days, batched=batched)
        audit = c.execute(
            "SELECT export_date, source_file, status, records_read, blank_lines, loaded, "
            "rejected, duplicates FROM raw.load_audit ORDER BY ALL"
        ).fetchall()
        hashes.append(([table_hash(c, t) for t in tables], audit))
        if batched:
            rejects = c.execute(
                "SELECT export_date, line_number, reason_code FROM raw.rejects ORDER BY ALL"
            ).fetchall()
            assert rejects == [
                (date(2026, 3, 10), 3, "timestamp_too_late"),
                (date(2026, 3, 10), 4, "invalid_json"),
                (date(2026, 3, 12), 1, "invalid_utf8"),
            ]
        c.close()
    assert hashes[0] == hashes[1]


def test_a_batch_reload_counts_each_day_as_loading_them_one_by_one(tmp_path,
                                                                   write_events):
    """A batch swaps its days in one transaction; each day's audit must still be what
    reloading the days one by one gives: a copy on a later day that the batch replaces
    still outranks the day's row when that day is counted (and one on a later day that
    the batch brings does not yet), and a file that now fails keeps its earlier rows."""
    from ingest.batch import load_entity_days

    landing = tmp_path / "landing"
    days = [date(2026, 3, d) for d in (10, 11, 12)]

    def first_export() -> None:
        write_events(landing, "2026-03-10", "a.ndjson", [event("x", "2026-03-10T01:00:00Z")])
        write_events(landing, "2026-03-11", "a.ndjson", [event("k", "2026-03-11T01:00:00Z")])
        write_events(landing, "2026-03-11", "b.ndjson.gz", [event("kept", "2026-03-11T02:00:00Z")])
        write_events(landing, "2026-03-12", "a.ndjson", [
            event("x", "2026-03-10T01:00:00Z"), event("z", "2026-03-10T05:00:00Z")])

    def second_export() -> None:
        write_events(landing, "2026-03-10", "a.ndjson", [
            event("x", "2026-03-10T01:00:00Z"), event("y", "2026-03-10T03:00:00Z"),
            event("z", "2026-03-10T05:00:00Z")])
        write_events(landing, "2026-03-11", "a.ndjson", [
            event("y", "2026-03-10T03:00:00Z"), event("y", "2026-03-10T03:00:00Z")])
        (landing / "events" / "2026-03-11" / "b.ndjson.gz").write_bytes(b"\x1f\x8b broken")
        write_events(landing, "2026-03-12", "a.ndjson", [event("w", "2026-03-12T05:00:00Z")])

    first_export()
    states = []
    for batched in (True, False):
        c = connect(tmp_path / f"reload_{batched}.duckdb")
        ensure_schema(c)
        for d in days:
            load(c, landing, "events", d.isoformat())
        states.append(c)
    second_export()
    batch = load_entity_days(states[0], landing, "events", days, reload=True)
    assert not batch.unbalanced
    for d in days:
        load(states[1], landing, "events", d.isoformat())
    audits = []
    for c in states:
        audits.append((
            c.execute("SELECT export_date, source_file, status, records_read, loaded, "
                      "rejected, duplicates FROM raw.load_audit ORDER BY ALL").fetchall(),
            [table_hash(c, t) for t in ("raw.events", "raw.rejects")]))
    assert audits[0] == audits[1]
    # (loaded, rejected, duplicates) of each day's reload: 03-10 was counted while 03-12
    # still held x and z (duplicates then) and before 03-11 brought y (loaded then)
    assert [(f.loaded, f.rejected, f.duplicates) for r in batch.results for f in r.files
            if f.status == "loaded"] == [(1, 0, 2), (1, 0, 1), (1, 0, 0)]
    assert current(states[0], "event_id IN ('x', 'y', 'z', 'kept')") == [
        ("kept", date(2026, 3, 11), "events/2026-03-11/b.ndjson.gz"),
        ("x", date(2026, 3, 10), "events/2026-03-10/a.ndjson"),
        ("y", date(2026, 3, 11), "events/2026-03-11/a.ndjson"),
        ("z", date(2026, 3, 10), "events/2026-03-10/a.ndjson")]
    for c in states:
        c.close()


def test_a_batch_reload_of_payments_counts_each_day_as_loading_them_one_by_one(
        tmp_path, write_platform):
    """As for events: an increment's days swapped in one transaction give the tables and
    the audit of reloading them one by one (a later day's replaced copy of a key
    outranks the day's row when that day is counted; a failed file keeps its rows)."""
    from ingest.batch import load_entity_days

    landing = tmp_path / "landing"
    days = [date(2026, 3, d) for d in (10, 11, 12)]

    def pay(key: str, amount: int) -> str:
        return f"{key},u1,pr1,{amount},USD,2026-03-10T10:00:00Z,charge\n"

    write_platform(landing, "payments", "2026-03-10", PAYMENTS_HEADER + pay("x", 1))
    write_platform(landing, "payments", "2026-03-11", PAYMENTS_HEADER + pay("k", 2))
    write_platform(landing, "payments", "2026-03-11", PAYMENTS_HEADER + pay("kept", 3),
                   name="b.csv.gz")
    write_platform(landing, "payments", "2026-03-12", PAYMENTS_HEADER + pay("x", 4)
                   + pay("z", 5))
    states = []
    for name in ("batch", "alone"):
        c = connect(tmp_path / f"pay_{name}.duckdb")
        ensure_schema(c)
        for d in days:
            load(c, landing, "payments", d.isoformat())
        states.append(c)
    write_platform(landing, "payments", "2026-03-10", PAYMENTS_HEADER + pay("x", 6)
                   + pay("y", 7) + pay("z", 8))
    write_platform(landing, "payments", "2026-03-11", PAYMENTS_HEADER + pay("y", 9)
                   + pay("y", 10))
    (landing / "platform" / "payments" / "2026-03-11" / "b.csv.gz").write_bytes(
        b"\x1f\x8b broken")
    write_platform(landing, "payments", "2026-03-12", PAYMENTS_HEADER + pay("w", 11))
    batch = load_entity_days(states[0], landing, "payments", days, reload=True)
    assert not batch.unbalanced
    for d in days:
        load(states[1], landing, "payments", d.isoformat())
    audit = ("SELECT export_date, source_file, status, records_read, loaded, rejected, "
             "duplicates FROM raw.load_audit ORDER BY ALL")
    assert states[0].execute(audit).fetchall() == states[1].execute(audit).fetchall()
    assert [table_hash(states[0], t) for t in ("raw.payments", "raw.rejects")] == [
        table_hash(states[1], t) for t in ("raw.payments", "raw.rejects")]
    assert [(f.loaded, f.rejected, f.duplicates) for r in batch.results for f in r.files
            if f.status == "loaded"] == [(1, 0, 2), (1, 0, 1), (1, 0, 0)]
    assert states[0].execute(
        "SELECT payment_id, export_date, source_line FROM raw.payments WHERE is_current "
        "ORDER BY 1").fetchall() == [
        ("kept", date(2026, 3, 11), 2), ("w", date(2026, 3, 12), 2),
        ("x", date(2026, 3, 10), 2), ("y", date(2026, 3, 11), 3), ("z", date(2026, 3, 10), 4)]
    for c in states:
        c.close()


def _platform_days(landing: Path, write_platform) -> list[date]:
    """Three payment days: a key resent on a later day, bad rows, a failed file beside a
    good one, an extra column, a day whose header lacks an optional column."""
    write_platform(landing, "payments", "2026-03-10", PAYMENTS_HEADER
                   + "p1,u1,pr1,10,USD,2026-03-10T10:00:00Z,charge\n"
                   + "p2,u1,pr1,-1,USD,2026-03-10T10:00:00Z,charge\n"
                   + "p3,u1,pr1,1,USD,not a time,charge\n")
    write_platform(landing, "payments", "2026-03-11", PAYMENTS_HEADER.rstrip("\n")
                   + ",referrer\n" + "p1,u1,pr1,12,USD,2026-03-10T10:00:00Z,refund,ads\n"
                   + "p4,u2,pr2,3,EUR,2026-03-11T10:00:00Z,gift,\n", name="payments.csv.gz")
    write_platform(landing, "payments", "2026-03-11", b"\x1f\x8b not gzip", name="b.csv.gz")
    write_platform(landing, "payments", "2026-03-12",
                   "payment_id,amount,currency,paid_at,kind\n"
                   "p4,4,EUR,2026-03-12T10:00:00Z,charge\n")
    return [date(2026, 3, d) for d in (10, 11, 12)]


def _raw_state(c) -> tuple:
    audit = c.execute(
        "SELECT export_date, source_file, status, records_read, loaded, rejected, duplicates "
        "FROM raw.load_audit ORDER BY ALL"
    ).fetchall()
    return [table_hash(c, t) for t in ("raw.payments", "raw.rejects")], audit


def test_platform_days_loaded_as_one_batch_equal_days_loaded_one_by_one(
    tmp_path, write_platform
):
    """load_entity_days stages platform days together and validates them in one statement;
    the tables and the audit must be those of loading each day on its own."""
    landing = tmp_path / "landing"
    days = _platform_days(landing, write_platform)
    states = []
    for batched in (True, False):
        c, batch = _loaded(tmp_path, f"wh_{batched}", landing, "payments", days,
                           batched=batched)
        if batch is not None:
            assert batch.rejects_by_reason() == {"invalid_timestamp": 1, "invalid_value": 1,
                                                 "out_of_range": 1}
            (failed,) = batch.failed_messages
            assert failed.startswith("platform/payments/2026-03-11/b.csv.gz: ")
        states.append(_raw_state(c))
        current = c.execute("SELECT payment_id, amount::DOUBLE, export_date FROM raw.payments "
                            "WHERE is_current ORDER BY 1").fetchall()
        assert current == [("p1", 12.0, date(2026, 3, 11)), ("p4", 4.0, date(2026, 3, 12))]
        c.close()
    assert states[0] == states[1]


def test_a_file_that_breaks_the_batched_validation_fails_alone(
    tmp_path, write_platform, monkeypatch
):
    """Should the one validating statement of a chunk raise, the files are validated one by
    one: only the file whose rows raise fails, the other days load as they would alone."""
    from ingest import platform_rules

    typed = platform_rules.typed_sql

    def raising(kind: str, cell: str) -> str:  # a cell 'boom' makes the statement raise
        sql = typed(kind, cell)
        return f"CASE WHEN {cell} = 'boom' THEN error('boom cell') ELSE {sql} END"

    monkeypatch.setattr(platform_rules, "typed_sql", raising)
    landing = tmp_path / "landing"
    days = _platform_days(landing, write_platform)
    expected, _ = _loaded(tmp_path, "expected", landing, "payments", days, batched=False)
    write_platform(landing, "payments", "2026-03-11", PAYMENTS_HEADER
                   + "p9,u1,pr1,1,boom,2026-03-11T10:00:00Z,charge\n", name="c.csv")
    c, batch = _loaded(tmp_path, "wh", landing, "payments", days, batched=True)
    failed = {m.split(":")[0]: m for m in batch.failed_messages}
    day_11 = "platform/payments/2026-03-11"
    assert set(failed) == {f"{day_11}/b.csv.gz", f"{day_11}/c.csv"}
    assert "boom cell" in failed[f"{day_11}/c.csv"]
    (state, audit), (state_alone, audit_alone) = _raw_state(c), _raw_state(expected)
    assert state == state_alone
    assert [a for a in audit if not a[1].endswith("c.csv")] == audit_alone
