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
    kept = sorted((target / dbt_target.PARSE_SLOTS).iterdir())
    slots = [p for p in kept if p.suffix == ".msgpack"]
    assert len(slots) == dbt_target.KEEP_PARSE_SLOTS
    assert parse_slot(target, a) in slots and parse_slot(target, b) not in slots
    # each slot with the path its parse was made for, and no note without its slot
    assert sorted(p for p in kept if p.suffix == dbt_target.MADE_FOR) == sorted(
        p.with_suffix(dbt_target.MADE_FOR) for p in slots)
    assert parse_slot(target, a).with_suffix(dbt_target.MADE_FOR).read_text() == str(a)
    assert [p for p in kept if p.name.startswith(".")] == []


def _parse_for(info: list, extra: object) -> bytes:
    """A stand-in for dbt's partial parse: msgpack with a profile checksum, a date as
    dbt packs it (an ext type) and ``extra``."""
    import msgpack

    from orchestration.dbt_target import profile_hash

    return msgpack.packb({
        "state_check": {"profile_hash": {"name": "sha256", "checksum": profile_hash(info)}},
        "nodes": {"model.x": {"created_at": msgpack.ExtType(2, b"2026-12-07T07:00:00")}},
        "extra": extra,
    }, use_bin_type=True)


def test_a_new_warehouse_adopts_a_parse_when_the_profiles_differ_in_the_path_alone(
        tmp_path: Path):
    """A warehouse with no parse of its own takes one kept for another warehouse, with the
    profile checksum it will have; any other difference of profile (a setting, the
    database name) or an unknown profile leaves dbt to parse all."""
    import msgpack

    from orchestration.dbt_target import (
        PARTIAL_PARSE,
        adopt_partial_parse,
        keep_partial_parse,
        profile_hash,
        with_path,
    )

    def info(path: Path, settings: str = "UTC", database: str = "warehouse") -> list:
        return [("database", database), ("path", str(path)),
                ("settings", {"TimeZone": settings}), ("schema", "main")]

    target = tmp_path / "target"
    a, b = tmp_path / "a" / "warehouse.duckdb", tmp_path / "b" / "warehouse.duckdb"
    made = target / "dbt_models-0000000-0000000"
    made.mkdir(parents=True)
    (made / PARTIAL_PARSE).write_bytes(_parse_for(info(a), [1.5, b"bytes", "text"]))
    assert keep_partial_parse(made, target, a)

    invocation = target / "dbt_models-1111111-1111111"
    assert adopt_partial_parse(invocation, target, b, lambda w: info(w))
    adopted = msgpack.unpackb((invocation / PARTIAL_PARSE).read_bytes(), raw=False)
    assert adopted["state_check"]["profile_hash"]["checksum"] == profile_hash(info(b))
    assert profile_hash(info(b)) != profile_hash(info(a))
    original = msgpack.unpackb((made / PARTIAL_PARSE).read_bytes(), raw=False)
    assert {k: v for k, v in adopted.items() if k != "state_check"} == {
        k: v for k, v in original.items() if k != "state_check"}
    assert with_path(info(b), str(a)) == info(a)

    for other in (lambda w: info(w, settings="Europe/Paris"),  # another setting
                  lambda w: info(w, database="other"),  # another file name
                  lambda w: None,  # dbt could not render the profile
                  lambda w: [("database", "warehouse")]):  # an adapter without a path
        fresh = target / "dbt_models-2222222-2222222"
        assert not adopt_partial_parse(fresh, target, b, other)
        assert not (fresh / PARTIAL_PARSE).exists()

    # a kept parse without its note, or a damaged one, is passed over
    (target / "partial_parse").joinpath(f"{'0' * 16}.msgpack").write_bytes(b"not msgpack")
    (target / "partial_parse").joinpath(f"{'0' * 16}.warehouse").write_text(str(a))
    assert adopt_partial_parse(target / "dbt_models-3333333-3333333", target, b,
                               lambda w: info(w))


def test_an_adopted_parse_is_one_dbt_takes_without_parsing_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """On the real project: the profile checksum computed here is the one dbt keeps, and
    dbt given another warehouse's adopted parse does not parse the project again."""
    from dbt.cli.main import dbtRunner

    from orchestration.dbt_project import dbt_connection_info
    from orchestration.dbt_target import PARTIAL_PARSE, adopt_partial_parse, keep_partial_parse
    from tests.dbt_support import DBT_PROJECT_DIR, isolate_dbt_env, parsed_project
    from warehouse.settings import load_settings

    dbt_vars = load_settings().dbt_vars()
    isolate_dbt_env(monkeypatch, tmp_path / "unused.duckdb")
    _, parsed = parsed_project(dbt_vars)  # made for <its folder>/warehouse.duckdb
    made_for = parsed.parent / "warehouse.duckdb"
    project_target = tmp_path / "target"
    assert keep_partial_parse(parsed, project_target, made_for)

    other = tmp_path / "elsewhere" / "warehouse.duckdb"
    invocation = project_target / "dbt_models-1111111-1111111"
    assert adopt_partial_parse(invocation, project_target, other, dbt_connection_info)
    # another file name is another database name in every relation: not adopted
    assert not adopt_partial_parse(project_target / "dbt_models-2222222-2222222",
                                   project_target, other.with_name("other.duckdb"),
                                   dbt_connection_info)

    events = []
    monkeypatch.setenv("INSIGHTS_WAREHOUSE", str(other))
    result = dbtRunner(callbacks=[lambda e: events.append(e.info.name)]).invoke([
        "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(invocation), "--log-path", str(tmp_path / "logs"),
        "--vars", json.dumps(dict(dbt_vars), sort_keys=True, default=str), "--quiet"])
    assert result.success, result.exception
    assert "UnableToPartialParse" not in events
    assert "PartialParsingSkipParsing" in events or "PartialParsingEnabled" in events
    assert (invocation / PARTIAL_PARSE).is_file()


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
