"""Which export days to load: pure planning used by the CLI runner and the sensor."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from ingest.landing import ExportDay, scan_landing
from ingest.state import Signature, loaded_signatures, needs_load
from warehouse.db import connect
from warehouse.locking import writer_lock


def contiguous_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Pure: sorted distinct days grouped into runs of consecutive days."""
    ranges: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        if ranges and ranges[-1][1] + timedelta(days=1) == d:
            ranges[-1] = (ranges[-1][0], d)
        else:
            ranges.append((d, d))
    return ranges


def split_future(days: Iterable[date], today: date) -> tuple[list[date], list[date]]:
    """Pure: (days up to today, days after it). An export day from the future is a
    platform's clock or folder-naming error: loading it would make a snapshot entity's
    "newest" snapshot stick until that date, so it waits instead (and is reported)."""
    ordered = sorted(set(days))
    return [d for d in ordered if d <= today], [d for d in ordered if d > today]


@dataclass
class RunPlan:
    """Which export days a run loads, and what it leaves alone."""

    to_load: list[date] = field(default_factory=list)
    incomplete: list[ExportDay] = field(default_factory=list)
    unchanged: int = 0

    @property
    def ranges(self) -> list[tuple[date, date]]:
        return contiguous_ranges(self.to_load)


def read_loaded(
    warehouse: Path, *, holder: str, timeout_s: float = 3600.0
) -> dict[tuple[str, date], Signature]:
    """What the warehouse has loaded: the files of the latest load of each (entity, export
    day) (empty when there is no warehouse yet).

    Read under the writer lock: a read-only DuckDB connection keeps a writer of another
    process from opening the file, so it must not overlap a write. Raises WriterBusyError
    when the lock stays taken ``timeout_s`` seconds, a ``duckdb.Error`` when the file
    cannot be read."""
    if not warehouse.exists():
        return {}
    with writer_lock(warehouse, timeout_s=timeout_s, holder=holder):
        con = connect(warehouse, read_only=True)
        try:
            has_audit = con.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = 'raw' AND table_name = 'load_audit'"
            ).fetchone()[0]
            return loaded_signatures(con) if has_audit else {}
        finally:
            con.close()


def plan_run(
    landing: Path,
    warehouse: Path,
    *,
    start: date | None = None,
    end: date | None = None,
    reload: bool = False,
) -> RunPlan:
    """Complete export days in [start, end] that are new or changed (all of them if reload)."""
    days = [
        d
        for d in scan_landing(landing)
        if (start is None or d.export_date >= start) and (end is None or d.export_date <= end)
    ]
    loaded = {} if reload else read_loaded(warehouse, holder="insights run (planning)")
    plan = RunPlan()
    wanted: set[date] = set()
    for d in days:
        if not d.complete:
            plan.incomplete.append(d)
        elif reload or needs_load(landing, d, loaded):
            wanted.add(d.export_date)
        else:
            plan.unchanged += 1
    plan.to_load = sorted(wanted)
    return plan


def plan_requests(
    days: Iterable[ExportDay],
    cursor: dict[str, str],
    needs: Callable[[ExportDay], bool] = lambda _day: True,
) -> tuple[list[str], dict[str, str]]:
    """Which export days to request, and the new cursor: a day whose fingerprint is new
    or changed since the cursor and of which at least one complete entity folder ``needs``
    loading (against what the warehouse holds). Pure when ``needs`` is.

    The cursor maps ``<export date>`` to a fingerprint of every complete entity folder
    of that day; incomplete folders are not part of it, so ``_SUCCESS`` arriving changes it.
    A day already loaded with these very files moves the cursor without a request, so a
    sensor started afresh (empty cursor) over a loaded warehouse requests nothing.
    """
    per_day: dict[str, list[str]] = {}
    pending: set[str] = set()
    for day in days:
        if day.complete:
            key = day.export_date.isoformat()
            per_day.setdefault(key, []).append(f"{day.entity}:{day.fingerprint()}")
            if needs(day):
                pending.add(key)
    new_cursor = {d: "|".join(sorted(parts)) for d, parts in per_day.items()}
    wanted = sorted(d for d, fp in new_cursor.items() if cursor.get(d) != fp and d in pending)
    return wanted, new_cursor
