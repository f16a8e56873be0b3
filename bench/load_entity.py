"""Load one entity's complete export days of an existing landing into a new warehouse, in
one batch, as the Dagster ingest asset does (no Dagster run): for A/B timing of the loader
with farm-bench, and for comparing two versions' raw tables (bench/compare_warehouses.py).

    python bench/load_entity.py LANDING WAREHOUSE.duckdb [--entity events | --entity platform]

``--entity platform``: every platform entity, one after another.

WAREHOUSE is deleted first. PYTHONPATH chooses the code (a worktree of another commit).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ingest.batch import load_entity_days
from ingest.landing import scan_landing
from ingest.loader import ensure_schema
from ingest.schema import PLATFORM_BY_NAME
from warehouse.db import connect

log = logging.getLogger("load_entity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--entity", default="events")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.warehouse.unlink(missing_ok=True)
    con = connect(args.warehouse)
    try:
        ensure_schema(con)
        entities = sorted(PLATFORM_BY_NAME) if args.entity == "platform" else [args.entity]
        for entity in entities:
            days = sorted({d.export_date for d in scan_landing(args.landing, (entity,))
                           if d.complete})
            start = time.perf_counter()
            result = load_entity_days(con, args.landing, entity, days)
            log.info("%s: %d export days loaded in %.2f s%s", entity, len(days),
                     time.perf_counter() - start, " (UNBALANCED)" if result.unbalanced else "")
    finally:
        con.close()


if __name__ == "__main__":
    main()
