"""The event loader's faster paths give what the plain rules give (real DuckDB files).

- ``is_current`` is ranked per day only on the export dates that hold copies of the day's
  event ids (``loader._copy_dates``, found once per chunk of days): after any batch, every
  copy's flag must equal a ranking over the whole table, across chunks, reloads and ids
  whose copies are far apart.
- A line is a JSON object when valid and starting with a brace, else by ``json_type``.
"""

from __future__ import annotations

import gzip
import json
from datetime import date

import duckdb
import pytest

from ingest import batch as batch_module
from ingest.batch import load_entity_days
from ingest.loader import ensure_schema
from warehouse.db import connect

from .conftest import event

WRONG_FLAGS = """
SELECT event_id, export_date, source_file, source_line, is_current
FROM (
    SELECT *, row_number() OVER (
                  PARTITION BY event_id
                  ORDER BY export_date DESC, source_file DESC, source_line DESC
              ) = 1 AS expected
    FROM raw.events
)
WHERE is_current <> expected
"""


def _day(n: int) -> date:
    return date(2026, 3, n)


def _current(con) -> dict[str, tuple[date, str, int]]:
    rows = con.execute(
        "SELECT event_id, export_date, source_file, source_line FROM raw.events "
        "WHERE is_current"
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@pytest.mark.parametrize("chunk_days", [1, 2, 8])
def test_is_current_equals_a_whole_table_ranking_across_chunks_and_reloads(
    tmp_path, write_events, monkeypatch, chunk_days
):
    monkeypatch.setattr(batch_module, "EVENT_CHUNK_DAYS", chunk_days)
    landing = tmp_path / "landing"
    ts = "2026-03-01T01:00:00Z"
    write_events(landing, "2026-03-01", "a.ndjson", [event("x", ts), event("w", ts)])
    write_events(landing, "2026-03-02", "a.ndjson", [event("y", ts), event("y", ts)])
    write_events(landing, "2026-03-02", "b.ndjson", [event("w", ts)])
    write_events(landing, "2026-03-03", "a.ndjson", [event("z", ts)])
    write_events(landing, "2026-03-04", "a.ndjson", [event("v", ts)])
    write_events(landing, "2026-03-05", "a.ndjson", [event("x", ts), event("v", ts)])
    write_events(landing, "2026-03-06", "a.ndjson", [event("y", ts), event("u", ts)])
    con = connect(tmp_path / "wh.duckdb")
    ensure_schema(con)
    try:
        days = [_day(n) for n in range(1, 7)]
        result = load_entity_days(con, landing, "events", days)
        assert not result.unbalanced
        assert con.execute(WRONG_FLAGS).fetchall() == []
        now = _current(con)
        assert now["x"][0] == _day(5) and now["y"][0] == _day(6) and now["w"][0] == _day(2)

        # 03-05 re-sent without x (its copy of 03-01, outside the reloaded days, counts
        # again) and with z (it wins over 03-03); 03-06 re-sent without y
        write_events(landing, "2026-03-05", "a.ndjson", [event("z", ts), event("v", ts)])
        write_events(landing, "2026-03-06", "a.ndjson", [event("u", ts)])
        result = load_entity_days(con, landing, "events", [_day(5), _day(6)], reload=True)
        assert not result.unbalanced
        assert con.execute(WRONG_FLAGS).fetchall() == []
        now = _current(con)
        assert now["x"] == (_day(1), "events/2026-03-01/a.ndjson", 1)
        assert now["y"] == (_day(2), "events/2026-03-02/a.ndjson", 2)
        assert now["z"][0] == _day(5)

        # an earlier day reloaded after later ones: its copies must still lose
        write_events(landing, "2026-03-01", "a.ndjson", [event("z", ts), event("x", ts)])
        load_entity_days(con, landing, "events", [_day(1)], reload=True)
        assert con.execute(WRONG_FLAGS).fetchall() == []
        assert _current(con)["z"][0] == _day(5)
        audit = con.execute(
            "SELECT count(*) FROM raw.file_reconciliation WHERE NOT reconciles"
        ).fetchone()
        assert audit == (0,)
    finally:
        con.close()


def test_json_object_detection_beyond_the_first_character(tmp_path, write_events):
    landing = tmp_path / "landing"
    ok = '{"event_id": "a", "event_type": "user_message", "timestamp": ' \
         '"2026-03-10T01:00:00Z", "session_id": "s"}'
    write_events(landing, "2026-03-10", "a.ndjson", [
        " \t" + ok.replace('"a"', '"lead"'),  # whitespace before the brace: still an object
        '[{"event_id": "b"}]',
        '"text"',
        "12",
        "{not json",
        ok,
    ])
    con = connect(tmp_path / "wh.duckdb")
    ensure_schema(con)
    try:
        load_entity_days(con, landing, "events", [date(2026, 3, 10)])
        assert con.execute("SELECT event_id FROM raw.events ORDER BY 1").fetchall() == [
            ("a",), ("lead",)
        ]
        assert con.execute(
            "SELECT line_number, reason_code FROM raw.rejects ORDER BY 1"
        ).fetchall() == [(2, "invalid_json"), (3, "invalid_json"), (4, "invalid_json"),
                         (5, "invalid_json")]
    finally:
        con.close()


RAW_TABLES = ("raw.events", "raw.rejects", "raw.load_audit")
RUN_COLUMNS = {"load_id", "loaded_at", "rejected_at", "started_at", "finished_at"}


def _rows(con, table: str) -> list[tuple]:
    cols = [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || "
        "table_name = ? ORDER BY ordinal_position", [table]).fetchall()
        if c not in RUN_COLUMNS]
    return sorted(con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)


