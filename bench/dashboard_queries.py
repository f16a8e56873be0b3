"""Dashboard query latency: every query of every page (dashboard/queries.py), run N times
on a serving database through the dashboard's own reader, p50 / p95 per query.

    python bench/dashboard_queries.py --serving /path/to/serving.duckdb [--repeat 30]

The queries run for each filter set a user would pick: all creators and the busiest
creator, over the last 7 days, the last 28 days and the whole history, at the grain
day, week and month where the page has one. A serving database published before the
dashboard tables existed (no ``dashboard`` schema) is copied to a temporary file and
given them from its warehouse (``--warehouse``), as ``serving.publish`` now does.
Writes bench/results/dashboard_queries.json (per query: runs, p50, p95, max in ms;
the filter sets; the database's size; the command and the machine). Target: p95 under
200 ms for every query at 10 M events.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import duckdb  # noqa: E402

from dashboard import queries as q  # noqa: E402
from dashboard.data import ServingReader  # noqa: E402

log = logging.getLogger("bench.dashboard_queries")
TARGET_MS = 200.0


def _prepared(serving: Path, warehouse: Path | None, work: Path) -> Path:
    """``serving``, or a copy given the dashboard tables when it lacks them."""
    con = duckdb.connect(str(serving), read_only=True)
    has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'dashboard'"
                      ).fetchone()[0]
    con.close()
    if has:
        return serving
    if warehouse is None:
        raise SystemExit(f"{serving} has no dashboard schema: pass --warehouse to build it")
    from serving.dashboard_tables import publish_dashboard_tables

    copy = work / "serving.duckdb"
    shutil.copyfile(serving, copy)
    con = duckdb.connect()
    con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
    con.execute("USE wh")
    con.execute(f"ATTACH '{copy}' AS target")
    t0 = time.perf_counter()
    rows = publish_dashboard_tables(con, "target")
    log.info("dashboard tables built in %.1f s: %s", time.perf_counter() - t0, rows)
    con.close()
    return copy


def filter_sets(reader: ServingReader) -> list[q.Filters]:
    (first, last), = reader.rows(q.bounds())
    busiest = reader.rows(q.Query("busiest", """
        SELECT creator_id FROM marts.engagement_daily WHERE creator_id <> '__all__'
        GROUP BY 1 ORDER BY sum(dau) DESC LIMIT 1"""))[0][0]
    out = []
    for creator in (q.ALL_CREATORS, busiest):
        for days, grain in ((7, "day"), (28, "week"), (None, "month")):
            start = first if days is None else max(first, last - timedelta(days=days - 1))
            out.append(q.Filters(start, last, creator, grain))  # type: ignore[arg-type]
    return out


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run(reader: ServingReader, repeat: int) -> dict[str, dict]:
    """Per page and query: every filter set, ``repeat`` times, after one warm-up run
    (the first query of a session opens the file: timed apart, as ``open_ms``)."""
    times: dict[str, list[float]] = {}
    missing: dict[str, str] = {}
    sets = filter_sets(reader)
    for page, (_, builder) in q.PAGES.items():
        for f in sets:
            for name, query in builder(f).items():
                try:
                    reader.df(query)  # warm-up
                except duckdb.CatalogException as exc:  # a table this database lacks
                    missing[f"{page}.{name}"] = str(exc).splitlines()[0]
                    continue
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    reader.df(query)
                    times.setdefault(f"{page}.{name}", []).append(
                        (time.perf_counter() - t0) * 1000)
    out: dict[str, dict] = {key: {"runs": len(v), "p50_ms": round(statistics.median(v), 2),
                                  "p95_ms": round(_pct(v, 0.95), 2),
                                  "max_ms": round(max(v), 2)}
                            for key, v in times.items()}
    for key, why in missing.items():
        out.setdefault(key, {"not_measured": why})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serving", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path,
                        help="its warehouse, to build the dashboard tables if missing")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", type=Path,
                        default=REPO / "bench" / "results" / "dashboard_queries.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from harness import machine

    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        path = _prepared(args.serving, args.warehouse, Path(tmp))
        t0 = time.perf_counter()
        reader = ServingReader(path)
        reader.connection()
        open_ms = (time.perf_counter() - t0) * 1000
        events = reader.rows(q.Query("events", "SELECT count(*) FROM marts.events"))[0][0]
        user_days = reader.rows(q.Query("ud", "SELECT count(*) FROM dashboard.user_days"))[0][0]
        sets = filter_sets(reader)
        results = run(reader, args.repeat)
        reader.close()
    measured = {k: v for k, v in results.items() if "p95_ms" in v}
    worst = max(measured.items(), key=lambda kv: kv[1]["p95_ms"])
    report = {
        "command": "python bench/dashboard_queries.py " + " ".join(sys.argv[1:]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
        "serving_bytes": args.serving.stat().st_size, "events": events,
        "dashboard_user_days_rows": user_days, "open_ms": round(open_ms, 1),
        "repeat_per_filter_set": args.repeat,
        "filter_sets": [q.to_params(f) for f in sets],
        "target_p95_ms": TARGET_MS,
        "worst": {"query": worst[0], **worst[1]},
        "met": all(r["p95_ms"] < TARGET_MS for r in measured.values()),
        "not_measured": sorted(set(results) - set(measured)),
        "load_average_1_5_15": list(os.getloadavg()),
        "queries": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log.info("%d queries (%d not measured); worst p95 %.1f ms (%s); target met: %s; wrote %s",
             len(results), len(results) - len(measured),
             worst[1]["p95_ms"], worst[0], report["met"], args.out)


if __name__ == "__main__":
    main()
