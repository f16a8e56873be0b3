"""Load one export day of one entity into the raw layer, atomically and idempotently.

A day is read into temporary tables first (a file that cannot be read is marked
failed there and the other files go on), then swapped into the raw tables in one
transaction: the day's previous rows, rejects and duplicates flags are replaced, so a
reload gives identical tables and a failure leaves the previous state. Several days of an
entity may be read and validated together (``load_events_days``,
``load_platform_days``); the days of events or of a platform increment validated
together are swapped in together, in one transaction (each day's audit as if they had
been swapped one by one), a snapshot's days each in its own.

Events and the increment entities (payments, content_metrics) keep every valid copy;
``is_current`` marks the copy that counts: the latest export date wins, then the last
file and line of that day. Snapshot entities keep the latest complete snapshot only.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import stat
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ingest import event_rules, platform_rules
from ingest.landing import EVENTS, ExportDay, entry_stat, file_format, relative_name
from ingest.lines import (
    BOM,
    FileRejected,
    LineReader,
    ReadLimits,
    UnreadableFileError,
    is_blank,
    non_blank_line_count,
    split_trimmed_lines,
)
from ingest.parallel import map_on_cursors
from ingest.results import DayLoadResult, FileResult
from ingest.schema import (
    COLUMN_SQL_TYPES,
    EVENT_TYPES,
    PLATFORM_BY_NAME,
    PlatformEntity,
    all_ddl,
)
from warehouse.failpoints import failpoint

log = logging.getLogger(__name__)

EVENT_FORMATS = ("ndjson", "ndjson.gz", "parquet")
CSV_FORMATS = ("csv", "csv.gz")
REQUIRED_EVENT_COLUMNS = tuple(f.path for f in event_rules.TOP_FIELDS if f.required)
CSV_ERROR_REASONS = {
    "INVALID ENCODING": "invalid_utf8",
    "TOO MANY COLUMNS": "wrong_column_count",
    "MISSING COLUMNS": "wrong_column_count",
}
Progress = Callable[[str], None]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for statement in all_ddl():
        con.execute(statement)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _new_file_result(root: Path, path: Path) -> FileResult:
    st = entry_stat(path)  # a broken symlink: its own entry (the load fails it)
    return FileResult(
        source_file=relative_name(root, path),
        file_format=file_format(path) or path.suffix.lstrip(".") or "unknown",
        file_bytes=st.st_size,
        file_mtime=st.st_mtime,
    )


def _refuse_glob_name(path: Path) -> None:
    """DuckDB's readers expand glob characters in a path: such a name could read others."""
    if any(ch in path.name for ch in "*?[]{}"):
        raise UnreadableFileError(
            f"{path.name}: file name contains glob characters (* ? [ ] {{ }}); rename it"
        )


def _file_error(path: Path, exc: Exception) -> str:
    """The message of a failed file: names the file, first line of the error."""
    if isinstance(exc, UnreadableFileError):
        return str(exc)
    if not isinstance(exc, duckdb.Error):
        log.exception("unexpected error reading %s", path)
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{path.name}: cannot be read: {first}"


def refuse_irregular(root: Path, path: Path) -> None:
    """Only regular files inside the landing folder are read: a symlink leading out of it,
    a device or a FIFO is :class:`FileRejected` (``not_a_regular_file``) unopened."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        target = path.resolve()
        if not target.is_relative_to(root.resolve()):
            raise FileRejected("not_a_regular_file", f"{path.name}: a symbolic link leading "
                               "out of the landing folder; not read")
        st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise FileRejected("not_a_regular_file", f"{path.name}: not a regular file (a device, "
                           "FIFO or folder); not read")


def _partial(result: FileResult, path: Path, reader: LineReader) -> None:
    result.status = "partial"
    result.message = (f"truncated_compressed_file: {path.name}: {reader.problem} at byte "
                      f"{reader.truncated_at:,}; the complete lines before it were loaded")
    log.warning("file partly read: %s", result.message)


def _fail(result: FileResult, message: str) -> None:
    result.status = "failed"
    result.message = message
    result.records_read = result.blank_lines = 0
    log.warning("file failed: %s", message)


# --- events ------------------------------------------------------------------------

_LINES_DDL = """
CREATE OR REPLACE TEMP TABLE _lines (
    file_id INTEGER, line_number BIGINT, txt VARCHAR, raw VARCHAR, is_parquet BOOLEAN,
    export_date DATE
)
"""
# Several export days are staged and parsed together (see load_events_days); file ids of
# the n-th day of such a chunk start at n * _DAY_FILE_IDS.
_DAY_FILE_IDS = 1_000_000


def _stage_ndjson(
    con: duckdb.DuckDBPyConnection, file_id: int, path: Path, export_date: str,
    limits: ReadLimits,
) -> tuple[int, LineReader]:
    """Put a NDJSON file's non-blank lines into _lines, a bounded slice at a time; return
    the number of blank lines and the reader (truncated: the complete lines before the
    break are staged, plus one line for the rest, which the caller makes a
    ``truncated_compressed_file`` reject)."""
    reader = LineReader(path, limits)
    blank = numbered = 0
    for piece in reader:
        if is_blank(piece):  # a run of blank lines (a bomb of newlines): counted, not split
            lines = piece.count(b"\n") + (not piece.endswith(b"\n"))
            blank, numbered = blank + lines, numbered + lines
            continue
        arrow_lines = split_trimmed_lines(piece)
        inserted = _insert_lines(con, arrow_lines, file_id, numbered, export_date)
        blank += arrow_lines.num_rows - inserted
        numbered += arrow_lines.num_rows
    if reader.truncated_at is not None:
        tail = reader.cut_tail.decode("utf-8", "backslashreplace").rstrip("\r\n")
        con.execute("INSERT INTO _lines VALUES (?, ?, NULL, ?, false, ?)",
                    [file_id, numbered + 1, tail, export_date]).fetchall()
    return blank, reader


def _insert_lines(con: duckdb.DuckDBPyConnection, arrow_lines: pa.Table, file_id: int,
                  offset: int, export_date: str) -> int:
    """Stage the non-blank lines of one slice (numbered after ``offset`` lines)."""
    if pa.types.is_large_string(arrow_lines.schema.field("line").type):
        # the common case: the slice is valid UTF-8, no per-line decode needed
        select = """
            SELECT line_number, line AS txt, line AS raw
            FROM _arrow_lines
            WHERE NOT maybe_blank OR trim(line) <> ''
        """
    else:
        select = """
            SELECT line_number, txt,
                   -- invalid UTF-8: keep the bytes visibly escaped, minus the newline
                   CASE WHEN txt IS NOT NULL THEN txt ELSE raw_line::VARCHAR END AS raw
            FROM (SELECT line_number, maybe_blank, raw_line, try(decode(line)) AS txt
                  FROM _arrow_lines)
            WHERE txt IS NULL OR NOT maybe_blank OR trim(txt) <> ''
        """
    con.register("_arrow_lines", arrow_lines)
    try:
        return int(con.execute(
            f"INSERT INTO _lines SELECT {file_id}, line_number + {int(offset)}, txt, raw, "
            f"false, DATE '{export_date}' FROM ({select})"
        ).fetchone()[0])
    finally:
        con.unregister("_arrow_lines")


def _stage_parquet(
    con: duckdb.DuckDBPyConnection, file_id: int, path: Path, export_date: str
) -> None:
    """Put a Parquet file's rows into _lines as JSON objects (one code path for checks)."""
    try:
        columns = {
            row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)])
            .fetchall()
        }
    except duckdb.Error as exc:  # its first line: the rest is DuckDB's SQL context
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableFileError(f"{path.name}: not a readable Parquet file: {detail}") from exc
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in columns]
    if missing:
        raise UnreadableFileError(
            f"{path.name}: Parquet schema lacks required columns {', '.join(missing)} "
            f"(has {', '.join(sorted(columns))})"
        )
    source, row_number, first = "read_parquet(?, file_row_number = true)", "file_row_number", 0
    if "file_row_number" in columns:
        # the option's column would clash with the file's own (an unknown field, kept in
        # extra): number the rows WITH ORDINALITY, named apart from every column of the file
        source, first = "(SELECT * FROM read_parquet(?) WITH ORDINALITY)", 1
        row_number = con.execute(
            "DESCRIBE SELECT * FROM read_parquet(?) WITH ORDINALITY", [str(path)]
        ).fetchall()[-1][0]
    drop = json.dumps({row_number: None}).replace("'", "''")
    con.execute(
        f"""
        INSERT INTO _lines
        SELECT {file_id}, n - {first} + 1, j, j, true, DATE '{export_date}'
        FROM (
            SELECT "{row_number.replace('"', '""')}" AS n,
                   json_merge_patch(to_json(t), '{drop}')::VARCHAR AS j
            FROM {source} t
        )
        """,
        [str(path)],
    ).fetchall()


