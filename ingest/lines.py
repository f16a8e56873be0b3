"""Split a newline-delimited file into numbered lines without a Python loop per line.

DuckDB's CSV reader is not an exact line reader for hostile NDJSON (a stray carriage
return or control character shifts or truncates records), and ``read_json`` with
``ignore_errors`` drops bad lines without their line numbers. So the bytes are split
here with numpy, handed to DuckDB as an Arrow binary column (zero copy), and all
decoding, parsing and validation happens in DuckDB SQL.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa


class UnreadableFileError(Exception):
    """The file as a whole cannot be read (corrupt gzip header, I/O error)."""


class FileRejected(UnreadableFileError):
    """A file the loader refuses to read further, with a reason code for the audit:
    ``too_large``, ``line_too_long`` or ``not_a_regular_file``."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class ReadLimits:
    """The bounds of one file (settings ``ingest.max_file_bytes``, ``max_line_bytes``)."""

    max_file_bytes: int = 4 * 2**30
    max_line_bytes: int = 16 * 2**20


_READ_CHUNK = 256 << 10  # compressed bytes fed at a time (what breaks loses at most this)
_OUT_CHUNK = 8 << 20     # decompressed bytes produced at a time (a bomb never expands more)
SLICE_BYTES = 16 << 20   # the lines handed on at a time: memory stays bounded by this
BOM = b"\xef\xbb\xbf"


class _Truncated(Exception):
    def __init__(self, offset: int, problem: str) -> None:
        self.offset, self.problem = offset, problem
        super().__init__(problem)


def _gunzip(path: Path) -> Iterator[bytes]:
    """The decompressed pieces of a gzip file (members one after another, zero padding
    after a member allowed), at most _OUT_CHUNK bytes each; :class:`_Truncated` with the
    compressed byte offset when the data breaks off or is corrupt."""
    with path.open("rb") as fh:
        d = zlib.decompressobj(31)
        fed = False  # the current member has received compressed bytes
        members = 0  # complete members so far
        offset = 0   # compressed bytes consumed before the current read
        while chunk := fh.read(_READ_CHUNK):
            data = chunk.lstrip(b"\0") if members and not fed else chunk
            while data:
                try:
                    out = d.decompress(data, _OUT_CHUNK)
                except zlib.error as exc:
                    at = offset + len(chunk) - len(data)  # the piece it failed on starts here
                    raise _Truncated(at, f"corrupt compressed data ({exc})") from exc
                fed = True
                if out:
                    yield out
                if d.eof:
                    data = d.unused_data.lstrip(b"\0")
                    d, fed, members = zlib.decompressobj(31), False, members + 1
                else:
                    data = d.unconsumed_tail
            offset += len(chunk)
        if fed and not d.eof:
            while out := d.decompress(b"", _OUT_CHUNK):  # what the decompressor still holds
                yield out
            raise _Truncated(offset, "the compressed data ends before the end of the stream")


