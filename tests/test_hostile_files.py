"""Files real landing folders receive: decompression bombs, symlinks out of the folder,
FIFOs, truncated or corrupt gzip, a UTF-8 BOM, endless lines. Each is failed or partly
read with its reason, never followed out of the folder, never a crash, never silent;
the good files of the same day load, and every count reconciles."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from ingest.batch import load_entity_days
from ingest.landing import export_day
from ingest.lines import ReadLimits
from ingest.loader import ensure_schema
from ingest.state import loaded_signatures, needs_load
from warehouse.db import connect

from .conftest import event

DAY = "2026-01-06"
LIMITS = ReadLimits(max_file_bytes=8 << 20, max_line_bytes=64 << 10)


def _lines(prefix: str, n: int) -> bytes:
    return b"".join(json.dumps(event(f"{prefix}{i}", f"{DAY}T0{i % 10}:00:00Z")).encode()
                    + b"\n" for i in range(n))


def _load(tmp_path: Path, landing: Path, limits: ReadLimits = LIMITS):
    con = connect(tmp_path / "wh.duckdb")
    ensure_schema(con)
    batch = load_entity_days(con, landing, "events", [date.fromisoformat(DAY)], limits=limits)
    return con, batch


def _audit(con) -> dict[str, tuple[str, str | None, int]]:
    rows = con.execute("SELECT source_file, status, message, records_read, loaded, rejected, "
                       "duplicates FROM raw.load_audit").fetchall()
    for name, _status, _message, read, loaded, rejected, dupes in rows:
        assert read == loaded + rejected + dupes, name  # every count reconciles
    return {Path(r[0]).name: (r[1], r[2], r[3]) for r in rows}


def _bomb(path: Path, decompressed: int) -> None:
    """``decompressed`` bytes of newlines, gzip-compressed by streaming (never in memory)."""
    with gzip.open(path, "wb", compresslevel=9) as fh:
        block = b"\n" * (1 << 20)
        for _ in range(decompressed >> 20):
            fh.write(block)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing" / "events" / DAY
    folder.mkdir(parents=True)
    (folder / "good.ndjson").write_bytes(_lines("g", 20))
    (folder / "_SUCCESS").touch()
    return tmp_path / "landing"


def test_a_symlink_out_of_the_landing_folder_is_never_followed(tmp_path, landing):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (landing / "events" / DAY / "passwd.ndjson").symlink_to(secret)
    con, _ = _load(tmp_path, landing)
    audit = _audit(con)
    assert audit["passwd.ndjson"][0] == "failed"
    assert audit["passwd.ndjson"][1].startswith("not_a_regular_file: ")
    assert con.execute("SELECT count(*) FROM raw.rejects WHERE raw_text LIKE '%root:x%'"
                       ).fetchone()[0] == 0
    assert audit["good.ndjson"][0] == "loaded"
    assert con.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 20


def test_a_symlink_inside_the_landing_folder_is_read(tmp_path, landing):
    other = landing / "events" / "elsewhere.ndjson"
    other.write_bytes(_lines("s", 3))
    (landing / "events" / DAY / "linked.ndjson").symlink_to(other)
    con, _ = _load(tmp_path, landing)
    assert _audit(con)["linked.ndjson"][0] == "loaded"
    assert con.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 23


def test_a_fifo_is_failed_without_being_opened(tmp_path, landing):
    os.mkfifo(landing / "events" / DAY / "pipe.ndjson")  # opening it would block forever
    con, _ = _load(tmp_path, landing)
    status, message, _ = _audit(con)["pipe.ndjson"]
    assert status == "failed" and message.startswith("not_a_regular_file: ")


def test_a_truncated_gzip_keeps_its_complete_lines(tmp_path, landing):
    whole = gzip.compress(_lines("t", 4000), mtime=0)
    (landing / "events" / DAY / "cut.ndjson.gz").write_bytes(whole[: len(whole) // 2])
    con, batch = _load(tmp_path, landing)
    status, message, read = _audit(con)["cut.ndjson.gz"]
    assert status == "partial"
    assert message.startswith("truncated_compressed_file: ") and "at byte" in message
    loaded = con.execute("SELECT count(*) FROM raw.events WHERE source_file LIKE '%cut%'"
                         ).fetchone()[0]
    assert 0 < loaded < 4000 and read == loaded + 1
    # the rest: one reject naming the truncation
    assert con.execute("SELECT reason_code FROM raw.rejects WHERE source_file LIKE '%cut%'"
                       ).fetchall() == [("truncated_compressed_file",)]
    assert any("cut.ndjson.gz" in m for m in batch.failed_messages)  # a warning check's input


def test_a_bom_is_dropped_not_rejected(tmp_path, landing):
    (landing / "events" / DAY / "bom.ndjson").write_bytes(b"\xef\xbb\xbf" + _lines("b", 5))
    con, _ = _load(tmp_path, landing)
    assert _audit(con)["bom.ndjson"][:1] == ("loaded",)
    assert con.execute("SELECT count(*) FROM raw.events WHERE event_id LIKE 'b%'"
                       ).fetchone()[0] == 5
    assert con.execute("SELECT count(*) FROM raw.rejects").fetchone()[0] == 0


def test_a_decompression_bomb_is_failed_too_large(tmp_path, landing):
    _bomb(landing / "events" / DAY / "bomb.ndjson.gz", 64 << 20)
    con, _ = _load(tmp_path, landing)
    status, message, _ = _audit(con)["bomb.ndjson.gz"]
    assert status == "failed" and message.startswith("too_large: ")
    assert con.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 20


def test_an_endless_line_is_failed_line_too_long(tmp_path, landing):
    (landing / "events" / DAY / "long.ndjson").write_bytes(b"{" + b" " * (100 << 10) + b"}\n")
    con, _ = _load(tmp_path, landing)
    status, message, _ = _audit(con)["long.ndjson"]
    assert status == "failed" and message.startswith("line_too_long: ")


def test_a_day_whose_files_did_not_change_is_not_stale(tmp_path, landing):
    (landing / "events" / DAY / "broken.ndjson.gz").write_bytes(b"not gzip at all\n")
    con, _ = _load(tmp_path, landing)
    assert _audit(con)["broken.ndjson.gz"][0] == "failed"
    day = export_day(landing, "events", date.fromisoformat(DAY))
    assert not needs_load(landing, day, loaded_signatures(con))
    (landing / "events" / DAY / "broken.ndjson.gz").write_bytes(gzip.compress(_lines("f", 2)))
    day = export_day(landing, "events", date.fromisoformat(DAY))
    assert needs_load(landing, day, loaded_signatures(con))  # a changed file loads again


def test_all_of_them_together_with_bounded_memory(tmp_path, landing):
    """A day holding every hostile file and good ones: every good line loads, every bad file
    is named with its reason, and the bomb costs no memory (measured in a child process,
    against the same load without the bomb)."""
    folder = landing / "events" / DAY
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the warehouse\n")
    (folder / "passwd.ndjson").symlink_to(secret)
    whole = gzip.compress(_lines("t", 4000), mtime=0)
    (folder / "cut.ndjson.gz").write_bytes(whole[: len(whole) // 2])
    (folder / "bom.ndjson").write_bytes(b"\xef\xbb\xbf" + _lines("b", 5))
    (folder / "good2.ndjson.gz").write_bytes(gzip.compress(_lines("h", 30)))
    script = textwrap.dedent(f"""
        import json, resource, sys
        from datetime import date
        from pathlib import Path
        from ingest.batch import load_entity_days
        from ingest.lines import ReadLimits
        from ingest.loader import ensure_schema
        from warehouse.db import connect
        con = connect(sys.argv[1]); ensure_schema(con)
        load_entity_days(con, Path(sys.argv[2]), "events", [date.fromisoformat("{DAY}")],
                         limits=ReadLimits(256 << 20, 1 << 20))
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)

    def peak_kib(name: str) -> int:
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path / name), str(landing)],
                              capture_output=True, text=True, timeout=600, check=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        return int(done.stdout.split()[-1])

    without = peak_kib("without.duckdb")
    _bomb(folder / "bomb.ndjson.gz", 1 << 30)  # 1 GiB of newlines, past the 256 MiB bound
    with_bomb = peak_kib("with.duckdb")
    assert with_bomb <= 1.5 * without, (with_bomb, without)
    con = connect(tmp_path / "with.duckdb", read_only=True)
    audit = _audit(con)
    assert audit["bomb.ndjson.gz"][1].startswith("too_large: ")
    assert audit["passwd.ndjson"][1].startswith("not_a_regular_file: ")
    assert audit["cut.ndjson.gz"][0] == "partial"
    assert audit["bom.ndjson"][0] == audit["good.ndjson"][0] == audit["good2.ndjson.gz"][0] \
        == "loaded"
    good = con.execute("SELECT count(*) FROM raw.events WHERE source_file NOT LIKE '%cut%'"
                       ).fetchone()[0]
    assert good == 20 + 5 + 30
    print(f"peak RSS of the load: {without / 1024:.0f} MiB without the bomb, "
          f"{with_bomb / 1024:.0f} MiB with it")