# The files read in bulk are staged side by side on cursors (ingest.parallel), so their
# table is one of an in-memory database attached for the load, not a temporary table of
# the connection (a cursor does not see those).
_BULK_COLUMNS = (
    "file_id INTEGER, line_number BIGINT, export_date DATE, is_parquet BOOLEAN, "
    "rest VARCHAR, j STRUCT("
    + ", ".join(f'"{f.path}" JSON' for f in event_rules.TOP_FIELDS) + ")"
)


@contextmanager
def _bulk_stage(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """The name of an empty bulk staging table in a database attached for one load."""
    alias = f"ingest_stage_{uuid.uuid4().hex[:12]}"
    con.execute(f"ATTACH ':memory:' AS {alias}")
    try:
        con.execute(f"CREATE TABLE {alias}._bulk ({_BULK_COLUMNS})")
        yield f"{alias}._bulk"
    finally:
        con.execute(f"DETACH {alias}")


@dataclass
class _Staged:
    """A file staged in bulk: its rows (lines read), blank lines, and the numbers of the
    lines the reader could not read as a JSON object (the caller stages them on the line
    path)."""

    rows: int
    blank: int = 0
    bad_lines: list[int] = field(default_factory=list)


@dataclass
class _Attempt:
    """What reading a file in bulk gave: staged, or not (``staged`` None: the line path
    reads it), or the error that makes the file fail."""

    staged: _Staged | None = None
    error: Exception | None = None


@dataclass
class _LineMap:
    """What one pass over a NDJSON file's bytes finds: the line number of each non-blank
    line (in order), the number of blank lines, and whether the file holds anything on
    which DuckDB's reader could number or split lines otherwise than the line path."""

    numbers: list[np.ndarray] = field(default_factory=list)
    lines: int = 0  # physical lines
    nonblank: int = 0
    hazard: bool = False

    @property
    def blank(self) -> int:
        return self.lines - self.nonblank


def _line_map(path: Path, limits: ReadLimits) -> _LineMap | None:
    """Number the non-blank lines of a NDJSON file as the line path does (numpy, no line
    split); None when the file cannot be numbered so (a byte-order mark, truncated
    compressed data) or holds a byte sequence on which DuckDB's reader may see other
    lines: a carriage return not followed by a line feed, a NUL byte, or a line that is
    not blank for the line path but holds no printable ASCII character (tabs, control
    characters, Unicode spaces such as U+00A0, which the line path's ``trim`` may drop
    and the reader may skip)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:  # type: ignore[operator]
        if fh.read(len(BOM)) == BOM:
            return None
    reader = LineReader(path, limits)
    found = _LineMap()
    for piece in reader:
        buf = np.frombuffer(piece, dtype=np.uint8)
        size = len(buf)
        if not size:
            continue
        starts = np.concatenate(([0], np.flatnonzero(buf == 10) + 1))
        if starts[-1] == size:
            starts = starts[:-1]
        cr = np.flatnonzero(buf == 13)
        if len(cr) and ((cr[-1] == size - 1) or (buf[np.minimum(cr + 1, size - 1)] != 10).any()):
            return None  # a bare carriage return
        if not buf.all():
            return None  # a NUL byte
        # with every CR before a LF, a line is blank when all its other bytes are spaces
        solid = np.logical_or.reduceat((buf > 32) & (buf < 127), starts)
        nonblank = np.logical_or.reduceat((buf != 32) & (buf != 10) & (buf != 13), starts)
        if (nonblank & ~solid).any():
            return None  # a line of tabs, control characters or other (Unicode) spaces
        found.numbers.append(np.flatnonzero(nonblank) + (found.lines + 1))
        found.lines += len(starts)
        found.nonblank += int(np.count_nonzero(nonblank))
    return None if reader.truncated_at is not None else found


# what reading a file in bulk, or its bad lines again, may raise: the file then takes the
# line path whole (which reports what it cannot read)
_READ_AGAIN_ERRORS = (duckdb.Error, OSError, EOFError, zlib.error, UnreadableFileError)
# a file with more lines that are not JSON objects than this takes the line path whole
_MAX_BAD_LINES = 1000


def _stage_bulk_ndjson(
    con: duckdb.DuckDBPyConnection, file_id: int, path: Path, export_date: str,
    limits: ReadLimits, table: str,
) -> _Staged | None:
    """The bulk path of a NDJSON file: one ``read_json`` of each line as JSON, staged into
    ``table`` as the line path would parse it (:func:`event_rules.bulk_lines_sql`); the
    numbers of the lines it cannot read as a JSON object (not UTF-8, not JSON, not an
    object) are returned, for the caller to stage them line by line for the line rules.
    The reader skips blank lines and gives each other line a row (NULL when it fails), so
    its rows are numbered by the line path's numbers of the non-blank lines
    (:func:`_line_map`); the count of rows must equal theirs. None: nothing staged, the
    file takes the line path whole."""
    wanted: list[int] = []
    try:
        lines = _line_map(path, limits)
        if lines is None:
            return None
        numbers = np.concatenate(lines.numbers) if lines.numbers else np.zeros(0, np.int64)
        gaps = lines.blank > 0
        source = f"""
            read_json(?, format = 'newline_delimited', records = false, ignore_errors = true,
                      maximum_object_size = {int(limits.max_line_bytes) + 2},
                      columns = {{'m': 'JSON'}}) WITH ORDINALITY"""
        con.execute(
            f"""
            INSERT INTO {table}
            SELECT {file_id}, {"(?::BIGINT[])[ordinality]" if gaps else "ordinality"},
                   DATE '{export_date}', false, rest, j
            FROM ({event_rules.bulk_lines_sql(source)})
            """,
            [numbers.tolist(), str(path)] if gaps else [str(path)],
        ).fetchall()
        staged, bad = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE j IS NULL) FROM {table} "
            "WHERE file_id = ?", [file_id]).fetchall()[0]
        if staged != lines.nonblank or bad > _MAX_BAD_LINES:
            staged = None
        elif bad:
            wanted = [n for (n,) in con.execute(
                f"SELECT line_number FROM {table} WHERE file_id = ? AND j IS NULL",
                [file_id]).fetchall()]
            if None in wanted:
                staged = None
            else:
                con.execute(f"DELETE FROM {table} WHERE file_id = ? AND j IS NULL",
                            [file_id]).fetchall()
    except _READ_AGAIN_ERRORS:
        staged = None
    if staged is None:
        con.execute(f"DELETE FROM {table} WHERE file_id = ?", [file_id]).fetchall()
        return None
    return _Staged(int(staged), lines.blank, sorted(wanted))


def _line_bytes(path: Path, limits: ReadLimits, wanted: list[int]) -> dict[int, bytes]:
    """The bytes of lines ``wanted`` (numbered from 1) of a NDJSON file, each with its
    line break characters."""
    want = np.array(sorted(wanted), np.int64)
    out: dict[int, bytes] = {}
    offset = 0
    for piece in LineReader(path, limits):
        buf = np.frombuffer(piece, dtype=np.uint8)
        starts = np.concatenate(([0], np.flatnonzero(buf == 10) + 1))
        if starts[-1] == len(buf):
            starts = starts[:-1]
        ends = np.concatenate((starts[1:], [len(buf)]))
        here = want[(want > offset) & (want <= offset + len(starts))]
        for number in here.tolist():
            i = number - offset - 1
            out[number] = piece[int(starts[i]):int(ends[i])]
        offset += len(starts)
    return out


def _stage_some_lines(con: duckdb.DuckDBPyConnection, file_id: int, lines: dict[int, bytes],
                      export_date: str) -> None:
    """Stage single lines into _lines exactly as :func:`_stage_ndjson` stages them."""
    tables: dict[bool, list[pa.Table]] = {}
    for number, text in sorted(lines.items()):
        one = split_trimmed_lines(text)
        one = one.set_column(0, "line_number", pa.array([number], pa.int64()))
        tables.setdefault(pa.types.is_large_string(one.schema.field("line").type),
                          []).append(one)
    for group in tables.values():
        _insert_lines(con, pa.concat_tables(group), file_id, 0, export_date)


def _stage_bulk_parquet(
    con: duckdb.DuckDBPyConnection, file_id: int, path: Path, export_date: str, table: str
) -> _Staged | None:
    """The bulk path of a Parquet file: each known field's JSON text straight from its
    column (``to_json``, the text the line path reads out of the row's JSON), the other
    columns as ``rest``; no JSON object per row is written and parsed again. None: nothing
    staged, the file takes the line path (unreadable, a required column missing, names
    that differ only in case, or a column of the row-number option's name)."""
    try:
        columns = [row[0] for row in con.execute(
            "DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()]
    except duckdb.Error:
        return None
    if (any(c not in columns for c in REQUIRED_EVENT_COLUMNS)
            or len({c.lower() for c in columns}) != len(columns)
            or "file_row_number" in columns or any('"' in c for c in columns)):
        return None
    fields = ", ".join(
        f"'{f.path}': " + (f'to_json("{f.path}")' if f.path in columns else "NULL::JSON")
        for f in event_rules.TOP_FIELDS
    )
    unknown = [c for c in columns if c not in event_rules.KNOWN_TOP_KEYS]
    rest = "NULL::VARCHAR"
    if unknown:
        pack = ", ".join(f'"{c}" := "{c}"' for c in unknown)
        rest = f"json_merge_patch(to_json(struct_pack({pack})), '{{}}')::VARCHAR"
    try:
        con.execute(
            f"""
            INSERT INTO {table}
            SELECT {file_id}, file_row_number + 1, DATE '{export_date}', true, {rest},
                   {{{fields}}}
            FROM read_parquet(?, file_row_number = true)
            """,
            [str(path)],
        ).fetchall()
    except duckdb.Error:
        con.execute(f"DELETE FROM {table} WHERE file_id = ?", [file_id]).fetchall()
        return None
    return _Staged(int(con.execute(
        f"SELECT count(*) FROM {table} WHERE file_id = ?", [file_id]).fetchall()[0][0]))


@dataclass(frozen=True)
class _EventFile:
    """One event file of a chunk of days being staged (its file id: see _DAY_FILE_IDS)."""

    day: ExportDay
    file_id: int
    path: Path
    result: FileResult


def _read_in_bulk(con: duckdb.DuckDBPyConnection, root: Path, f: _EventFile,
                  limits: ReadLimits, table: str) -> _Attempt:
    """Refuse a file the loader never reads, else stage it in bulk into ``table`` when it
    allows it. Runs on a cursor beside other files (:func:`ingest.parallel.map_on_cursors`):
    it touches no temporary table and returns its failure instead of raising it."""
    d = f.day.export_date.isoformat()
    try:
        _refuse_glob_name(f.path)
        refuse_irregular(root, f.path)
        if file_format(f.path) == "parquet":
            return _Attempt(_stage_bulk_parquet(con, f.file_id, f.path, d, table))
        return _Attempt(_stage_bulk_ndjson(con, f.file_id, f.path, d, limits, table))
    except Exception as exc:  # the file fails; _stage_event_file reports it
        return _Attempt(error=exc)


def _stage_bad_lines(con: duckdb.DuckDBPyConnection, f: _EventFile, staged: _Staged,
                     limits: ReadLimits, table: str) -> bool:
    """Stage the lines of a file read in bulk that the reader could not read as JSON
    objects into _lines, for the line rules. False when they cannot be read again: the
    file's rows are removed from ``table`` and the file takes the line path whole."""
    try:
        _stage_some_lines(con, f.file_id, _line_bytes(f.path, limits, staged.bad_lines),
                          f.day.export_date.isoformat())
        return True
    except _READ_AGAIN_ERRORS:
        con.execute(f"DELETE FROM {table} WHERE file_id = ?", [f.file_id]).fetchall()
        con.execute("DELETE FROM _lines WHERE file_id = ?", [f.file_id]).fetchall()
        return False


def _stage_event_file(
    con: duckdb.DuckDBPyConnection, f: _EventFile, attempt: _Attempt, limits: ReadLimits,
    truncations: list[tuple[int, int, str]], bulk: dict[int, FileResult], table: str,
) -> None:
    """Finish staging one file after its bulk read: a file staged in bulk is recorded in
    ``bulk`` (its unreadable lines staged into _lines), any other is staged line by line
    into _lines, and a file that cannot be read is marked failed."""
    d = f.day.export_date.isoformat()
    result = f.result
    try:
        if attempt.error is not None:
            raise attempt.error
        staged = attempt.staged
        if staged is not None and staged.bad_lines and not _stage_bad_lines(
                con, f, staged, limits, table):
            staged = None
        if staged is not None:
            result.records_read, result.blank_lines = staged.rows, staged.blank
            bulk[f.file_id] = result
            return
        if file_format(f.path) == "parquet":
            _stage_parquet(con, f.file_id, f.path, d)
            return
        result.blank_lines, reader = _stage_ndjson(con, f.file_id, f.path, d, limits)
        if reader.truncated_at is not None:
            _partial(result, f.path, reader)
            line = con.execute("SELECT max(line_number) FROM _lines WHERE file_id = ?",
                               [f.file_id]).fetchall()[0][0]
            truncations.append((f.file_id, line, result.message or ""))
    except Exception as exc:  # one unreadable file never stops the others
        con.execute(f"DELETE FROM {table} WHERE file_id = ?", [f.file_id])
        con.execute("DELETE FROM _lines WHERE file_id = ?", [f.file_id])
        log.debug("staging %s failed", f.path, exc_info=True)
        _fail(result, _file_error(f.path, exc))


def _stage_event_files(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    days: list[ExportDay],
    progress: Progress | None,
    limits: ReadLimits,
    truncations: list[tuple[int, int, str]],
    bulk: dict[int, FileResult],
    table: str,
) -> list[list[FileResult]]:
    """Stage the files of a chunk of days (the n-th day's file ids from
    ``n * _DAY_FILE_IDS``): every file read in bulk into ``table`` where it allows it,
    several side by side; then, in file order, what the bulk reads left into _lines. A
    truncated file's (file id, line number of its rest, reason) goes to ``truncations``.
    Returns each day's file results."""
    per_day: list[list[FileResult]] = []
    files: list[_EventFile] = []
    for n, day in enumerate(days):
        results: list[FileResult] = []
        for file_id, path in enumerate(day.files, start=n * _DAY_FILE_IDS):
            result = _new_file_result(root, path)
            results.append(result)
            if file_format(path) not in EVENT_FORMATS:
                result.status = "ignored"
                result.message = ("not an event file of contract v1 (.ndjson, .ndjson.gz, "
                                  ".parquet)")
                continue
            files.append(_EventFile(day, file_id, path, result))
        per_day.append(results)
    if progress:
        progress(f"events {days[0].export_date}..{days[-1].export_date}: reading "
                 f"{len(files)} files")
    attempts = map_on_cursors(
        con, lambda cursor, f: _read_in_bulk(cursor, root, f, limits, table), files)
    for f, attempt in zip(files, attempts, strict=True):
        _stage_event_file(con, f, attempt, limits, truncations, bulk, table)
    return per_day


_EVENT_INSERT_COLUMNS = (
    ["event_id", "event_type", "is_known_event_type", "event_ts"]
    + [f.column for f in event_rules.TOP_FIELDS if f.column not in
       ("event_id", "event_type", "timestamp_text", "data")]
    + [f.column for f in event_rules.DATA_FIELDS]
    + ["data", "extra"]
)


def _chunk_files(
    con: duckdb.DuckDBPyConnection, days: list[ExportDay], results: list[DayLoadResult],
) -> tuple[str, str]:
    """The temp tables a chunk's swap joins: _files (each staged file's id, the n-th
    day's from n * _DAY_FILE_IDS; its name, export day, and its day's load id and start)
    and _kept_files (the files that failed: what an earlier load of one brought stays,
    never half a day; a partial file's lines read replace it).
    Returns SQL selecting the chunk's export days, and the rows the swap replaces (those
    days' rows but the kept files'; a file's name holds its export day)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _files (file_id INTEGER, source_file VARCHAR, "
                "export_date DATE, load_id VARCHAR, loaded_at TIMESTAMP)")
    con.executemany(
        "INSERT INTO _files VALUES (?, ?, ?, ?, ?)",
        [(i, f.source_file, day.export_date, result.load_id, result.started_at)
         for n, (day, result) in enumerate(zip(days, results, strict=True))
         for i, f in enumerate(result.files, start=n * _DAY_FILE_IDS)])
    con.execute("CREATE OR REPLACE TEMP TABLE _kept_files (source_file VARCHAR)")
    failed = [f.source_file for r in results for f in r.files if f.status == "failed"]
    if failed:
        con.executemany("INSERT INTO _kept_files VALUES (?)", [(f,) for f in failed])
    chunk = _dates_filter(sorted({d.export_date.isoformat() for d in days}))
    return chunk, f"{chunk} AND source_file NOT IN (SELECT source_file FROM _kept_files)"


def _swap_events(
    con: duckdb.DuckDBPyConnection,
    days: list[ExportDay],
    results: list[DayLoadResult],
    copy_dates: list[str],
) -> None:
    """Replace the chunk's days' rows in raw.events and raw.rejects; recompute is_current;
    fill each day's outcomes as if its days had been swapped in one after another.

    One statement per table for the whole chunk: a day's rows alone fill less than a row
    group, so days inserted one by one leave a partial row group each and go through the
    WAL, and the checkpoint writes them again (bench/README.md, session 51).
    ``copy_dates``: export dates (ISO) that hold every copy of the event ids the chunk
    touches, and ``_multi_ids`` every id that may have more than one copy (see
    :func:`_copy_dates`): the ranking reads only those days' row groups and only ids that
    can have another copy (or lost one). An id with a single copy keeps the
    ``is_current`` it is inserted with.
    """
    known_types = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    chunk, replaced = _chunk_files(con, days, results)
    # the copies the swaps replace: their ids (ranked again) and, of ids that may have
    # another copy, the rows themselves (a later day's old copy stands until that day's
    # turn: see _day_outcomes)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _old_ids AS "
        f"SELECT DISTINCT event_id FROM raw.events WHERE {replaced}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _old_copies AS "
        f"SELECT event_id, export_date, source_file, source_line FROM raw.events "
        f"WHERE {replaced} AND event_id IN (SELECT event_id FROM _multi_ids)"
    )
    con.execute(f"DELETE FROM raw.events WHERE {replaced}")
    con.execute(f"DELETE FROM raw.rejects WHERE entity = 'events' AND {replaced}")
    select_cols = ", ".join(
        f"event_type IN ({known_types})" if c == "is_known_event_type" else f"p.{c}"
        for c in _EVENT_INSERT_COLUMNS
    )
    # _parsed holds the chunk's rows file by file (the line path's files first), so each
    # day's rows stay nearly together and zonemaps still skip the other days
    con.execute(
        f"""
        INSERT INTO raw.events ({", ".join(_EVENT_INSERT_COLUMNS)},
                                export_date, source_file, source_line, load_id, loaded_at,
                                is_current)
        SELECT {select_cols}, f.export_date, f.source_file, p.line_number, f.load_id,
               f.loaded_at, true
        FROM _parsed p JOIN _files f USING (file_id)
        WHERE p.reason_code IS NULL
        """
    )
    con.execute(
        """
        INSERT INTO raw.rejects
        SELECT 'events', f.export_date, f.source_file, p.line_number, p.reason_code, p.reason,
               p.raw, f.load_id, f.loaded_at
        FROM _parsed p JOIN _files f USING (file_id)
        WHERE p.reason_code IS NOT NULL
        """
    )
    _day_outcomes(con, "raw.events", EVENTS, ("event_id",), days, results, chunk, replaced,
                  f"{_dates_filter(copy_dates)} AND event_id IN (SELECT event_id FROM _multi_ids)")
    _recompute_current(
        con,
        "raw.events",
        ("event_id",),
        f"SELECT event_id FROM _old_ids UNION SELECT event_id FROM raw.events "
        f"WHERE {chunk} AND event_id IN (SELECT event_id FROM _multi_ids)",
        copy_dates,
    )


def _day_outcomes(
    con: duckdb.DuckDBPyConnection,
    table: str,
    entity: str,
    key: tuple[str, ...],
    days: list[ExportDay],
    results: list[DayLoadResult],
    chunk: str,
    replaced: str,
    rivals: str = "true",
) -> None:
    """Fill each day's loaded/duplicates/rejected per file, and its rejects by reason, as
    they were when that day was swapped in, the chunk's days one after another in date
    order (what loading them in separate runs gives).

    ``replaced``: the chunk's new rows (the swapped days' rows but the failed files'
    kept ones); ``_old_copies``: the rows they replaced. A new row of day D was current
    then unless another copy of its key ranked above it (later export date, then file,
    then line) among: the new rows of D itself, the rows the chunk keeps (other days,
    failed files' earlier rows), and the replaced copies of the chunk's days after D
    (each still stood until its own day's turn). New rows of later days came after.
    ``rivals``: the rows that can share a key with a new row (a bound on the scan).
    """
    keys = ", ".join(key)
    above = ("(c.export_date > e.export_date OR (c.export_date = e.export_date AND "
             "(c.source_file > e.source_file OR (c.source_file = e.source_file AND "
             "c.source_line > e.source_line))))")
    rows = con.execute(
        f"""
        WITH new_rows AS (
            SELECT {keys}, export_date, source_file, source_line
            FROM {table} WHERE {replaced}
        ),
        rival_rows AS (
            SELECT {keys}, export_date, source_file, source_line, 'new' AS kind
            FROM {table} WHERE {replaced} AND {rivals}
            UNION ALL
            SELECT {keys}, export_date, source_file, source_line, 'kept'
            FROM {table} WHERE NOT ({replaced}) AND {rivals}
            UNION ALL
            SELECT {keys}, export_date, source_file, source_line, 'replaced'
            FROM _old_copies
        ),
        outranked AS (
            SELECT DISTINCT e.export_date, e.source_file, e.source_line
            FROM new_rows e JOIN rival_rows c USING ({keys})
            WHERE {above}
              AND NOT (c.kind = 'new' AND c.export_date > e.export_date)
              AND NOT (c.kind = 'replaced' AND c.export_date <= e.export_date)
        )
        SELECT e.export_date, e.source_file, count(*) - count(o.source_line),
               count(o.source_line)
        FROM new_rows e LEFT JOIN outranked o USING (export_date, source_file, source_line)
        GROUP BY ALL
        """
    ).fetchall()
    counts = {(d, f): (loaded, dup) for d, f, loaded, dup in rows}
    rejected = {
        (d, f): n for d, f, n in con.execute(
            f"SELECT export_date, source_file, count(*) FROM raw.rejects "
            f"WHERE entity = ? AND {chunk} GROUP BY ALL", [entity]).fetchall()
    }
    reasons: dict[date, dict[str, int]] = {}
    for d, code, n in con.execute(
            f"SELECT export_date, reason_code, count(*) FROM raw.rejects "
            f"WHERE entity = ? AND {chunk} GROUP BY ALL ORDER BY 1, 2", [entity]).fetchall():
        reasons.setdefault(d, {})[code] = n
    for day, result in zip(days, results, strict=True):
        d = day.export_date
        for r in result.files:
            if r.status in ("failed", "ignored"):
                continue
            r.loaded, r.duplicates = counts.get((d, r.source_file), (0, 0))
            r.rejected = rejected.get((d, r.source_file), 0)
        result.rejects_by_reason = reasons.get(d, {})


def _dates_filter(dates: list[str], column: str = "export_date") -> str:
    """SQL restricting a scan of a raw table to export dates (zonemaps skip the others)."""
    return f"{column} IN (" + ", ".join(f"DATE '{d}'" for d in dates) + ")"


def _copy_dates(con: duckdb.DuckDBPyConnection, days: list[ExportDay]) -> list[str]:
    """Every export date holding a copy of an event id that swapping in ``days`` can touch;
    and, in the temp table ``_multi_ids``, every such id that may have several copies.

    Such an id is one of the staged valid lines (_parsed) or one already loaded on one of
    ``days`` (a reload replaces those). Its copies are on the dates found now, or on
    ``days`` themselves (rows inserted while the chunk is swapped in), so ranking the
    copies of a day's ids needs only those dates: one scan of raw.events per chunk
    instead of one per day, and each day's ranking reads a few row groups. An id staged
    once and not loaded anywhere yet has one copy after any of the chunk's swaps: it is
    not in ``_multi_ids``.
    """
    chunk = sorted({d.export_date.isoformat() for d in days})
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _existing AS
        WITH ids AS (
            SELECT event_id FROM _parsed WHERE reason_code IS NULL
            UNION
            SELECT event_id FROM raw.events WHERE {_dates_filter(chunk)}
        )
        SELECT DISTINCT event_id, export_date FROM raw.events
        WHERE event_id IN (SELECT event_id FROM ids)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _multi_ids AS
        SELECT event_id FROM _existing
        UNION
        SELECT event_id FROM _parsed WHERE reason_code IS NULL
        GROUP BY event_id HAVING count(*) > 1
        """
    )
    rows = con.execute("SELECT DISTINCT export_date FROM _existing").fetchall()
    con.execute("DROP TABLE _existing")
    return sorted(set(chunk) | {row[0].isoformat() for row in rows})


def _recompute_current(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key: tuple[str, ...],
    affected_keys_sql: str,
    copy_dates: list[str] | None = None,
) -> None:
    """Set is_current on every copy of the affected keys: latest export date, file, line wins.

    ``copy_dates``: export dates holding every copy of the affected keys (the scans read
    only their row groups); None or empty = any date.
    """
    keys = ", ".join(key)
    bound = f" AND {_dates_filter(copy_dates)}" if copy_dates else ""
    target_bound = f" AND {_dates_filter(copy_dates, 't.export_date')}" if copy_dates else ""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ranked AS
        SELECT export_date, source_file, source_line,
               row_number() OVER (
                   PARTITION BY {keys}
                   ORDER BY export_date DESC, source_file DESC, source_line DESC
               ) = 1 AS current_copy
        FROM {table}
        WHERE ({keys}) IN (SELECT DISTINCT {keys} FROM ({affected_keys_sql})){bound}
        """
    )
    con.execute(
        f"""
        UPDATE {table} AS t SET is_current = r.current_copy
        FROM _ranked r
        WHERE t.export_date = r.export_date AND t.source_file = r.source_file
          AND t.source_line = r.source_line AND t.is_current <> r.current_copy{target_bound}
        """
    )


def _count_outcomes(
    con: duckdb.DuckDBPyConnection, table: str, entity: str, day: ExportDay,
    results: list[FileResult],
) -> dict[str, int]:
    """Fill loaded/duplicates/rejected per file from the tables; return rejects by reason."""
    d = day.export_date.isoformat()
    per_file = {
        row[0]: row[1:]
        for row in con.execute(
            f"SELECT source_file, count(*) FILTER (WHERE is_current), "
            f"count(*) FILTER (WHERE NOT is_current) FROM {table} "
            f"WHERE export_date = ? GROUP BY 1",
            [d],
        ).fetchall()
    }
    rejected = {
        row[0]: row[1]
        for row in con.execute(
            "SELECT source_file, count(*) FROM raw.rejects WHERE entity = ? AND export_date = ? "
            "GROUP BY 1",
            [entity, d],
        ).fetchall()
    }
    for r in results:
        if r.status in ("failed", "ignored"):
            continue
        r.loaded, r.duplicates = per_file.get(r.source_file, (0, 0))
        r.rejected = rejected.get(r.source_file, 0)
    return {
        row[0]: row[1]
        for row in con.execute(
            "SELECT reason_code, count(*) FROM raw.rejects WHERE entity = ? AND export_date = ? "
            "GROUP BY 1 ORDER BY 1",
            [entity, d],
        ).fetchall()
    }


def _parse_bulk(
    con: duckdb.DuckDBPyConnection, days: list[ExportDay], bulk: dict[int, FileResult],
    limits: ReadLimits, future_days: int, table: str,
) -> None:
    """Validate the files staged in bulk (``table``) into _parsed_bulk, then give each
    rejected line the text the line path keeps for it (read again for those lines only)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _parsed_bulk AS "
        + event_rules.parse_sql(table, export_date=None, future_days=future_days,
                                bulk=True)
    )
    con.execute(f"DROP TABLE {table}")
    rejected: dict[int, list[int]] = {}
    for file_id, line in con.execute(
        "SELECT file_id, line_number FROM _parsed_bulk WHERE reason_code IS NOT NULL"
    ).fetchall():
        rejected.setdefault(file_id, []).append(line)
    texts: list[tuple[int, int, str]] = []
    for file_id, lines in rejected.items():
        n, index = divmod(file_id, _DAY_FILE_IDS)
        path = days[n].files[index]
        found = (_parquet_row_texts(con, path, lines) if bulk[file_id].file_format == "parquet"
                 else _line_texts(path, limits, lines))
        texts.extend((file_id, line, text) for line, text in found.items())
    if texts:  # one UPDATE joined to the texts: one per line would scan the table each time
        file_ids, lines, raws = zip(*texts, strict=True)
        con.register("_reject_texts", pa.table({
            "file_id": pa.array(file_ids, pa.int32()),
            "line_number": pa.array(lines, pa.int64()),
            "raw": pa.array(raws, pa.large_string())}))  # handed over, not inserted by row
        try:
            con.execute("UPDATE _parsed_bulk SET raw = t.raw FROM _reject_texts t "
                        "WHERE _parsed_bulk.file_id = t.file_id "
                        "AND _parsed_bulk.line_number = t.line_number").fetchall()
        finally:
            con.unregister("_reject_texts")


def _line_texts(path: Path, limits: ReadLimits, wanted: list[int]) -> dict[int, str]:
    """The texts of lines ``wanted`` of a NDJSON file, lines read in bulk (valid UTF-8), as
    the line path stages them (without their run of line-break characters)."""
    return {number: line.rstrip(b"\r\n").decode("utf-8")
            for number, line in _line_bytes(path, limits, wanted).items()}


def _parquet_row_texts(
    con: duckdb.DuckDBPyConnection, path: Path, wanted: list[int]
) -> dict[int, str]:
    """The JSON texts of rows ``wanted`` (1-based) of a Parquet file, as the line path
    stages them."""
    drop = json.dumps({"file_row_number": None})
    return dict(con.execute(
        f"""
        SELECT file_row_number + 1, json_merge_patch(to_json(t), '{drop}')::VARCHAR
        FROM read_parquet(?, file_row_number = true) t
        WHERE file_row_number + 1 IN (SELECT unnest(?::BIGINT[]))
        """,
        [str(path), wanted],
    ).fetchall())


def _records_read_from_stage(
    con: duckdb.DuckDBPyConnection, results: list[FileResult], first_file_id: int = 0,
    bulk: set[int] | frozenset[int] = frozenset(),
) -> None:
    counts = dict(
        con.execute(
            "SELECT file_id, count(*) FROM _lines WHERE file_id >= ? AND file_id < ? "
            "GROUP BY 1",
            [first_file_id, first_file_id + _DAY_FILE_IDS],
        ).fetchall()
    )
    for file_id, r in enumerate(results, start=first_file_id):
        if r.status in ("loaded", "partial") and file_id not in bulk:
            r.records_read = int(counts.get(file_id, 0))


_AUDIT_COLUMNS = 17
_AUDIT_ROWS_PER_STATEMENT = 500  # a bound on one statement's parameters


def _write_audit(
    con: duckdb.DuckDBPyConnection, results: list[DayLoadResult], run_id: str | None
) -> None:
    """One raw.load_audit row per file of each result, in multi-row INSERTs (an
    ``executemany`` runs the statement once per row: ~1.5 ms a day's row)."""
    rows = [
        (
            result.load_id, run_id, result.entity, result.export_date, f.source_file,
            f.file_format, f.file_bytes, f.file_mtime, f.status, f.message, f.records_read,
            f.blank_lines, f.loaded, f.rejected, f.duplicates, result.started_at,
            result.finished_at,
        )
        for result in results
        for f in result.files
    ]
    row = "(" + ", ".join(["?"] * _AUDIT_COLUMNS) + ")"
    for i in range(0, len(rows), _AUDIT_ROWS_PER_STATEMENT):
        block = rows[i:i + _AUDIT_ROWS_PER_STATEMENT]
        con.execute("INSERT INTO raw.load_audit VALUES " + ", ".join([row] * len(block)),
                    [v for r in block for v in r])


def _in_transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], None]) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        work()
    except BaseException:
        con.execute("ROLLBACK")
        raise
    failpoint("ingest.before_commit")  # a chunk's or a day's rows written, not committed
    con.execute("COMMIT")


def load_events_day(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    day: ExportDay,
    *,
    run_id: str | None = None,
    future_days: int = 1,
    progress: Progress | None = None,
    limits: ReadLimits | None = None,
) -> DayLoadResult:
    """Load (or reload) one export day of events."""
    return load_events_days(
        con, root, [day], run_id=run_id, future_days=future_days, progress=progress,
        limits=limits,
    )[0]


def load_events_days(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    days: list[ExportDay],
    *,
    run_id: str | None = None,
    future_days: int = 1,
    progress: Progress | None = None,
    limits: ReadLimits | None = None,
) -> list[DayLoadResult]:
    """Load (or reload) export days of events, in one transaction.

    The days' lines are staged and validated together, outside any transaction: the
    validating parse has a fixed cost (~0.2 s) that would otherwise be paid per day. Then
    the days are swapped in together (:func:`_swap_events`): the tables are those of
    loading each day alone, in date order, and so is each day's audit.
    """
    con.execute("SET TimeZone = 'UTC'")  # naive timestamps mean UTC, whoever connected
    con.execute(_LINES_DDL)
    limits = limits or ReadLimits()
    results = [DayLoadResult(EVENTS, day.export_date, uuid.uuid4().hex, _now())
               for day in days]
    truncations: list[tuple[int, int, str]] = []
    bulk: dict[int, FileResult] = {}
    with _bulk_stage(con) as table:
        staged = _stage_event_files(con, root, days, progress, limits, truncations, bulk,
                                    table)
        for result, files in zip(results, staged, strict=True):
            result.files = files
        _parse_bulk(con, days, bulk, limits, future_days, table)
    for n, result in enumerate(results):
        _records_read_from_stage(con, result.files, n * _DAY_FILE_IDS, set(bulk))
    if progress:
        lines = sum(r.total("records_read") for r in results)
        progress(f"events {days[0].export_date}..{days[-1].export_date}: validating "
                 f"{lines:,} lines")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _parsed_lines AS "
        + event_rules.parse_sql("_lines", export_date=None, future_days=future_days)
    )
    for file_id, line, message in truncations:  # the rest of a truncated file: one reject
        for table in ("_parsed_lines", "_parsed_bulk"):
            if con.execute(f"UPDATE {table} SET reason_code = 'truncated_compressed_file', "
                           "reason = ? WHERE file_id = ? AND line_number = ? RETURNING 1",
                           [message, file_id, line]).fetchall():
                break
    con.execute("DROP TABLE _lines")
    # both parses as one relation, not copied into one table (a copy of every bulk row)
    con.execute("CREATE OR REPLACE TEMP VIEW _parsed AS "
                "SELECT * FROM _parsed_lines UNION ALL SELECT * FROM _parsed_bulk")
    try:
        copy_dates = _copy_dates(con, days)
        _swap_chunk(con, results, run_id,
                    lambda: _swap_events(con, days, results, copy_dates))
    finally:
        con.execute("DROP VIEW IF EXISTS _parsed")
        for name in ("_parsed_lines", "_files", "_kept_files", "_old_ids", "_old_copies",
                     "_ranked", "_multi_ids", "_existing", "_parsed_bulk"):
            con.execute(f"DROP TABLE IF EXISTS {name}")
    return results


