"""The loader on generated exports: every planted fault is rejected with its reason,
every re-sent duplicate counted once, every file reconciles."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.landing import scan_landing
from ingest.loader import ensure_schema, load_day
from sample_exports import generate_exports
from warehouse.db import connect

EVENT_REASONS = (
    "invalid_json", "invalid_utf8", "missing_field", "wrong_type", "out_of_range",
    "invalid_timestamp", "timestamp_too_late",
)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    landing = root / "landing"
    summary = generate_exports(landing, seed=7, users=150, days=8)
    con = connect(root / "wh.duckdb")
    ensure_schema(con)
    for day in scan_landing(landing):
        if day.complete:
            load_day(con, landing, day)
    yield summary, con, landing
    con.close()


def test_planted_event_faults_are_rejected_with_their_reason(loaded):
    summary, con, _ = loaded
    got = dict(con.execute(
        "SELECT reason_code, count(*) FROM raw.rejects WHERE entity = 'events' GROUP BY 1"
    ).fetchall())
    expected = {r: summary.planted.get(r, 0) for r in EVENT_REASONS}
    assert {r: got.get(r, 0) for r in EVENT_REASONS} == expected
    assert set(got) <= set(EVENT_REASONS)  # nothing valid was rejected for another reason
    assert sum(expected.values()) > 0


def test_resent_duplicates_count_once(loaded):
    summary, con, _ = loaded
    copies, distinct_current, current = con.execute(
        "SELECT count(*) FILTER (WHERE NOT is_current), count(DISTINCT event_id) FILTER "
        "(WHERE is_current), count(*) FILTER (WHERE is_current) FROM raw.events"
    ).fetchone()
    assert copies == summary.planted["resent_duplicates"]
    assert distinct_current == current


def test_every_line_of_complete_days_is_accounted_for(loaded):
    summary, con, _ = loaded
    read, loaded_rows, rejected, dups, ok = con.execute(
        "SELECT sum(records_read), sum(loaded), sum(rejected), sum(duplicates), "
        "bool_and(reconciles) FROM raw.file_reconciliation WHERE entity = 'events'"
    ).fetchone()
    assert ok
    assert read == loaded_rows + rejected + dups
    assert read == summary.events_written_complete


def test_unknown_types_and_fields_are_kept(loaded):
    _, con, _ = loaded
    unknown, extra = con.execute(
        "SELECT count(*) FILTER (WHERE NOT is_known_event_type), "
        "count(*) FILTER (WHERE extra IS NOT NULL) FROM raw.events"
    ).fetchone()
    assert unknown > 0 and extra > 0


def test_planted_platform_faults_are_rejected(loaded):
    summary, con, _ = loaded
    got: dict[str, dict[str, int]] = {}
    for entity, reason, n in con.execute(
        "SELECT entity, reason_code, count(*) FROM raw.rejects WHERE entity <> 'events' "
        "GROUP BY ALL"
    ).fetchall():
        got.setdefault(entity, {})[reason] = n
    assert got == summary.planted_platform


def test_incomplete_last_day_is_not_loaded(loaded):
    summary, con, landing = loaded
    days = {d[0] for d in con.execute("SELECT DISTINCT export_date FROM raw.load_audit").fetchall()}
    assert summary.incomplete_day not in days
    assert any(not d.complete for d in scan_landing(landing))
    assert isinstance(landing, Path)
