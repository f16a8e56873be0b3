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


def split_lines(content: bytes) -> pa.Table:
    """A table (line_number int64, line binary) of every physical line of ``content``.

    Each value keeps its line terminator (``\\n``, and ``\\r`` before it); a final line
    without a terminator is kept; the empty string after a final newline is not a line.
    """
    size = len(content)
    if size == 0:
        return pa.table(
            {"line_number": pa.array([], pa.int64()), "line": pa.array([], pa.large_binary())}
        )
    buf = np.frombuffer(content, dtype=np.uint8)
    newline_ends = np.flatnonzero(buf == 10) + 1
    starts = np.concatenate(([0], newline_ends))
    if starts[-1] == size:
        starts = starts[:-1]
    offsets = np.concatenate((starts, [size])).astype(np.int64)
    n = len(starts)
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(content)]
    )
    numbers = pa.array(np.arange(1, n + 1, dtype=np.int64))
    return pa.table({"line_number": numbers, "line": lines})


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