def _swap_chunk(
    con: duckdb.DuckDBPyConnection,
    results: list[DayLoadResult],
    run_id: str | None,
    swap: Callable[[], None],
) -> None:
    """Run ``swap`` (a chunk's days into the raw tables) and write the days' audit, in one
    transaction."""
    def swap_and_audit() -> None:
        swap()
        finished = _now()
        for result in results:
            result.finished_at = finished
        _write_audit(con, results, run_id)

    _in_transaction(con, swap_and_audit)


# --- platform ----------------------------------------------------------------------


def _read_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:  # type: ignore[operator]
            first = fh.readline()
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"{path.name}: cannot read: {exc}") from exc
    if not first.strip():
        raise UnreadableFileError(f"{path.name}: empty file: no header row")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(f"{path.name}: header is not valid UTF-8") from exc
    try:
        return next(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # e.g. a bare carriage return (CR-only line breaks)
        raise UnreadableFileError(f"{path.name}: header row is not valid CSV: {exc}") from exc


def _whole(path: Path, limits: ReadLimits) -> Iterator[bytes]:
    """A file's slices (bounded reads); a truncated gzip is an error (the CSV loader reads
    a file whole or not at all)."""
    reader = LineReader(path, limits)
    yield from reader
    if reader.truncated_at is not None:
        raise UnreadableFileError(f"truncated_compressed_file: {path.name}: {reader.problem} "
                                  f"at byte {reader.truncated_at:,}")


def _check_all_lines_parsed(con: duckdb.DuckDBPyConnection, path: Path,
                            limits: ReadLimits) -> None:
    """DuckDB's CSV reader swallows the rest of a file after an unterminated quote without
    a reject. Count the physical lines the parsed and rejected records account for; fewer
    than the file's non-blank lines means lost text, and the file fails as a whole."""
    physical = sum(0 if is_blank(piece) else non_blank_line_count(piece)
                   for piece in _whole(path, limits))
    cells = " || ".join(f'coalesce("{c}", \'\')' for c in _csv_columns(con)) or "''"
    accounted = con.execute(
        f"""
        SELECT 1
             + (SELECT count(*) + coalesce(sum(length({cells})
                                               - length(replace({cells}, chr(10), ''))), 0)
                FROM _csv_raw)
             + (SELECT count(*) + coalesce(sum(length(t) - length(replace(t, chr(10), ''))), 0)
                FROM (SELECT rtrim(ltrim(first(csv_line), chr(10) || chr(13)),
                                   chr(10) || chr(13)) AS t
                      FROM _csv_errors GROUP BY line))
        """
    ).fetchone()[0]
    if physical > accounted:
        raise UnreadableFileError(
            f"{path.name}: {physical - accounted} of {physical} lines could not be parsed "
            "(an unterminated quote swallows the rest of the file)"
        )


# the CSV staging's own work columns: named so that no file's header meets them (a file
# with a column "good_row" or "record_number" keeps it, under its name, in extra)
CSV_GOOD_ROW = "__insights_good_row"
CSV_RECORD = "__insights_record_number"


def _csv_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    cols = [d[0] for d in con.execute("SELECT * FROM _csv_raw LIMIT 0").description]
    return [c.replace('"', '""') for c in cols if c != CSV_GOOD_ROW]


def _stage_csv(
    con: duckdb.DuckDBPyConnection, entity: PlatformEntity, file_id: int, path: Path,
    result: FileResult, limits: ReadLimits,
) -> None:
    """Read one CSV into _rows_<file_id> typed, and its structural rejects into _csv_rejects."""
    header = [h.strip() for h in _read_header(path)]
    folded = [h.lower() for h in header]
    if len(set(folded)) != len(folded) or "" in folded:
        dupes = sorted({h for h in header if folded.count(h.lower()) > 1 or not h})
        raise UnreadableFileError(
            f"{path.name}: empty or duplicate header columns (case-insensitive): "
            f"{', '.join(repr(h) for h in dupes)}"
        )
    missing = [c for c in entity.required if c not in header]
    if missing:
        raise UnreadableFileError(
            f"{path.name}: header lacks required columns {', '.join(missing)} "
            f"(has {', '.join(header)})"
        )
    quoted = (h.replace("'", "''") for h in header)
    columns = "{" + ", ".join(f"'{h}': 'VARCHAR'" for h in quoted) + "}"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _csv_raw AS
        SELECT row_number() OVER () AS {CSV_GOOD_ROW}, *
        FROM read_csv(?, header = true, auto_detect = false, columns = {columns},
                      delim = ',', quote = '"', escape = '"', store_rejects = true,
                      rejects_scan = '_csv_scan', rejects_table = '_csv_errors',
                      strict_mode = true, parallel = false)
        """,
        [str(path)],
    )
    # number good rows as DuckDB numbers rejected ones: records counted from the header (1)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _csv_numbered AS
        WITH positions AS (
            SELECT p, row_number() OVER (ORDER BY p) AS {CSV_GOOD_ROW}
            FROM range(2, (SELECT count(*) FROM _csv_raw)
                          + (SELECT count(DISTINCT line) FROM _csv_errors) + 2) t(p)
            WHERE p NOT IN (SELECT line FROM _csv_errors)
        )
        SELECT positions.p AS {CSV_RECORD}, _csv_raw.* EXCLUDE ({CSV_GOOD_ROW})
        FROM _csv_raw JOIN positions USING ({CSV_GOOD_ROW})
        """
    )
    _check_all_lines_parsed(con, path, limits)
    # the contract's columns as cells (NULL where the header lacks one, as an empty cell
    # reads); the chunk's files are validated together (_parse_platform)
    cells = ", ".join(f'"{c}"' if c in header else "NULL" for c in entity.columns)
    # unknown columns: the row as JSON minus the contract's columns (no identifier is
    # built from the file's header)
    known = "{" + ", ".join(f'"{c}": null' for c in (*entity.columns, CSV_RECORD)) + "}"
    extra = (
        f"nullif(json_merge_patch(to_json(c), '{known}')::VARCHAR, '{{}}')::JSON"
        if any(h not in entity.columns for h in header) else "NULL::JSON"
    )
    con.execute(
        f"""
        INSERT INTO _csv_cells
        SELECT {file_id}, {CSV_RECORD}, {cells}, {extra},
               json_merge_patch(to_json(c), '{{"{CSV_RECORD}": null}}')::VARCHAR
        FROM _csv_numbered c
        """
    )
    con.execute(
        f"""
        INSERT INTO _platform_parsed (file_id, record_number, reason_code, reason, raw)
        SELECT {file_id}, line,
               CASE {" ".join(f"WHEN first(error_type ORDER BY column_idx) = '{k}' THEN '{v}'"
                              for k, v in CSV_ERROR_REASONS.items())}
                    ELSE 'malformed_csv' END,
               first(error_message ORDER BY column_idx),
               ltrim(first(csv_line), chr(10) || chr(13))
        FROM _csv_errors GROUP BY line
        """
    )
    con.execute("DROP TABLE IF EXISTS _csv_errors")
    con.execute("DROP TABLE IF EXISTS _csv_scan")


