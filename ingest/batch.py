"""Load a range of export days of one entity: what the ingest assets and the benchmark run.

Days that are missing, incomplete (no ``_SUCCESS``) or unchanged since their last load are
skipped (unchanged ones are reloaded with ``reload``); for snapshot entities only the
newest day is read, older ones are audited as superseded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from ingest.landing import ExportDay, scan_landing
from ingest.loader import load_day, newest_snapshot, record_superseded_snapshot
from ingest.results import DayLoadResult
from ingest.schema import PLATFORM_BY_NAME
from ingest.state import loaded_signatures, needs_load

log = logging.getLogger(__name__)


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
    for i, day in enumerate(to_load, start=1):
        if newest is not None and day.export_date < newest:
            record_superseded_snapshot(con, root, day, newest, run_id=run_id)
            batch.skipped["superseded"].append(day.export_date.isoformat())
            continue
        result = load_day(
            con, root, day, run_id=run_id, future_days=future_days
        )
        batch.results.append(result)
        s = result.summary()
        info(
            f"[{i}/{len(to_load)}] {entity} {day.export_date}: {s['records_read']:,} read, "
            f"{s['loaded']:,} loaded, {s['rejected']:,} rejected, {s['duplicates']:,} "
            f"duplicates, {s['failed_files']} failed files"
        )
        for f in result.failed_files:
            warn(f"{entity} {day.export_date}: file failed: {f.message}")
    return batch