def test_bulk_path_gives_what_the_line_path_gives(tmp_path, write_events, monkeypatch):
    """Files read in bulk (one read_json each) and the same files read line by line give
    the same raw tables: typed fields, `data`, `extra` from unknown keys, rejects with
    their line's text and the audit's counts."""

    ts = "2026-03-10T01:00:00Z"
    landing = tmp_path / "landing"
    files = {
        "clean.ndjson": [event("a", ts, text_length=3), event("b", ts, duration_ms=5.0,
                         data={"text_length": 4, "x": [1, {"y": None}]})],
        "unknown_key.ndjson.gz": [event("c", ts, client_version="2.1"),
                                  event("d", ts), event("e", ts, client_version={"k": 1})],
        "unknown_null.ndjson": [event("f", ts, client_version=None), event("g", ts)],
        "nested_same_key.ndjson": [event("h", ts, client_version="1",
                                         data={"client_version": None})],
        "escaped.ndjson": ['{"event_id": "i\\u00e9", "event_type": "user_message", '
                           '"timestamp": "2026-03-10T01:00:00Z", "session_id": "s", '
                           '"client_v\\u0065rsion": null}'],
        "crlf.ndjson": [json.dumps(event("j", ts)) + "\r", json.dumps(event("k", ts))],
        "reject.ndjson": [event("l", ts), event("m", ts, duration_ms=-1),
                          json.dumps(event("m2", ts, rating=0)) + "\r\r",
                          event("n", "yesterday")],
        "two_unknown.ndjson": [event("o", ts, p=1, q=2), event("p", ts, q=2, p=1)],
        "case_key.ndjson": [event("q", ts, Event_Id="Q")],
        "wrong_type.ndjson": [event("r", ts, duration_ms="5"), event("s", ts, rating=9)],
        "dup.ndjson": [event("a", ts), event("t", ts)],
        "dup_key.ndjson": ['{"event_id": "v", "event_id": "w", "event_type": "user_message",'
                           ' "timestamp": "2026-03-10T01:00:00Z", "session_id": "s"}'],
        "case_only.ndjson": [{"event_id": "x", "event_type": "user_message", "timestamp": ts,
                              "session_id": "s", "User_Id": "U", "data": {"Rating": 9}}],
        # lines of known keys only (staged without their text) beside lines with a key
        # twice, which keep their text as lines with unknown keys do
        "known_nulls.ndjson": [event("y1", ts, user_id=None, channel=None, data=None),
                               event("y2", ts, confidence=None, platform="web")],
        "numbers.ndjson": [
            '{"event_id": "y3", "event_type": "user_message", "timestamp": "2026-03-10T01:00:'
            '00Z", "session_id": "s", "confidence": 1e400, "duration_ms": 1234567890123456789'
            '01234567890, "response_time_ms": -0.0}',
            '{"event_id": "y4", "event_type": "user_message", "timestamp": "2026-03-10T01:00:'
            '00Z", "session_id": "s", "duration_ms": 1E5, "confidence": 0.50}'],
        "escaped_dup_key.ndjson": [
            event("y5", ts),
            '{"event_id": "y6", "event\\u005fid": "y7", "event_type": "user_message", '
            '"timestamp": "2026-03-10T01:00:00Z", "session_id": "s"}',
            '{"event_id": "y8", "event_type": "user_message", "timestamp": "2026-03-10T01:00:'
            '00Z", "session_id": "s", "session_id": null}'],
    }
    for name, lines in files.items():
        write_events(landing, "2026-03-10", name, lines)
    write_events(landing, "2026-03-11", "next.ndjson", [event("b", ts), event("u", ts)])
    pq = duckdb.connect()
    folder = landing / "events" / "2026-03-10"
    for name, select in {
        "p_struct.parquet": "SELECT 'pa' AS event_id, 'user_feedback' AS event_type, "
        f"'{ts}' AS timestamp, 's' AS session_id, NULL::VARCHAR AS user_id, "
        "1e300 AS confidence, {'rating': 4, 'comment': 'ok'} AS data, 'v2' AS client_version, "
        "[1.5, NULL] AS tags",
        "p_string_data.parquet": "SELECT 'pb' AS event_id, 'user_message' AS event_type, "
        "TIMESTAMP '2026-03-10 01:00:00' AS timestamp, 's' AS session_id, "
        "'{\"text_length\": 7}' AS data, 0.1 AS confidence, 12::BIGINT AS duration_ms",
        "p_reject.parquet": "SELECT 'pc' AS event_id, 'user_message' AS event_type, "
        f"'{ts}' AS timestamp, '' AS session_id",
    }.items():
        pq.execute(f"COPY ({select}) TO '{folder / name}' (FORMAT parquet)")
    pq.close()
    days = [date(2026, 3, 10), date(2026, 3, 11)]

    bulk_rows, line_rows, took = _load_both(tmp_path, monkeypatch, landing, days)
    assert sum(took) >= 10
    for table, got, want in zip(RAW_TABLES, bulk_rows, line_rows, strict=True):
        assert got == want, table