def _platform_stage_ddl(entity: PlatformEntity) -> list[str]:
    cols = ", ".join(f'"{c}" {COLUMN_SQL_TYPES[k]}' for c, k in entity.columns.items())
    cells = ", ".join(f'"{c}" VARCHAR' for c in entity.columns)
    return [
        "CREATE OR REPLACE TEMP TABLE _platform_parsed (file_id INTEGER, record_number BIGINT, "
        f"reason_code VARCHAR, reason VARCHAR, {cols}, extra JSON, raw VARCHAR)",
        "CREATE OR REPLACE TEMP TABLE _csv_cells (file_id INTEGER, record_number BIGINT, "
        f"{cells}, extra JSON, raw VARCHAR)",
    ]


def _parse_platform(
    con: duckdb.DuckDBPyConnection, entity: PlatformEntity,
    staged: list[tuple[int, FileResult, Path]],
) -> None:
    """Validate and type every staged row of the chunk's files in one statement (its cost
    is mostly fixed: once per chunk, not per file). Should it fail, the files are parsed
    one by one and only a file whose rows break it fails."""
    parse = platform_rules.parse_sql(entity, "_csv_cells", set(entity.columns),
                                     keep=("file_id", "extra", "raw"))
    cols = ", ".join(f'"{c}"' for c in entity.columns)
    insert = (f"INSERT INTO _platform_parsed (record_number, reason_code, reason, {cols}, "
              f"file_id, extra, raw) SELECT * FROM ({parse})")
    try:
        con.execute(insert)
    except duckdb.Error as exc:
        log.warning("%s: the files' rows could not be validated together (%s); "
                    "validating file by file", entity.name, str(exc).splitlines()[0])
        for file_id, fr, path in staged:
            if fr.status != "loaded":
                continue
            try:
                con.execute(f"{insert} WHERE file_id = ?", [file_id])
            except duckdb.Error as file_exc:
                con.execute("DELETE FROM _platform_parsed WHERE file_id = ?", [file_id])
                _fail(fr, _file_error(path, file_exc))
    con.execute("DROP TABLE _csv_cells")


