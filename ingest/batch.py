"""Load a range of export days of one entity: what the ingest assets and the benchmark run.

Days that are missing, incomplete (no ``_SUCCESS``) or unchanged since their last load are
skipped (unchanged ones are reloaded with ``reload``); for snapshot entities only the
newest day is read, older ones are audited as superseded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from ingest.landing import EVENTS, ExportDay, scan_landing
from ingest.lines import ReadLimits
from ingest.loader import (
    load_day,
    load_events_days,
    load_platform_days,
    newest_snapshot,
    record_superseded_snapshots,
)
from ingest.results import DayLoadResult
from ingest.schema import PLATFORM_BY_NAME
from ingest.state import loaded_signatures, needs_load

log = logging.getLogger(__name__)

# While a batch of days loads, DuckDB checkpoints (writes the WAL into the database file)
# only past this much WAL instead of its default 16 MiB, and once when the batch ends.
# Every chunk (events, increments) or snapshot day commits on its own (the WAL is durable); a
# checkpoint per commit would cost a large share of the load (bench/README.md,
# "Measurements behind the code"). Bounded, so the not-yet-checkpointed data stays small
# next to the memory limit.
BATCH_CHECKPOINT_THRESHOLD = "1GB"
# Days are staged and validated in chunks of up to this many days and file bytes (one
# validating parse per chunk instead of per day; a chunk of events or of an increment
# commits in one transaction, its rows written in whole row groups). DuckDB
# scans a table one row group (122,880 rows) per thread, so a chunk of fewer lines is
# validated on one core: event chunks are sized to hold several row groups (~400 k lines
# of plain NDJSON at 128 MiB), and a day larger than that is a chunk of its own. A
# platform file is small next to a day of events: a parse's fixed cost (~20 ms) is most of
# a file's, so its chunks hold more days too.
EVENT_CHUNK_DAYS = 31
PLATFORM_CHUNK_DAYS = 31
CHUNK_BYTES = 128 * 2**20


@dataclass
class BatchResult:
    entity: str
    results: list[DayLoadResult] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(
        default_factory=lambda: {"missing": [], "incomplete": [], "unchanged": [],
                                 "superseded": []}
    )

    def total(self, name: str) -> int:
        return sum(r.total(name) for r in self.results)

    def rejects_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            for code, n in r.rejects_by_reason.items():
                out[code] = out.get(code, 0) + n
        return out

    @property
    def failed_messages(self) -> list[str]:
        return [f"{f.source_file}: {f.message}" for r in self.results for f in r.failed_files]

    @property
    def unbalanced(self) -> list[str]:
        return [
            f"{f.source_file}: read {f.records_read} != loaded {f.loaded} + rejected "
            f"{f.rejected} + duplicates {f.duplicates}"
            for r in self.results
            for f in r.files
            if not f.reconciles
        ]


def load_entity_days(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    entity: str,
    wanted: Iterable[date],
    *,
    reload: bool = False,
    run_id: str | None = None,
    future_days: int = 1,
    limits: ReadLimits | None = None,
    info: Callable[[str], None] = log.info,
    warn: Callable[[str], None] = log.warning,
) -> BatchResult:
    """Load the wanted export days of ``entity`` that are complete and new or changed."""
    batch = BatchResult(entity)
    found = {d.export_date: d for d in scan_landing(root, (entity,))}
    loaded = loaded_signatures(con, entity)
    to_load: list[ExportDay] = []
    for day_date in sorted(set(wanted)):
        day = found.get(day_date)
        if day is None:
            batch.skipped["missing"].append(day_date.isoformat())
        elif not day.complete:
            warn(f"{entity} {day_date}: no _SUCCESS yet in {day.path}; not loaded")
            batch.skipped["incomplete"].append(day_date.isoformat())
        elif not reload and not needs_load(root, day, loaded):
            batch.skipped["unchanged"].append(day_date.isoformat())
        else:
            to_load.append(day)
    spec = PLATFORM_BY_NAME.get(entity)
    newest: date | None = None
    if spec is not None and spec.kind == "snapshot" and to_load:
        newest = max(to_load[-1].export_date, newest_snapshot(con, entity) or date.min)
    with _checkpoint_once(con, len(to_load) > 1):
        _load_days(con, root, entity, to_load, newest, batch, run_id, future_days, info, warn,
                   limits or ReadLimits())
    return batch


@contextmanager
def _checkpoint_once(con: duckdb.DuckDBPyConnection, enabled: bool) -> Iterator[None]:
    """Raise the WAL checkpoint threshold for a batch, then checkpoint once at its end."""
    if not enabled:
        yield
        return
    previous = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
    con.execute("SET checkpoint_threshold = ?", [BATCH_CHECKPOINT_THRESHOLD])
    try:
        yield
    finally:
        try:
            con.execute("SET checkpoint_threshold = ?", [previous])
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:  # e.g. another transaction is open: DuckDB will later
            log.warning("checkpoint after the batch deferred: %s", exc)


def _load_days(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    entity: str,
    to_load: list[ExportDay],
    newest: date | None,
    batch: BatchResult,
    run_id: str | None,
    future_days: int,
    info: Callable[[str], None],
    warn: Callable[[str], None],
    limits: ReadLimits,
) -> None:
    max_days = EVENT_CHUNK_DAYS if entity == EVENTS else PLATFORM_CHUNK_DAYS
    if entity != EVENTS and newest is not None:
        old = [day for day in to_load if day.export_date < newest]
        record_superseded_snapshots(con, root, old, newest, run_id=run_id)
        batch.skipped["superseded"].extend(day.export_date.isoformat() for day in old)
        to_load = [day for day in to_load if day.export_date >= newest]
    done = 0
    for chunk in _chunks(to_load, max_days):
        if not chunk[0].files:
            results = [load_day(con, root, chunk[0], run_id=run_id, future_days=future_days,
                                limits=limits)]
        elif entity == EVENTS:
            results = load_events_days(con, root, chunk, run_id=run_id,
                                       future_days=future_days, limits=limits)
        else:
            results = load_platform_days(con, root, chunk, run_id=run_id, limits=limits)
        for result in results:
            done += 1
            _report(batch, entity, result, done, len(to_load), info, warn)


def _chunks(days: list[ExportDay], max_days: int) -> Iterator[list[ExportDay]]:
    """Consecutive runs of days to stage together; a day without files on its own."""
    chunk: list[ExportDay] = []
    size = 0
    for day in days:
        day_bytes = sum(_size(p) for p in day.files)
        if chunk and (
            not day.files or len(chunk) >= max_days or size + day_bytes > CHUNK_BYTES
        ):
            yield chunk
            chunk, size = [], 0
        if not day.files:
            yield [day]
            continue
        chunk.append(day)
        size += day_bytes
    if chunk:
        yield chunk


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # the loader reports it for the file
        return 0


def _report(
    batch: BatchResult,
    entity: str,
    result: DayLoadResult,
    i: int,
    n: int,
    info: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    batch.results.append(result)
    s = result.summary()
    info(
        f"[{i}/{n}] {entity} {result.export_date}: {s['records_read']:,} read, "
        f"{s['loaded']:,} loaded, {s['rejected']:,} rejected, {s['duplicates']:,} "
        f"duplicates, {s['failed_files']} failed files"
    )
    for f in result.failed_files:
        warn(f"{entity} {result.export_date}: file failed: {f.message}")
