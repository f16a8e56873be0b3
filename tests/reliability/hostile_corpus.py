"""Hostile and broken landing files, and the accounting every load of them must satisfy.

Shared by test_hostile_input.py (the fixed corpus), test_hostile_properties.py
(hypothesis) and test_schema_evolution.py. Nothing here writes outside the folders it is
given (pytest's tmp dirs).

The accounting rule (:func:`account_day`) reads the raw tables themselves, not only the
audit's own numbers: for every file of an export day's latest load,

    read = rows of the file now in the raw table + its rows in raw.rejects

(rows in the raw table split into current ones and duplicates), a failed or ignored file
has no rows at all and a message that names it, and every reject carries a reason.
"""

from __future__ import annotations

import gzip
import io
import json
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.landing import EVENTS, SUCCESS_MARKER
from ingest.schema import PLATFORM_BY_NAME

# --- files and cases -----------------------------------------------------------------


@dataclass(frozen=True)
class HostileFile:
    """One landing file and what its load must come to.

    ``status``: loaded | failed | ignored. For a loaded file, ``loaded`` (rows current
    after the load), ``reasons`` (the reject reason codes, as a multiset) and ``read``
    (records read) are checked when given; ``message`` is a text the failure message must
    hold (it must always name the file).
    """

    name: str
    content: bytes
    status: str = "loaded"
    loaded: int | None = None
    reasons: tuple[str, ...] | None = None
    read: int | None = None
    message: str | None = None
    # every reject's reason is one of these (when the exact mix is not the point)
    among: frozenset[str] | None = None


def ok(name: str, content: bytes, loaded: int, *reasons: str, read: int | None = None,
       ) -> HostileFile:
    """A file that loads: ``loaded`` rows current, rejects with exactly ``reasons``."""
    return HostileFile(name, content, "loaded", loaded, tuple(reasons), read)


def all_rejected(name: str, content: bytes, *among: str, read: int | None = None,
                 ) -> HostileFile:
    """A file that loads but every record of which is rejected, for one of ``among``."""
    return HostileFile(name, content, "loaded", 0, None, read, among=frozenset(among))


def ignored(name: str, content: bytes = b"{}") -> HostileFile:
    """A file that is not a landing file of the contract: audited as ignored, not read."""
    return HostileFile(name, content, "ignored")


def partial(name: str, content: bytes, loaded: int | None = None) -> HostileFile:
    """A compressed file read in part: its complete lines before the break load (all
    ``loaded`` of them, when given), the rest is one ``truncated_compressed_file`` reject."""
    return HostileFile(name, content, "partial", loaded, ("truncated_compressed_file",))


def fails(name: str, content: bytes, message: str | None = None) -> HostileFile:
    """A file that fails as a whole, with a message naming it (and holding ``message``)."""
    return HostileFile(name, content, "failed", message=message)


@dataclass(frozen=True)
class Ctx:
    """What a case builder knows: its entity, export day and a prefix for unique keys."""

    entity: str
    day: date
    prefix: str

    def ts(self, hours: float = 1.0) -> str:
        """An ISO timestamp ``hours`` after the export day's midnight (UTC)."""
        at = datetime.combine(self.day, time()) + timedelta(hours=hours)
        return at.isoformat() + "Z"

    def ev(self, n: int | str, event_type: str = "user_message", **fields: object) -> dict:
        """A contract-valid event (unique id per case), with ``fields`` on top."""
        out: dict[str, object] = {
            "event_id": f"{self.prefix}:{n}",
            "event_type": event_type,
            "timestamp": self.ts(),
            "session_id": "s1",
            "user_id": "u1",
        }
        out.update(fields)
        return out

    def key(self, n: int | str) -> str:
        return f"{self.prefix}-{n}"


Builder = Callable[[Ctx], list[HostileFile]]


@dataclass(frozen=True)
class Case:
    id: str
    entity: str
    build: Builder
    long_only: bool = False
    # a good file is added to the day (events, increments), which must load whatever the
    # hostile files do; snapshot days get none (a snapshot is one file: if it fails, the
    # day's snapshot is, by contract, not applied)
    companion: bool = True
    tags: tuple[str, ...] = field(default_factory=tuple)


# --- encoders ------------------------------------------------------------------------


def line(obj: object) -> bytes:
    return obj if isinstance(obj, bytes) else (
        obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
    )


def ndjson(*lines: object, end: bytes = b"\n") -> bytes:
    return b"\n".join(line(x) for x in lines) + end


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def parquet(table: pa.Table, **kwargs: object) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **kwargs)  # type: ignore[arg-type]
    return sink.getvalue()


def csv_text(header: str, *rows: str) -> bytes:
    return ("\n".join((header, *rows)) + "\n").encode()