def load_platform_day(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    day: ExportDay,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
    limits: ReadLimits | None = None,
) -> DayLoadResult:
    """Load (or reload) one export day of a platform entity."""
    return load_platform_days(con, root, [day], run_id=run_id, progress=progress,
                              limits=limits)[0]


def load_platform_days(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    days: list[ExportDay],
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
    limits: ReadLimits | None = None,
) -> list[DayLoadResult]:
    """Load (or reload) export days of one platform entity.

    The days' files are staged one by one, validated together in one statement, then
    swapped in: an increment's days together in one transaction (as
    :func:`load_events_days` does for events), a snapshot's each on its own, in date
    order; the tables and each day's audit are those of loading the days alone.
    """
    con.execute("SET TimeZone = 'UTC'")  # naive timestamps mean UTC, whoever connected
    limits = limits or ReadLimits()
    entity = PLATFORM_BY_NAME[days[0].entity]
    for statement in _platform_stage_ddl(entity):
        con.execute(statement)
    results: list[DayLoadResult] = []
    staged: list[tuple[int, FileResult, Path]] = []
    try:
        for n, day in enumerate(days):
            result = DayLoadResult(entity.name, day.export_date, uuid.uuid4().hex, _now())
            staged.extend(_stage_platform_files(con, root, entity, day, result,
                                                n * _DAY_FILE_IDS, progress, limits))
            results.append(result)
        _parse_platform(con, entity, staged)
        read = dict(con.execute(
            "SELECT file_id, count(*) FROM _platform_parsed GROUP BY 1").fetchall())
        for file_id, fr, _ in staged:
            if fr.status == "loaded":
                fr.records_read = int(read.get(file_id, 0))
        if entity.kind == "increment":
            _swap_chunk(con, results, run_id,
                        lambda: _swap_increments(con, entity, days, results))
        else:
            for n, (day, result) in enumerate(zip(days, results, strict=True)):
                _swap_platform_day(con, entity, day, result, n * _DAY_FILE_IDS, run_id)
    finally:
        for name in ("_platform_parsed", "_csv_cells", "_files", "_kept_files", "_old_copies",
                     "_ranked", "_csv_raw", "_csv_numbered"):
            con.execute(f"DROP TABLE IF EXISTS {name}")
    return results


