"""The event loader's faster paths give what the plain rules give (real DuckDB files).

- ``is_current`` is ranked per day only on the export dates that hold copies of the day's
  event ids (``loader._copy_dates``, found once per chunk of days): after any batch, every
  copy's flag must equal a ranking over the whole table, across chunks, reloads and ids
  whose copies are far apart.
- A line is a JSON object when valid and starting with a brace, else by ``json_type``.
"""

from __future__ import annotations

from datetime import date

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
