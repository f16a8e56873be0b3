"""The landing folder of contract v1: which export days exist, which are complete.

```
landing/
  events/YYYY-MM-DD/*.ndjson | *.ndjson.gz | *.parquet
  platform/<entity>/YYYY-MM-DD/<entity>.csv | <entity>.csv.gz
```
A day folder is complete when it holds a file named ``_SUCCESS``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ingest.schema import PLATFORM_BY_NAME

SUCCESS_MARKER = "_SUCCESS"
EVENTS = "events"

EVENT_SUFFIXES = (".ndjson.gz", ".ndjson", ".parquet")
PLATFORM_SUFFIXES = (".csv.gz", ".csv")


def file_format(path: Path) -> str | None:
    """The format of a landing file from its name, or None when the contract has no such file."""
    name = path.name.lower()
    for suffix in (*EVENT_SUFFIXES, *PLATFORM_SUFFIXES):
        if name.endswith(suffix):
            return suffix.lstrip(".")
    return None


@dataclass(frozen=True)
class ExportDay:
    """One export day folder of one entity (``events`` or a platform entity)."""

    entity: str
    export_date: date
    path: Path
    complete: bool
    files: tuple[Path, ...]  # data files and unexpected files, sorted by name; never _SUCCESS

    def fingerprint(self) -> str:
        """Changes when a file is added, removed, rewritten or touched."""
        h = hashlib.sha256()
        for f in self.files:
            st = entry_stat(f)
            h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:16]


def entry_stat(path: Path) -> os.stat_result:
    """A landing entry's stat: its target's, or its own for a broken symbolic link."""
    try:
        return path.stat()
    except OSError:
        return path.lstat()


def _parse_day(name: str) -> date | None:
    try:
        parsed = date.fromisoformat(name)
    except ValueError:
        return None
    return parsed if parsed.isoformat() == name else None


def _scan_entity(entity: str, folder: Path) -> list[ExportDay]:
    days: list[ExportDay] = []
    if not folder.is_dir():
        return days
    for sub in sorted(folder.iterdir()):
        day = _parse_day(sub.name) if sub.is_dir() else None
        if day is None:
            continue
        files = tuple(
            sorted(
                # every entry but folders: a FIFO, a device or a link out of the folder is
                # listed too, so the loader fails it with its reason instead of skipping it
                (f for f in sub.iterdir() if not f.is_dir() and f.name != SUCCESS_MARKER),
                key=lambda p: p.name,
            )
        )
        complete = (sub / SUCCESS_MARKER).is_file()
        days.append(ExportDay(entity, day, sub, complete, files))
    return days


def landing_entities() -> tuple[str, ...]:
    return (EVENTS, *PLATFORM_BY_NAME)


def scan_landing(root: Path, entities: tuple[str, ...] | None = None) -> list[ExportDay]:
    """Every export day folder under ``root``, complete or not, sorted by entity and date."""
    found: list[ExportDay] = []
    for entity in entities or landing_entities():
        folder = root / EVENTS if entity == EVENTS else root / "platform" / entity
        found.extend(_scan_entity(entity, folder))
    return found


def export_day(root: Path, entity: str, day: date) -> ExportDay | None:
    """The folder of one entity and day, or None when it does not exist."""
    for found in scan_landing(root, (entity,)):
        if found.export_date == day:
            return found
    return None


def relative_name(root: Path, path: Path) -> str:
    """How a file is named in the warehouse: its path relative to the landing folder."""
    try:  # the file's own name (a symlink is named as itself, not as its target)
        return (path.parent.resolve() / path.name).relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