def _stage_platform_files(
    con: duckdb.DuckDBPyConnection, root: Path, entity: PlatformEntity, day: ExportDay,
    result: DayLoadResult, first_file_id: int, progress: Progress | None, limits: ReadLimits,
) -> list[tuple[int, FileResult, Path]]:
    """Stage the day's files (their cells into _csv_cells, structural rejects into
    _platform_parsed); returns each file's id, result and path."""
    staged: list[tuple[int, FileResult, Path]] = []
    for index, path in enumerate(day.files):
        file_id = first_file_id + index
        fr = _new_file_result(root, path)
        result.files.append(fr)
        staged.append((file_id, fr, path))
        if progress:
            progress(f"{entity.name} {day.export_date}: reading {path.name}")
        if file_format(path) not in CSV_FORMATS:
            fr.status = "ignored"
            fr.message = "not a platform file of contract v1 (.csv, .csv.gz)"
            continue
        try:
            _refuse_glob_name(path)
            refuse_irregular(root, path)
            _stage_csv(con, entity, file_id, path, fr, limits)
        except Exception as exc:  # one unreadable file never stops the others
            for table in ("_platform_parsed", "_csv_cells"):
                con.execute(f"DELETE FROM {table} WHERE file_id = ?", [file_id])
            for name in ("_csv_errors", "_csv_scan"):
                con.execute(f"DROP TABLE IF EXISTS {name}")
            _fail(fr, _file_error(path, exc))
    return staged