def companion_file(ctx: Ctx, taken: set[str]) -> HostileFile:
    """A good file for the day of a case: two valid rows that must load."""
    if ctx.entity == EVENTS:
        content = ndjson(ctx.ev("good-1"), ctx.ev("good-2", "bot_response"))
        return ok("zz_good.ndjson", content, 2)
    entity = PLATFORM_BY_NAME[ctx.entity]
    name = next(n for n in (f"{entity.name}.csv.gz", f"{entity.name}.csv", f"zz_{entity.name}.csv")
                if n not in taken)
    rows = [good_platform_row(ctx.entity, ctx.key(f"good-{i}"), ctx.day) for i in (1, 2)]
    content = csv_text(",".join(entity.columns), *rows)
    return ok(name, gz(content) if name.endswith(".gz") else content, 2)


def good_platform_row(entity: str, key: str, day: date) -> str:
    """One valid CSV row of ``entity`` (in its contract column order) keyed by ``key``."""
    ts = f"{day.isoformat()}T08:00:00Z"
    rows = {
        "users": f"{key},{key}@example.com,User {key},{ts},DE,Europe/Berlin,ads,free",
        "creators": f"{key},Creator {key},fitness,{ts}",
        "programs": f"{key},c1,Title,a|b,10.00,EUR,{ts}",
        "enrollments": f"{key},u1,p1,{ts},active,",
        "payments": f"{key},u1,p1,9.99,EUR,{ts},charge",
        "experiment_assignments": f"exp1,A,{key},{ts}",
        "content_metrics": f"{key},c1,youtube,{ts},{day.isoformat()},10,5,12.5,1,0,0,1,0,0",
    }
    return rows[entity]


def day_folder(landing: Path, entity: str, day: date) -> Path:
    base = landing / EVENTS if entity == EVENTS else landing / "platform" / entity
    return base / day.isoformat()


def write_day(landing: Path, ctx: Ctx, files: Iterable[HostileFile]) -> Path:
    """Write the files of one export day and its _SUCCESS marker."""
    folder = day_folder(landing, ctx.entity, ctx.day)
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        (folder / f.name).write_bytes(f.content)
    (folder / SUCCESS_MARKER).touch()
    return folder


# --- the accounting rule -------------------------------------------------------------


@dataclass
class FileAccount:
    source_file: str
    status: str
    message: str | None
    read: int
    blank_lines: int
    current: int  # rows of this file now in the raw table that count (is_current)
    copies: int  # rows of this file now in the raw table that lost to another copy
    rejected: int  # rows of this file now in raw.rejects
    reasons: Counter[str]

    @property
    def name(self) -> str:
        return self.source_file.rsplit("/", 1)[-1]


@dataclass
class DayAccount:
    entity: str
    day: date
    files: dict[str, FileAccount]  # by file name (without its folder)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files.values())

    @property
    def rows(self) -> int:
        """Rows of the day in the raw tables (current + copies + rejects)."""
        return sum(f.current + f.copies + f.rejected for f in self.files.values())


def raw_table(entity: str) -> str:
    return "raw.events" if entity == EVENTS else PLATFORM_BY_NAME[entity].table


