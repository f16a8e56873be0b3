"""Dashboard query latency: every query of every page (dashboard/queries.py), run N times
on a serving database through the dashboard's own reader, p50 / p95 per query.

    python bench/dashboard_queries.py --serving /path/to/serving.duckdb [--repeat 30]

The queries run for each filter set a user would pick: all creators and the busiest
creator, over the last 7 days, the last 28 days and the whole history, at the grain
day, week and month where the page has one; and each drill (the users or sessions behind
a number) at its heaviest choice (``drills``: the largest topic, every funnel's first
and last step, the fullest score band, the busiest day). A serving database that lacks
tables the dashboard reads (published before the dashboard tables or a mart existed) is
copied (to ``--prepared`` or a temporary folder) and given them from its warehouse
(``--warehouse``): the ``dashboard`` tables built as ``serving.publish`` builds them,
marts and ml tables copied.
Writes bench/results/dashboard_queries.json (per query: runs, p50, p95, max in ms;
the filter sets; the database's size; the command and the machine). Target: p95 under
200 ms for every query at 10 M events.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import duckdb  # noqa: E402

from dashboard import queries as q  # noqa: E402
from dashboard.data import ServingReader  # noqa: E402

log = logging.getLogger("bench.dashboard_queries")
TARGET_MS = 200.0


def read_tables() -> set[tuple[str, str]]:
    """Every (schema, table) the dashboard's queries read."""
    f = q.Filters(date(2026, 1, 1), date(2026, 1, 28))
    sql = " ".join(query.sql for _, builder in q.PAGES.values() for query in builder(f).values())
    return set(re.findall(r"\b(marts|ml|ops|dashboard)\.([a-z_]+)\b", sql))


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> set[tuple[str, str]]:
    return set(con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE "
                           "database_name = ? UNION SELECT schema_name, view_name FROM "
                           "duckdb_views() WHERE database_name = ?",
                           [database, database]).fetchall())


def _prepared(serving: Path, warehouse: Path | None, work: Path) -> Path:
    """``serving``, or a copy of it given what it lacks of the tables the dashboard reads:
    the ``dashboard`` tables built from its warehouse (``--warehouse``) as
    ``serving.publish`` builds them, and marts or ml tables published after ``serving``
    was (copied from the warehouse)."""
    con = duckdb.connect(str(serving), read_only=True)
    missing = read_tables() - _tables(con, con.execute("SELECT current_database()"
                                                       ).fetchone()[0])
    con.close()
    if not missing:
        return serving
    if warehouse is None:
        raise SystemExit(f"{serving} lacks {sorted(missing)}: pass --warehouse to add them")
    from serving.dashboard_tables import publish_dashboard_tables

    copy = work / "serving.duckdb"
    shutil.copyfile(serving, copy)
    con = duckdb.connect()
    con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
    con.execute("USE wh")
    con.execute(f"ATTACH '{copy}' AS target")
    t0 = time.perf_counter()
    in_warehouse = _tables(con, "wh")
    for schema, table in sorted(missing):
        if schema != "dashboard" and (schema, table) in in_warehouse:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS target.{schema}")
            con.execute(f"CREATE TABLE target.{schema}.{table} AS "
                        f"SELECT * FROM wh.{schema}.{table}")
            log.info("copied %s.%s from the warehouse", schema, table)
    if any(schema == "dashboard" for schema, _ in missing):
        rows = publish_dashboard_tables(con, "target")
        log.info("dashboard tables built: %s", rows)
    log.info("serving copy prepared in %.1f s", time.perf_counter() - t0)
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