def _swap_increments(
    con: duckdb.DuckDBPyConnection, entity: PlatformEntity, days: list[ExportDay],
    results: list[DayLoadResult],
) -> None:
    """Swap the staged days of an increment entity (payments, content_metrics) into its
    raw table and raw.rejects, one statement per step for all of them; is_current and
    each day's outcomes as swapping the days one after another gives."""
    # a file that failed keeps what an earlier load of it brought (a platform file is
    # never read in part)
    chunk, replaced = _chunk_files(con, days, results)
    keys = ", ".join(entity.key)
    con.execute(f"DELETE FROM raw.rejects WHERE entity = ? AND {replaced}", [entity.name])
    con.execute(
        """
        INSERT INTO raw.rejects
        SELECT ?, f.export_date, f.source_file, p.record_number, p.reason_code, p.reason,
               p.raw, f.load_id, f.loaded_at
        FROM _platform_parsed p JOIN _files f USING (file_id)
        WHERE p.reason_code IS NOT NULL
        """,
        [entity.name],
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _old_copies AS SELECT {keys}, export_date, "
                f"source_file, source_line FROM {entity.table} WHERE {replaced}")
    con.execute(f"DELETE FROM {entity.table} WHERE {replaced}")
    cols = ", ".join(f'"{c}"' for c in entity.columns)
    con.execute(
        f"""
        INSERT INTO {entity.table} ({cols}, extra, export_date, source_file, source_line,
                                    load_id, loaded_at, is_current)
        SELECT {", ".join(f"p.{c}" for c in entity.columns)}, p.extra, f.export_date,
               f.source_file, p.record_number, f.load_id, f.loaded_at, true
        FROM _platform_parsed p JOIN _files f USING (file_id)
        WHERE p.reason_code IS NULL
        """
    )
    _day_outcomes(con, entity.table, entity.name, entity.key, days, results, chunk, replaced)
    _recompute_current(con, entity.table, entity.key,
                       f"SELECT {keys} FROM {entity.table} WHERE {chunk} "
                       f"UNION SELECT {keys} FROM _old_copies")