def _plain(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(SLICE_BYTES):
            yield chunk


class LineReader:
    """A file's (decompressed) bytes as slices that each end at a line break (the last may
    not), read as a stream: at most about :data:`SLICE_BYTES` are held at a time, whatever
    the file holds. A UTF-8 BOM at the start is dropped.

    Past ``max_file_bytes`` decompressed, or with a line longer than ``max_line_bytes``,
    iterating raises :class:`FileRejected` (``too_large``, ``line_too_long``). A gzip
    stream that breaks off or is corrupt ends the iteration after its last complete line;
    ``truncated_at`` (the compressed byte offset), ``problem`` and ``cut_tail`` (the
    incomplete line) then say so."""

    def __init__(self, path: Path, limits: ReadLimits | None = None) -> None:
        self.path, self.limits = path, limits or ReadLimits()
        self.truncated_at: int | None = None
        self.problem = ""
        self.cut_tail = b""
        self.size = 0  # decompressed bytes read

    def _too_long(self, length: int) -> FileRejected:
        return FileRejected("line_too_long", f"{self.path.name}: a line of {length:,} bytes or "
                            f"more (ingest.max_line_bytes is {self.limits.max_line_bytes:,})")

    def __iter__(self) -> Iterator[bytes]:
        gz = self.path.name.lower().endswith(".gz")
        pieces = _gunzip(self.path) if gz else _plain(self.path)
        carry, first = b"", True
        try:
            for piece in pieces:
                self.size += len(piece)
                if self.size > self.limits.max_file_bytes:
                    raise FileRejected("too_large", f"{self.path.name}: more than "
                                       f"{self.limits.max_file_bytes:,} bytes decompressed; "
                                       "raise ingest.max_file_bytes to load it")
                if first:
                    piece, first = (piece[len(BOM):] if piece.startswith(BOM) else piece), False
                buf = carry + piece if carry else piece
                cut = buf.rfind(b"\n") + 1
                carry = buf[cut:]
                if len(carry) > self.limits.max_line_bytes:
                    raise self._too_long(len(carry))
                if cut:
                    lines = buf[:cut]
                    if not is_blank(lines) and longest_line(lines) > self.limits.max_line_bytes:
                        raise self._too_long(longest_line(lines))
                    yield lines
        except _Truncated as exc:
            if self.size == 0:  # nothing could be decompressed: unreadable as a whole
                raise UnreadableFileError(f"{self.path.name}: not a gzip file, or corrupt "
                                          f"from its start: {exc.problem}") from exc
            self.truncated_at, self.problem, self.cut_tail = exc.offset, exc.problem, carry
            return
        except OSError as exc:
            raise UnreadableFileError(f"{self.path.name}: cannot read file: {exc}") from exc
        if carry:
            yield carry


def is_blank(data: bytes) -> bool:
    """Whether ``data`` holds only line breaks and spaces (blank lines, as the loader
    counts them; a tab is not blank)."""
    return not data.translate(None, b"\r\n ")


def longest_line(data: bytes) -> int:
    """The length of the longest line of ``data`` (its terminator included)."""
    if not data:
        return 0
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    if not len(ends):
        return len(data)
    bounds = np.concatenate(([-1], ends, [len(data) - 1]))
    return int(np.diff(bounds).max())


def non_blank_line_count(content: bytes) -> int:
    """How many lines of ``content`` hold anything besides their terminator."""
    if not content:
        return 0
    buf = np.frombuffer(content, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))  # exclusive, terminator not included
    if starts[-1] == len(buf):  # nothing after the final newline
        starts, ends = starts[:-1], ends[:-1]
    lengths = ends - starts
    has_cr = (lengths > 0) & (buf[np.maximum(ends - 1, 0)] == 13)
    return int(np.count_nonzero(lengths - has_cr > 0))


def is_utf8(content: bytes) -> bool:
    """Whether all of ``content`` is valid UTF-8 (then so is each of its lines: a line break
    byte never occurs inside a multi-byte character)."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _segments(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[pa.Buffer, ...]:
    """Arrow offsets and data buffers of the byte ranges [starts, ends) of ``buf``."""
    lengths = ends - starts
    marks = np.bincount(starts, minlength=len(buf) + 1) - np.bincount(ends, minlength=len(buf) + 1)
    data = buf[np.cumsum(marks[:-1]) > 0]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    return pa.py_buffer(offsets), pa.py_buffer(data.tobytes())


def split_trimmed_lines(content: bytes) -> pa.Table:
    """Every physical line of ``content`` (numbered from 1), trimmed in
    numpy instead of per line in SQL.

    Columns: ``line_number``; ``line``, the line without its trailing run of line break
    characters (``\\r``, ``\\n``), as text when ``content`` is valid UTF-8, else as binary;
    ``maybe_blank``, false when the line certainly is not blank (it starts with ``{``);
    and, for binary content only, ``raw_line``: the line minus just its terminator
    (``\\n`` or ``\\r\\n``), for the rejects table.
    """
    text = is_utf8(content)
    kind = pa.large_string() if text else pa.large_binary()
    size = len(content)
    if size == 0:
        columns = {
            "line_number": pa.array([], pa.int64()),
            "line": pa.array([], kind),
            "maybe_blank": pa.array([], pa.bool_()),
        }
        if not text:
            columns["raw_line"] = pa.array([], pa.large_binary())
        return pa.table(columns)
    buf = np.frombuffer(content, dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(buf == 10) + 1))
    if starts[-1] == size:
        starts = starts[:-1]
    ends = np.concatenate((starts[1:], [size]))
    n = len(starts)
    # end of each line's content: after its last byte that is not \r or \n
    positions = np.where((buf != 10) & (buf != 13), np.arange(size, dtype=np.int64), -1)
    last = np.maximum.reduceat(positions, starts)
    content_ends = np.where(last >= starts, last + 1, starts)
    lengths = content_ends - starts
    first = buf[np.minimum(starts, size - 1)]
    columns = {
        "line_number": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "line": pa.Array.from_buffers(kind, n, [None, *_segments(buf, starts, content_ends)]),
        "maybe_blank": pa.array((lengths == 0) | (first != ord("{"))),
    }
    if not text:
        last_byte = buf[ends - 1]
        has_nl = last_byte == 10
        has_crlf = has_nl & (ends - starts >= 2) & (buf[np.maximum(ends - 2, 0)] == 13)
        raw_ends = ends - has_nl.astype(np.int64) - has_crlf.astype(np.int64)
        columns["raw_line"] = pa.Array.from_buffers(
            pa.large_binary(), n, [None, *_segments(buf, starts, raw_ends)]
        )
    return pa.table(columns)
