"""Wall time and memory of each data-quality check on an existing warehouse.

    python bench/data_quality_profile.py --warehouse COPY.duckdb [--out FILE.json]

Runs what ``bench/pipeline.py``'s ``data_quality`` stage runs (``harness.raw_checks`` on
every export day of ``raw.load_audit``, then ``harness.mart_checks``), but one check at
a time, each timed, with the process's resident memory sampled every 50 ms: the peak
during each check names the suites that cost the memory. The warehouse is written to
(``ops.data_quality``): give it a copy, never a benchmark's own file.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from harness import vm_rss_mib  # noqa: E402  (bench/ on the path first)

log = logging.getLogger("bench")

MiB = 2**20


class RssSampler:
    """The highest resident memory seen since the last ``reset`` (sampled by a thread)."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.every_s = every_s
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, vm_rss_mib())

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def reset(self) -> None:
        self.peak = vm_rss_mib()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from harness import connect_warehouse

    from data_quality.checks import (
        CONTRACT,
        INVARIANTS,
        PERSONAL,
        VOLUME,
        run_mart_check,
        run_raw_check,
    )
    from data_quality.html_summary import write_summary
    from data_quality.mart_suites import MART_SUITES
    from data_quality.store import record
    from ingest.landing import EVENTS, landing_entities
    from warehouse.settings import load_settings

    cfg = load_settings().data_quality
    sampler = RssSampler().start()
    rows: list[dict] = []
    started = time.perf_counter()
    con = connect_warehouse(args.warehouse)
    try:
        days = [d for (d,) in con.execute(
            "SELECT DISTINCT export_date FROM raw.load_audit ORDER BY 1").fetchall()]

        def one(stage: str, asset: str, name: str, fn, *fn_args, **record_kw) -> None:
            sampler.reset()
            t0 = time.perf_counter()
            outcomes = fn(*fn_args)
            record(con, outcomes, asset_key=asset, check_name=name, run_id="bench",
                   **record_kw)
            row = {"stage": stage, "asset": asset, "check": name,
                   "wall_s": round(time.perf_counter() - t0, 2),
                   "peak_rss_mib": round(sampler.peak, 1),
                   "expectations": len(outcomes),
                   "failed": sum(not o.passed for o in outcomes)}
            rows.append(row)
            log.info("%s", json.dumps(row))

        for entity in landing_entities():
            for name in ([CONTRACT, VOLUME] if entity == EVENTS else [CONTRACT]):
                one("raw", f"raw/{entity}", name, run_raw_check, con, entity, name, days,
                    cfg, days=days)
        for mart in MART_SUITES:
            for name in (INVARIANTS, PERSONAL):
                one("marts", f"marts/{mart}", name, run_mart_check, con, mart, name)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_summary(con, Path(tmp) / "dq.html")
            summary_s = round(time.perf_counter() - t0, 2)
    finally:
        con.close()
        sampler.stop()
    total = {
        "wall_s": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "expectations": sum(r["expectations"] for r in rows),
        "failed": sum(r["failed"] for r in rows),
        "summary_s": summary_s,
        "days": len(days),
    }
    for stage in ("raw", "marts"):
        part = [r for r in rows if r["stage"] == stage]
        total[f"{stage}_wall_s"] = round(sum(r["wall_s"] for r in part), 2)
        total[f"{stage}_peak_rss_mib"] = max(r["peak_rss_mib"] for r in part)
        total[f"{stage}_expectations"] = sum(r["expectations"] for r in part)
    log.info("total %s", json.dumps(total))
    for r in sorted(rows, key=lambda r: -r["wall_s"])[:12]:
        log.info("slowest %6.1f s %8.0f MiB %s %s", r["wall_s"], r["peak_rss_mib"],
                 r["asset"], r["check"])
    if args.out:
        args.out.write_text(json.dumps({"total": total, "checks": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
