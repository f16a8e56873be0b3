"""What a load did, per file and per export day: the numbers of the load audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass
class FileResult:
    """One landing file's outcome.

    For a loaded file: records_read = loaded + rejected + duplicates.
    """

    source_file: str
    file_format: str
    file_bytes: int | None = None
    file_mtime: float | None = None
    status: str = "loaded"  # loaded | partial | failed | ignored | superseded
    message: str | None = None
    records_read: int = 0
    blank_lines: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicates: int = 0

    @property
    def reconciles(self) -> bool:
        return self.records_read == self.loaded + self.rejected + self.duplicates


@dataclass
class DayLoadResult:
    """One entity's export day as loaded (in one transaction, alone or with the days
    validated with it)."""

    entity: str
    export_date: date
    load_id: str
    started_at: datetime
    finished_at: datetime | None = None
    files: list[FileResult] = field(default_factory=list)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    @property
    def failed_files(self) -> list[FileResult]:
        """Files that failed, or that were read only in part (``partial``)."""
        return [f for f in self.files if f.status in ("failed", "partial")]

    @property
    def reconciles(self) -> bool:
        return all(f.reconciles for f in self.files)

    def summary(self) -> dict[str, int]:
        return {
            name: self.total(name)
            for name in ("records_read", "loaded", "rejected", "duplicates", "blank_lines")
        } | {"files": len(self.files), "failed_files": len(self.failed_files)}
