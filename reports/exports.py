"""CSV and JSON exports. CSV cells that a spreadsheet could run as a formula are
neutralised (OWASP CSV injection: a leading single quote); files are written atomically
with mode 0o640."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from models_ml.io import clean_json

FILE_MODE = 0o640
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A CSV cell that cannot run as a formula: strings starting with = + - @ TAB or CR
    get a leading single quote; other values are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write a file atomically with mode 0o640."""
    target = Path(path)
    _write_atomic(target, data)
    return target


def csv_text(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    # CRLF rows (RFC 4180): the writer quotes a cell only when it holds a character of the
    # line terminator, so with "\n" a bare CR in a cell went out unquoted and a reader
    # (Python, Excel) split the row there, starting a new cell such as "=1" unneutralised
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([safe_cell(c) for c in columns])
    for row in rows:
        writer.writerow(["" if v is None else safe_cell(_plain(v)) for v in row])
    return buf.getvalue()


def write_csv(path: str | Path, columns: Sequence[str],
              rows: Sequence[Sequence[object]]) -> Path:
    """A UTF-8 CSV with a header row; every cell neutralised by :func:`safe_cell`."""
    return write_bytes(path, csv_text(columns, rows).encode("utf-8"))


def _plain(value: object) -> object:
    """A number or a string (which safe_cell then checks): other values (intervals,
    lists, structs, ...) as the text the CSV writer would print for them."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)  # e.g. a negative interval prints as "-1 day, 0:00:00"


def json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def json_text(obj: object) -> str:
    # clean_json: NaN/inf to null, numpy scalars to numbers, dates to ISO strings
    return json.dumps(clean_json(obj), default=json_default, indent=2, ensure_ascii=False,
                      sort_keys=False) + "\n"


def write_json(path: str | Path, obj: object) -> Path:
    """Pretty UTF-8 JSON (dates as ISO strings, NaN/inf as null), mode 0o640."""
    return write_bytes(path, json_text(obj).encode("utf-8"))
