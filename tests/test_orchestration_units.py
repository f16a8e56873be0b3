"""Pure parts of the orchestration: dbt arguments, run planning, sensor, settings, lock."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from ingest.landing import scan_landing
from orchestration.dbt_args import (
    build_args,
    incremental_start_date,
    parse_args,
    passthrough_args,
)
from orchestration.planning import contiguous_ranges, plan_requests
from warehouse.locking import WriterBusyError, writer_lock

from .conftest import event


def test_build_args_pass_settings_as_stable_json_vars():
    args = build_args({"b": 2, "a": "UTC"}, full_refresh=True, select=["marts"])
    assert args[:2] == ["build", "--vars"]
    assert json.loads(args[2]) == {"a": "UTC", "b": 2}
    assert args[2] == '{"a": "UTC", "b": 2}'  # sorted: same settings, same command
    assert args[3:] == ["--exclude-resource-type", "unit_test",
                        "--full-refresh", "--select", "marts"]
    assert "unit_test" not in build_args({}, unit_tests=True)
    assert parse_args({"x": 1})[:2] == ["parse", "--quiet"]


def test_passthrough_adds_vars_only_where_dbt_takes_them():
    assert passthrough_args(["test", "-s", "stg_events"], {"a": 1})[-2:] == ["--vars", '{"a": 1}']
    assert passthrough_args(["deps"], {"a": 1}) == ["deps"]
    assert passthrough_args(["run", "--vars", "{}"], {"a": 1}) == ["run", "--vars", "{}"]


def test_incremental_window_starts_a_lookback_before_the_runs_first_export_day():
    tags = {"dagster/asset_partition_range_start": "2026-03-10",
            "dagster/asset_partition_range_end": "2026-03-12"}
    assert incremental_start_date(tags, 7) == "2026-03-03"
    assert incremental_start_date({"dagster/partition": "2026-03-10"}, 7) == "2026-03-03"
    assert incremental_start_date({}, 7) is None  # transform_job: the models' own fallback


def test_contiguous_ranges():
    d = date.fromisoformat
    days = [d("2026-01-03"), d("2026-01-01"), d("2026-01-02"), d("2026-01-05"), d("2026-01-05")]
    assert contiguous_ranges(days) == [
        (d("2026-01-01"), d("2026-01-03")),
        (d("2026-01-05"), d("2026-01-05")),
    ]
    assert contiguous_ranges([]) == []


def test_sensor_requests_new_completed_and_changed_days_once(tmp_path, write_events):
    landing = tmp_path / "landing"
    write_events(landing, "2026-01-01", "a.ndjson", [event("a", "2026-01-01T00:00:00Z")])
    write_events(landing, "2026-01-02", "a.ndjson", [event("b", "2026-01-02T00:00:00Z")],
                 complete=False)
    wanted, cursor = plan_requests(scan_landing(landing), {})
    assert wanted == ["2026-01-01"]  # the incomplete day waits
    assert plan_requests(scan_landing(landing), cursor)[0] == []  # nothing new
    (landing / "events" / "2026-01-02" / "_SUCCESS").touch()
    wanted, cursor = plan_requests(scan_landing(landing), cursor)
    assert wanted == ["2026-01-02"]
    write_events(landing, "2026-01-01", "b.ndjson", [event("c", "2026-01-01T00:00:00Z")])
    assert plan_requests(scan_landing(landing), cursor)[0] == ["2026-01-01"]


def test_writer_lock_serialises_and_names_the_holder(tmp_path: Path):
    warehouse = tmp_path / "wh.duckdb"
    order: list[str] = []
    with writer_lock(warehouse, holder="first"):
        with (
            pytest.raises(WriterBusyError, match="first"),
            writer_lock(warehouse, timeout_s=0.2, holder="second"),
        ):
            pass

        def second():
            with writer_lock(warehouse, timeout_s=10, holder="second"):
                order.append("second")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first done")
    t.join(5)
    assert order == ["first done", "second"]


def test_dbt_target_keeps_the_partial_parse_and_prunes_old_invocations(tmp_path: Path):
    import os

    from orchestration.dbt_target import (
        invocation_dirs,
        keep_partial_parse,
        prune_invocations,
    )

    target = tmp_path / "target"
    (target / "compiled").mkdir(parents=True)  # dbt's own folders are never touched
    (target / "partial_parse.msgpack").write_bytes(b"old parse")
    made = []
    for i in range(5):
        d = target / f"dbt_models_{i}-{i:07x}-abcdef{i}"
        d.mkdir()
        (d / "manifest.json").write_text("{}")
        os.utime(d, (1_000_000 + i, 1_000_000 + i))
        made.append(d)
    (made[-1] / "partial_parse.msgpack").write_bytes(b"new parse")

    assert keep_partial_parse(made[-1], target)
    assert (target / "partial_parse.msgpack").read_bytes() == b"new parse"
    assert not keep_partial_parse(made[0], target)  # no parse there: nothing replaced
    assert (target / "partial_parse.msgpack").read_bytes() == b"new parse"
    assert [p.name for p in target.iterdir() if p.name.startswith(".partial")] == []

    assert invocation_dirs(target) == made
    removed = prune_invocations(target, keep=2)
    assert removed == made[:3]
    assert invocation_dirs(target) == made[3:]
    assert (target / "compiled").is_dir() and (target / "partial_parse.msgpack").exists()
    assert prune_invocations(target, keep=2) == []


def test_each_warehouse_keeps_its_own_dbt_parse(tmp_path: Path):
    """dbt refuses a parse made for another warehouse path: runs on two warehouses in
    turn each get their own back, and only the most recently used few are kept."""
    import os

    from orchestration import dbt_target
    from orchestration.dbt_target import (
        PARTIAL_PARSE,
        keep_partial_parse,
        parse_slot,
        seed_partial_parse,
    )

    target = tmp_path / "target"
    a, b = tmp_path / "a" / "warehouse.duckdb", tmp_path / "b" / "warehouse.duckdb"
    assert parse_slot(target, a) != parse_slot(target, b)
    assert parse_slot(target, a) == parse_slot(target, tmp_path / "b" / ".." / "a" /
                                               "warehouse.duckdb")
    first = target / "dbt_models-0000000-0000001"
    assert not seed_partial_parse(first, target, a)  # nothing kept yet: dbt parses all
    assert not (first / PARTIAL_PARSE).exists()

    for n, (warehouse, parse) in enumerate([(a, b"parse of a"), (b, b"parse of b")]):
        made = target / f"dbt_models-000000{n}-abcdef{n}"
        made.mkdir(parents=True)
        (made / PARTIAL_PARSE).write_bytes(parse)
        assert keep_partial_parse(made, target, warehouse)
    assert (target / PARTIAL_PARSE).read_bytes() == b"parse of b"  # the latest, as before

    for warehouse, parse in ((a, b"parse of a"), (b, b"parse of b")):
        invocation = target / f"dbt_models-1111111-{parse[-1]:07x}"
        assert seed_partial_parse(invocation, target, warehouse)
        assert (invocation / PARTIAL_PARSE).read_bytes() == parse

    # the slots of warehouses not used for longest go first
    made = target / "dbt_models-2222222-2222222"
    made.mkdir()
    (made / PARTIAL_PARSE).write_bytes(b"parse")
    for i in range(dbt_target.KEEP_PARSE_SLOTS + 2):
        os.utime(parse_slot(target, a), (2_000_000_000, 2_000_000_000))  # a: in use
        assert keep_partial_parse(made, target, tmp_path / f"w{i}.duckdb")
    slots = sorted((target / dbt_target.PARSE_SLOTS).iterdir())
    assert len(slots) == dbt_target.KEEP_PARSE_SLOTS
    assert parse_slot(target, a) in slots and parse_slot(target, b) not in slots
    assert [p for p in slots if p.name.startswith(".")] == []


def test_export_days_from_the_future_wait_for_their_day():
    from datetime import date

    from orchestration.planning import split_future

    today = date(2026, 3, 1)
    days = [date(2026, 3, 1), date(9999, 12, 31), date(2026, 2, 28), date(2026, 3, 2),
            date(2026, 2, 28)]
    assert split_future(days, today) == (
        [date(2026, 2, 28), date(2026, 3, 1)],
        [date(2026, 3, 2), date(9999, 12, 31)],
    )
