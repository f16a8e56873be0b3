"""The mart check step as Dagster runs it (``orchestration.assets.quality._table_checks``
with every mart check key selected), on a copy of a warehouse, without a Dagster run:
for A/B timing of the step's own work (the process's imports left out of the figure).

    python bench/mart_check_step.py SOURCE.duckdb COPY.duckdb

COPY is overwritten. Prints the step's wall and CPU seconds. PYTHONPATH chooses the code
(a worktree of another commit); ``ops.data_quality`` of two copies compares the outcomes.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
import types
from pathlib import Path

import dagster as dg

from orchestration.assets import quality
from orchestration.resources import ReportsResource, WarehouseResource

log = logging.getLogger("mart_check_step")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    source, copy = Path(sys.argv[1]), Path(sys.argv[2])
    shutil.copyfile(source, copy)
    warehouse = WarehouseResource(path=str(copy))
    reports = ReportsResource(path=str(copy.parent / "reports"))
    keys = {dg.AssetCheckKey(s.asset_key, s.name) for s in quality.mart_check_specs()}
    # what the step reads of its context: the selected keys, the run id and a logger
    context = types.SimpleNamespace(selected_asset_check_keys=keys,
                                    run=types.SimpleNamespace(run_id="bench"), log=log)
    wall, cpu = time.perf_counter(), time.process_time()
    n = sum(1 for _ in quality._table_checks(context, warehouse, reports, "marts",
                                             quality.run_mart_check))
    log.info("marts: %d checks in %.2f s wall, %.2f s CPU", n, time.perf_counter() - wall,
             time.process_time() - cpu)


if __name__ == "__main__":
    main()