def drills(reader: ServingReader, f: q.Filters) -> dict[str, q.Query]:
    """The drills at their heaviest choice for ``f`` (a page's builder holds each drill
    at its default choice): the largest topic, every funnel's first and last step, the
    fullest engagement-score band, the busiest day."""
    out: dict[str, q.Query] = {}
    topic = reader.rows(q.Query("topic", """
        SELECT topic FROM marts.topic_mastery WHERE creator_id = $creator
        GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""", {"creator": f.creator}))
    if topic:
        out["learning.mastery_users@largest_topic"] = q.mastery_users(f, topic[0][0])
    for funnel, last in reader.rows(q.Query("funnels", """
            SELECT funnel, max(step) FROM marts.funnel_steps GROUP BY 1 ORDER BY 1""")):
        for step in (1, last):
            out[f"funnels.funnel_step_users@{funnel}.{step}"] = q.funnel_step_users(
                f, funnel, step)
            out[f"funnels.funnel_step_users_count@{funnel}.{step}"] = \
                q.funnel_step_users_count(f, funnel, step)
    band = reader.rows(q.engagement_scores(f))
    if band:
        fullest = max(band, key=lambda r: r[1])[0]
        out["engagement.engagement_score_users@fullest_band"] = q.engagement_score_users(
            f, fullest)
    day = reader.rows(q.Query("day", """
        SELECT date FROM marts.engagement_daily WHERE creator_id = $creator
          AND date BETWEEN $start AND $end ORDER BY dau DESC LIMIT 1""", f.params()))
    if day:
        d = day[0][0]
        out["engagement.active_users@busiest_day"] = q.active_users(f, d)
        out["conversations.conversation_sessions@busiest_day"] = q.conversation_sessions(
            f, d)
        out["anomalies.anomaly_day@busiest_day"] = q.anomaly_day(f, d)
    return out


def run(reader: ServingReader, repeat: int) -> dict[str, dict]:
    """Per page and query: every filter set, ``repeat`` times, after one warm-up run
    (the first query of a session opens the file: timed apart, as ``open_ms``)."""
    times: dict[str, list[float]] = {}
    missing: dict[str, str] = {}
    sets = filter_sets(reader)
    for f in sets:
        built = {f"{page}.{name}": query for page, (_, builder) in q.PAGES.items()
                 for name, query in builder(f).items()}
        for key, query in {**built, **drills(reader, f)}.items():
            try:
                reader.df(query)  # warm-up
            except duckdb.CatalogException as exc:  # a table this database lacks
                missing[key] = str(exc).splitlines()[0]
                continue
            for _ in range(repeat):
                t0 = time.perf_counter()
                reader.df(query)
                times.setdefault(key, []).append((time.perf_counter() - t0) * 1000)
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
    parser.add_argument("--prepared", type=Path,
                        help="where to keep the prepared copy (default: a temporary file)")
    parser.add_argument("--out", type=Path,
                        default=REPO / "bench" / "results" / "dashboard_queries.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from harness import machine

    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        work = Path(tmp)
        if args.prepared:
            args.prepared.mkdir(parents=True, exist_ok=True)
            work = args.prepared
        path = _prepared(args.serving, args.warehouse, work)
        t0 = time.perf_counter()
        reader = ServingReader(path)
        reader.connection()
        open_ms = (time.perf_counter() - t0) * 1000
        events = reader.rows(q.Query("events", "SELECT count(*) FROM marts.events"))[0][0]
        drill_rows = {t: reader.rows(q.Query(t, f"SELECT count(*) FROM dashboard.{t}"))[0][0]
                      for _, t in sorted(read_tables()) if _ == "dashboard"}
        served_bytes = path.stat().st_size
        sets = filter_sets(reader)
        results = run(reader, args.repeat)
        reader.close()
    measured = {k: v for k, v in results.items() if "p95_ms" in v}
    worst = max(measured.items(), key=lambda kv: kv[1]["p95_ms"])
    report = {
        "command": "python bench/dashboard_queries.py " + " ".join(sys.argv[1:]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
        "serving_bytes": served_bytes, "events": events,
        "dashboard_rows": drill_rows, "open_ms": round(open_ms, 1),
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
