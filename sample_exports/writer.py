"""Deterministic file output: gzip without timestamps, Parquet, CSV, ``_SUCCESS`` markers."""

from __future__ import annotations

import gzip
import io
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SUCCESS = "_SUCCESS"
GZIP_LEVEL = 3


def write_file(path: Path, chunks: Iterable[bytes | memoryview], *, gz: bool) -> None:
    """Write the chunks one after the other (gzip-compressed, without timestamp, when ``gz``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        if gz:
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=GZIP_LEVEL,
                               mtime=0) as z:
                for chunk in chunks:
                    z.write(chunk)
        else:
            for chunk in chunks:
                fh.write(chunk)


def write_csv_file(path: Path, table: pa.Table, extra: bytes, *, gz: bool) -> None:
    """A CSV file of the table (header included) followed by ``extra`` raw bytes."""
    write_file(path, [csv_bytes(table), extra], gz=gz)


def write_parquet(path: Path, table: pa.Table) -> None:
    """A Parquet file with fixed settings (deterministic for the same table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", use_dictionary=True,
                   write_statistics=True, row_group_size=1 << 20)


def csv_bytes(table: pa.Table, *, header: bool = True) -> bytes:
    """RFC 4180 CSV (comma, double-quote quoting, ``\\n`` line ends) of a table, UTF-8."""
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=header,
                                                   quoting_style="needed"))
    return buf.getvalue()


def mark_complete(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SUCCESS).write_bytes(b"")


def clear_folder(folder: Path, names: Iterable[str] = (), prefixes: Iterable[str] = ()) -> None:
    """Remove files this generator writes into ``folder`` (an earlier run's), and _SUCCESS."""
    if not folder.is_dir():
        return
    names = set(names) | {SUCCESS}
    prefixes = tuple(prefixes)
    for f in folder.iterdir():
        if f.is_file() and (f.name in names or (prefixes and f.name.startswith(prefixes))):
            f.unlink()


class BackgroundWriter:
    """Runs file writes (gzip, Parquet encoding, disk I/O) in one worker thread, in order.

    zlib, Arrow and file I/O release the GIL, so writing overlaps with simulating and
    rendering the next day. Tasks run in submission order (one worker), so a day's
    ``_SUCCESS`` submitted after its files is written after them. At most ``max_pending``
    tasks wait, which bounds the memory held by queued buffers. ``synchronous`` runs
    each task at once (for tests and debugging).
    """

    def __init__(self, max_pending: int = 24, *, synchronous: bool = False) -> None:
        self._pool = None if synchronous else ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sample-exports-writer")
        self._pending: deque[Future] = deque()
        self._max = max_pending

    def submit(self, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        if self._pool is None:
            fn(*args, **kwargs)
            return
        while len(self._pending) >= self._max:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args, **kwargs))

    def close(self) -> None:
        """Wait for every task; re-raise the first error."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
