"""Export days: the daily partitions of every ingest asset."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import dagster as dg

from warehouse.settings import load_settings

export_days = dg.DailyPartitionsDefinition(
    start_date=load_settings().ingest.first_export_date.isoformat(),
    end_offset=1,  # today's export day may already be complete
    timezone="UTC",
)


PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_export_days(tags: Mapping[str, str]) -> list[date]:
    """The export days a run covers, from its partition tags (one key or a range);
    empty for unpartitioned runs."""
    first = tags.get(RANGE_START_TAG)
    last = tags.get(RANGE_END_TAG)
    if first and last:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
        return [start + timedelta(days=i) for i in range((end - start).days + 1)]
    single = tags.get(PARTITION_TAG)
    return [date.fromisoformat(single)] if single else []