def account_day(
    con: duckdb.DuckDBPyConnection, entity: str, day: date, *, first_load: bool = True,
    fresh: bool = True,
) -> DayAccount:
    """Check the accounting rule for the latest load of one export day; return its counts.

    ``first_load``: the day was never loaded before, so a failed file has no rows at all
    (on a reload it keeps what its earlier load brought). ``fresh``: nothing was loaded
    since, so the audit's split of loaded and duplicates is still the tables' (a later
    copy of a key turns a loaded row into a duplicate; the sum stays).
    """
    (load_id,) = con.execute(
        "SELECT arg_max(load_id, finished_at) FROM raw.load_audit "
        "WHERE entity = ? AND export_date = ?",
        [entity, day],
    ).fetchone()
    assert load_id is not None, f"{entity} {day}: no load recorded in raw.load_audit"
    audit = con.execute(
        "SELECT source_file, status, message, records_read, blank_lines, loaded, rejected, "
        "duplicates FROM raw.load_audit WHERE load_id = ? ORDER BY source_file",
        [load_id],
    ).fetchall()
    table = raw_table(entity)
    present = {
        r[0]: (int(r[1]), int(r[2]))
        for r in con.execute(
            f"SELECT source_file, count(*) FILTER (WHERE is_current), "
            f"count(*) FILTER (WHERE NOT is_current) FROM {table} "
            f"WHERE export_date = ? GROUP BY 1",
            [day],
        ).fetchall()
    }
    rejects: dict[str, Counter[str]] = {}
    for source_file, code, reason, n in con.execute(
        "SELECT source_file, reason_code, reason, line_number FROM raw.rejects "
        "WHERE entity = ? AND export_date = ?",
        [entity, day],
    ).fetchall():
        assert code and reason, f"{source_file}: a reject without a reason ({code!r}, {reason!r})"
        assert n is not None and n >= 1, f"{source_file}: a reject without a line number"
        rejects.setdefault(source_file, Counter())[code] += 1
    # a snapshot day older than the loaded snapshot: its rows were replaced, by design
    replaced = False
    if entity != EVENTS and PLATFORM_BY_NAME[entity].kind == "snapshot":
        (newest,) = con.execute(f"SELECT max(export_date) FROM {table}").fetchone()
        replaced = newest is not None and newest > day
    view = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT source_file, records_read, loaded, rejected, duplicates, reconciles "
            "FROM raw.file_reconciliation WHERE entity = ? AND export_date = ?",
            [entity, day],
        ).fetchall()
    }

    files: dict[str, FileAccount] = {}
    audited = set()
    for source_file, status, message, read, blank, loaded, rejected, dups in audit:
        audited.add(source_file)
        current, copies = present.get(source_file, (0, 0))
        reasons = rejects.get(source_file, Counter())
        acc = FileAccount(source_file, status, message, int(read), int(blank), current, copies,
                          sum(reasons.values()), reasons)
        files[acc.name] = acc
        where = f"{entity} {day} {source_file} ({status}: {message})"
        assert status in ("loaded", "partial", "failed", "ignored", "superseded", "empty"), where
        if status in ("failed", "ignored"):
            assert (message and acc.name in message) or status == "ignored", (
                f"{where}: the message must name the file"
            )
            assert read == 0 and acc.rejected == 0, where
            if first_load:
                assert current + copies == 0, f"{where}: rows of a {status} file"
        elif status == "superseded" or (status == "loaded" and replaced):
            # a snapshot not applied, or replaced since: its rows are gone, its rejects stay
            assert current + copies == 0, where
            assert read == loaded + rejected + dups and rejected == acc.rejected, where
        elif status == "loaded":
            assert read == current + copies + acc.rejected, (
                f"{where}: read {read} != {current} current + {copies} copies + "
                f"{acc.rejected} rejects in the tables"
            )
            assert rejected == acc.rejected and loaded + dups == current + copies, (
                f"{where}: audit says loaded {loaded} duplicates {dups} rejected {rejected}, "
                f"the tables hold {current}, {copies}, {acc.rejected}"
            )
            if fresh:
                assert (loaded, dups) == (current, copies), where
            # the warehouse's own reconciliation view agrees with the count from the tables
            assert view[source_file] == (read, current, acc.rejected, copies, True), (
                where, view.get(source_file))
    orphans = (set(present) | set(rejects)) - audited
    assert not orphans, f"{entity} {day}: rows of files the latest load does not name: {orphans}"
    day_acc = DayAccount(entity, day, files)
    applied = [f for f in files.values() if f.status == "loaded" and not replaced]
    assert sum(f.read for f in applied) == sum(
        f.current + f.copies + f.rejected for f in applied
    ), f"{entity} {day}: the day does not reconcile"
    return day_acc


def check_expectations(acc: DayAccount, expected: Iterable[HostileFile]) -> None:
    """The files of a day came out as the corpus says."""
    for f in expected:
        got = acc.files.get(f.name)
        assert got is not None, f"{f.name}: not in the audit of {acc.entity} {acc.day}"
        where = f"{f.name}: {got.status} ({got.message}), read {got.read}, " \
                f"current {got.current}, copies {got.copies}, rejects {dict(got.reasons)}"
        assert got.status == f.status, where
        if f.status == "failed":
            assert got.message and f.name in got.message, where
            assert "\n" not in got.message, f"{where}: one line, for the audit and the logs"
            if f.message:  # (the case's file names hold words like "gzip" too)
                assert f.message in got.message.replace(f.name, "<file>"), where
            continue
        if f.status == "partial":
            assert got.message and f.name in got.message, where
            assert got.message.startswith("truncated_compressed_file: "), where
            assert "at byte" in got.message, where
            assert got.reasons["truncated_compressed_file"] == 1, where
            if f.loaded is None:
                assert got.current > 0, where
        if f.loaded is not None:
            assert got.current == f.loaded, where
        if f.reasons is not None and f.status != "partial":
            assert got.reasons == Counter(f.reasons), where
        if f.read is not None:
            assert got.read == f.read, where
        if f.among is not None:
            assert got.read > 0 and got.rejected == got.read, where
            assert set(got.reasons) <= f.among, where


def _blank(part: bytes) -> bool:
    body = part.rstrip(b"\r\n")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False  # kept, to be rejected as invalid UTF-8
    # DuckDB's trim() removes Unicode space separators (category Zs), not tabs
    return all(unicodedata.category(ch) == "Zs" for ch in text)


def non_blank_lines(content: bytes) -> int:
    """Lines an NDJSON file holds as records: an independent count, in plain Python, of
    what the loader reads (a line holding only line breaks and spaces is blank)."""
    parts = content.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return sum(1 for p in parts if not _blank(p))