def _load_both(tmp_path, monkeypatch, landing, days) -> tuple[list, list, list[bool]]:
    """The raw tables of ``days`` loaded as the loader does, and with every NDJSON file
    forced onto the line path (the reference); and which files the bulk path took, in
    the order of their paths (files are read side by side, in no fixed order)."""
    from ingest import loader

    real = loader._stage_bulk_ndjson
    took: dict[str, bool] = {}

    def load(db: str, bulk: bool) -> list:
        def spy(*args, **kwargs):
            n = real(*args, **kwargs) if bulk else None
            if bulk:
                took[str(args[2])] = n is not None
            return n

        monkeypatch.setattr(loader, "_stage_bulk_ndjson", spy)
        con = connect(tmp_path / db, threads=2)  # files read side by side on any machine
        ensure_schema(con)
        try:
            assert not load_entity_days(con, landing, "events", days).unbalanced
            return [_rows(con, t) for t in RAW_TABLES]
        finally:
            con.close()

    return (load("bulk.duckdb", True), load("line.duckdb", False),
            [took[path] for path in sorted(took)])


def test_a_file_with_bad_lines_loads_its_good_lines_in_bulk(tmp_path, monkeypatch):
    """A NDJSON file holding lines that are not JSON objects is read in bulk all the same:
    only those lines take the line rules, each with the reject (reason, line number, text)
    the line path gives it; blank lines are numbered and counted as on the line path.
    Files the reader could number otherwise (a bare CR, a NUL byte, a line of tabs or
    Unicode spaces, a byte-order mark, truncated gzip) take the line path whole."""
    ts = "2026-03-10T01:00:00Z"
    good = [json.dumps(event(f"g{i}", ts, duration_ms=i)).encode() for i in range(6)]
    bad = [
        b"{truncated", b'{"event_id": "x"}}', b"[1, 2]", b'"text"', b"null", b"12",
        b'{"event_id": "\xff", "event_type": "error"}',
        b'{"event_id": "d", "event_id": "e", "event_type": "user_message", '
        b'"timestamp": "2026-03-10T01:00:00Z", "session_id": "s"}',
        b"  " + good[0].replace(b'"g0"', b'"lead"'),
        b"\x80\x80 x",
        json.dumps(event("late", "2026-04-01T00:00:00Z")).encode(),
        json.dumps(event("neg", ts, duration_ms=-5)).encode(),
        json.dumps(event("unk", ts, client_version="9", rating=0)).encode(),
    ]

    def mix(sep: bytes = b"\n") -> bytes:
        out: list[bytes] = []
        for i, line in enumerate(bad):
            out += [good[i % len(good)].replace(b'"g', b'"m%d_' % i), line]
            if i % 4 == 0:
                out += [b"", b"   "]  # blank lines between
        return sep.join(out) + sep

    files = {
        "mixed.ndjson": mix(),
        "mixed_crlf.ndjson": mix(b"\r\n"),
        "mixed.ndjson.gz": gzip.compress(mix(), mtime=0),
        "leading_blank.ndjson": b"\n\n" + mix() + b"\n   \n",
        "no_final_newline.ndjson": mix().rstrip(b"\n"),
        "only_bad.ndjson": b"\n".join(bad) + b"\n",
        "bare_cr.ndjson": mix() + b"{\"a\": 1}\r" + good[1] + b"\n",
        "nul.ndjson": mix() + b'{"event_id": "n\x00"}\n',
        "tab_line.ndjson": mix() + b"\t\n",
        "unicode_space_line.ndjson": mix() + "\u00a0 \u2003\n".encode(),
        "bom.ndjson": b"\xef\xbb\xbf" + mix(),
        "truncated.ndjson.gz": gzip.compress(mix(), mtime=0)[:-30],
    }
    landing = tmp_path / "landing"
    folder = landing / "events" / "2026-03-10"
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    (folder / "_SUCCESS").touch()
    bulk, line, took = _load_both(tmp_path, monkeypatch, landing, [date(2026, 3, 10)])
    assert took == [name in ("leading_blank.ndjson", "mixed.ndjson", "mixed.ndjson.gz",
                             "mixed_crlf.ndjson", "no_final_newline.ndjson", "only_bad.ndjson")
                    for name in sorted(files) if ".ndjson" in name]
    for table, got, want in zip(RAW_TABLES, bulk, line, strict=True):
        assert got == want, table
    assert len(bulk[1]) > 50  # rejects


def test_the_hostile_event_corpus_loads_in_bulk_as_on_the_line_path(tmp_path, monkeypatch):
    from ingest.landing import EVENTS
    from tests.reliability import test_hostile_input as h

    planned, _ = h._plan([c for c in h.EVENT_CASES if not c.long_only])
    landing = tmp_path / "landing"
    for day, group in planned:
        files = [f for case in group
                 for f in h._prefixed(case, case.build(h.Ctx(EVENTS, day, case.id)))]
        h.write_day(landing, h.Ctx(EVENTS, day, ""), files)
    bulk, line, took = _load_both(tmp_path, monkeypatch, landing, [d for d, _ in planned])
    assert sum(took) > len(took) // 2
    for table, got, want in zip(RAW_TABLES, bulk, line, strict=True):
        assert got == want, table