def _swap_platform_day(
    con: duckdb.DuckDBPyConnection, entity: PlatformEntity, day: ExportDay,
    result: DayLoadResult, first_file_id: int, run_id: str | None,
) -> None:
    """Swap one staged export day of a snapshot entity into the raw tables in one
    transaction."""
    d = day.export_date.isoformat()
    loaded_files = [f for f in result.files if f.status == "loaded"]
    failed = result.failed_files
    superseded_by: date | None = None
    if entity.kind == "snapshot":
        newest = con.execute(f"SELECT max(export_date) FROM {entity.table}").fetchone()[0]
        if newest is not None and newest > day.export_date:
            superseded_by = newest

    def swap() -> None:
        con.execute("CREATE OR REPLACE TEMP TABLE _files (file_id INTEGER, source_file VARCHAR)")
        con.executemany(
            "INSERT INTO _files VALUES (?, ?)",
            [(first_file_id + i, r.source_file) for i, r in enumerate(result.files)],
        )
        # a file that failed now keeps what an earlier load of it brought
        con.execute("CREATE OR REPLACE TEMP TABLE _kept_files (source_file VARCHAR)")
        if failed:
            con.executemany(
                "INSERT INTO _kept_files VALUES (?)", [(f.source_file,) for f in failed]
            )
        kept = "source_file NOT IN (SELECT source_file FROM _kept_files)"
        con.execute(
            f"DELETE FROM raw.rejects WHERE entity = ? AND export_date = ? AND {kept}",
            [entity.name, d],
        )
        con.execute(
            """
            INSERT INTO raw.rejects
            SELECT ?, ?, f.source_file, p.record_number, p.reason_code, p.reason, p.raw, ?, ?
            FROM _platform_parsed p JOIN _files f USING (file_id)
            WHERE p.reason_code IS NOT NULL
            """,
            [entity.name, d, result.load_id, result.started_at],
        )
        # a snapshot is replaced only by a complete, newer-or-same-day read of it
        if superseded_by is None and loaded_files and not failed:
            cols = ", ".join(f'"{c}"' for c in entity.columns)
            con.execute(f"DELETE FROM {entity.table}")
            con.execute(
                f"""
                INSERT INTO {entity.table} ({cols}, extra, export_date, source_file, source_line,
                                            load_id, loaded_at, is_current)
                SELECT {", ".join(f"p.{c}" for c in entity.columns)}, p.extra, DATE '{d}',
                       f.source_file, p.record_number, ?, ?, true
                FROM _platform_parsed p JOIN _files f USING (file_id)
                WHERE p.reason_code IS NULL
                """,
                [result.load_id, result.started_at],
            )
            keys = ", ".join(entity.key)
            affected = f"SELECT {keys} FROM {entity.table} WHERE export_date = DATE '{d}'"
            _recompute_current(con, entity.table, entity.key, affected)
            result.rejects_by_reason = _count_outcomes(
                con, entity.table, entity.name, day, result.files
            )
        else:
            # nothing replaced: a newer snapshot is loaded, or every file failed
            counts = dict(
                con.execute(
                    "SELECT file_id, count(*) FILTER (WHERE reason_code IS NULL) "
                    "FROM _platform_parsed JOIN _files USING (file_id) GROUP BY 1"
                ).fetchall()
            )
            rej = dict(
                con.execute(
                    "SELECT file_id, count(*) FILTER (WHERE reason_code IS NOT NULL) "
                    "FROM _platform_parsed JOIN _files USING (file_id) GROUP BY 1"
                ).fetchall()
            )
            for i, fr in enumerate(result.files, start=first_file_id):
                if fr.status != "loaded":
                    continue
                fr.rejected = int(rej.get(i, 0))
                fr.duplicates = int(counts.get(i, 0))
                if superseded_by is not None:
                    fr.status = "superseded"
                    fr.message = f"a newer snapshot ({superseded_by}) is already loaded"
                elif failed:
                    fr.status = "superseded"
                    fr.message = "not applied: another file of this snapshot failed"
        result.finished_at = _now()
        _write_audit(con, [result], run_id)

    _in_transaction(con, swap)


def record_superseded_snapshots(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    days: list[ExportDay],
    newer: date,
    *,
    run_id: str | None = None,
) -> list[DayLoadResult]:
    """Audit snapshot days as superseded without reading them: a newer snapshot is (or is
    about to be) loaded, and only the latest snapshot is kept. One transaction for all of
    them: nothing is read, so there is no day to keep whole apart from the others, and a
    backfill of a snapshot entity otherwise commits once per old day."""
    results: list[DayLoadResult] = []
    for day in days:
        result = DayLoadResult(day.entity, day.export_date, uuid.uuid4().hex, _now())
        for path in day.files:
            fr = _new_file_result(root, path)
            fr.status = "superseded"
            fr.message = f"not read: the newer snapshot of {newer} replaces it"
            result.files.append(fr)
        result.finished_at = _now()
        results.append(result)
    if not results:
        return results

    def audit() -> None:
        # this load read nothing: rejects of an earlier read of the days no longer apply
        for entity in sorted({r.entity for r in results}):
            dates = sorted({r.export_date.isoformat() for r in results if r.entity == entity})
            con.execute(
                f"DELETE FROM raw.rejects WHERE entity = ? AND {_dates_filter(dates)}",
                [entity],
            )
        _write_audit(con, results, run_id)

    _in_transaction(con, audit)
    return results


EMPTY_DAY = "(no files)"


def _record_empty_day(
    con: duckdb.DuckDBPyConnection, root: Path, day: ExportDay, run_id: str | None
) -> DayLoadResult:
    """A complete day without files: audited, so it is not pending forever; nothing changes."""
    result = DayLoadResult(day.entity, day.export_date, uuid.uuid4().hex, _now())
    result.files.append(
        FileResult(
            source_file=f"{relative_name(root, day.path)}/{EMPTY_DAY}",
            file_format="none",
            status="empty",
            message="the export day holds only _SUCCESS",
        )
    )
    result.finished_at = _now()
    _in_transaction(con, lambda: _write_audit(con, [result], run_id))
    return result


def newest_snapshot(con: duckdb.DuckDBPyConnection, entity: str) -> date | None:
    """The export date of the snapshot loaded for ``entity`` (None: none, or not a snapshot)."""
    spec = PLATFORM_BY_NAME.get(entity)
    if spec is None or spec.kind != "snapshot":
        return None
    return con.execute(f"SELECT max(export_date) FROM {spec.table}").fetchone()[0]


def load_day(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    day: ExportDay,
    *,
    run_id: str | None = None,
    future_days: int = 1,
    progress: Progress | None = None,
    limits: ReadLimits | None = None,
) -> DayLoadResult:
    """Load one complete export day of any entity."""
    if not day.complete:
        raise ValueError(
            f"{day.entity} export day {day.export_date} is not complete: no _SUCCESS in {day.path}"
        )
    con.execute("SET TimeZone = 'UTC'")  # naive timestamps mean UTC, whoever connected
    if not day.files:
        return _record_empty_day(con, root, day, run_id)
    if day.entity == EVENTS:
        return load_events_day(
            con, root, day, run_id=run_id, future_days=future_days,
            progress=progress, limits=limits,
        )
    return load_platform_day(con, root, day, run_id=run_id, progress=progress, limits=limits)
