"""Split a newline-delimited file into numbered lines without a Python loop per line.

DuckDB's CSV reader is not an exact line reader for hostile NDJSON (a stray carriage
return or control character shifts or truncates records), and ``read_json`` with
``ignore_errors`` drops bad lines without their line numbers. So the bytes are split
here with numpy, handed to DuckDB as an Arrow binary column (zero copy), and all
decoding, parsing and validation happens in DuckDB SQL.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa


class UnreadableFileError(Exception):
    """The file as a whole cannot be read (corrupt or truncated gzip, I/O error)."""


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"{path.name}: cannot read file: {exc}") from exc
    if path.name.lower().endswith(".gz"):
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableFileError(f"{path.name}: corrupt or truncated gzip: {exc}") from exc
    return raw


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
