"""Export days: the daily partitions of every ingest asset."""

from __future__ import annotations

import dagster as dg

from orchestration.settings import load_settings

export_days = dg.DailyPartitionsDefinition(
    start_date=load_settings().ingest.first_export_date.isoformat(),
    end_offset=1,  # today's export day may already be complete
    timezone="UTC",
)
