"""Generate N sample events and load them: wall time and events per second of each stage.

    python bench/ingest_throughput.py --events 1000000 [--events 10000000] [--out bench/results]

Loads every complete export day with the same loader the Dagster ingest assets call
(no Dagster run overhead), into a fresh DuckDB file in a temporary folder.
"""

from __future__ import annotations

import logging
import resource
import time
from pathlib import Path

from harness import run_sizes

from ingest.batch import load_entity_days
from ingest.landing import landing_entities, scan_landing
from ingest.loader import ensure_schema
from sample_exports import generate_exports
from warehouse.db import connect

log = logging.getLogger("bench")


def measure(n_events: int, workdir: Path) -> dict:
    landing = workdir / "landing"
    t0 = time.perf_counter()
    summary = generate_exports(landing, seed=1, target_events=n_events, days=60)
    gen_s = time.perf_counter() - t0
    con = connect(workdir / "wh.duckdb")
    ensure_schema(con)
    days = sorted({d.export_date for d in scan_landing(landing)})
    t0 = time.perf_counter()
    for entity in landing_entities():
        batch = load_entity_days(con, landing, entity, days, info=log.debug)
        if entity == "events":
            read = batch.total("records_read")
            events_s = time.perf_counter() - t0
    load_s = time.perf_counter() - t0
    current = con.execute("SELECT count(*) FROM raw.events WHERE is_current").fetchone()[0]
    con.close()
    return {
        "target_events": n_events,
        "events_written": summary.events_written,
        "event_lines_read": read,
        "events_loaded": current,
        "generate_s": round(gen_s, 2),
        "generate_events_per_s": round(summary.events_written / gen_s),
        "load_all_entities_s": round(load_s, 2),
        "load_events_s": round(events_s, 2),
        "load_events_per_s": round(read / events_s),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    run_sizes(__doc__, measure, report_name="ingest_throughput.json")


if __name__ == "__main__":
    main()
