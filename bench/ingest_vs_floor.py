"""The event load against a bare DuckDB read of the same files, interleaved, in one run;
and the cost of each export day as the table grows.

    python bench/ingest_vs_floor.py --landing DIR [--code A=/path/to/checkout ...]
        [--rounds 2] [--out bench/results/ingest_vs_floor.json]

Each round runs, each in its own child process on a fresh DuckDB file: the floor
(``CREATE TABLE AS SELECT * FROM read_ndjson(..., ignore_errors)`` + ``read_parquet`` of
every event file of the complete days but the last) and the event load of those days
(``ingest.batch.load_entity_days``) with the code of each ``--code`` checkout (default:
this one). A ratio is ingest lines/s over floor lines/s of the same round, so the machine's
load (shared, noisy) hits both alike; the same from CPU seconds (user + system of the
child), which an oversubscribed machine distorts less than wall time. Per day: the wall
seconds between one day's audit and the next (days validated together in a chunk share
its parse and its commit: the first day of a chunk carries them), to show whether a day
costs more as raw.events grows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
code, landing, db, mode, memory_limit = sys.argv[1:6]
sys.path.insert(0, code)
import duckdb
from ingest.landing import scan_landing
t_days = sorted((d for d in scan_landing(Path(landing), ("events",)) if d.complete),
                key=lambda d: d.export_date)[:-1]
days = [d.export_date for d in t_days]
out = {}
cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
if mode == "floor":
    files = [str(f) for d in t_days for f in d.files]
    ndjson = [f for f in files if ".ndjson" in f]
    parquet = [f for f in files if f.endswith(".parquet")]
    con = duckdb.connect(db)
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    t0 = time.perf_counter()
    con.execute("CREATE TABLE a AS SELECT * FROM read_ndjson(?, ignore_errors = true)", [ndjson])
    con.execute("CREATE TABLE b AS SELECT * FROM read_parquet(?, union_by_name = true)",
                [parquet])
    out["s"] = time.perf_counter() - t0
    out["lines"] = sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in "ab")
else:
    from ingest.batch import load_entity_days
    from ingest.loader import ensure_schema
    from warehouse.db import connect
    con = connect(Path(db), memory_limit=memory_limit or None)
    ensure_schema(con)
    stamps = []
    t0 = time.perf_counter()
    batch = load_entity_days(con, Path(landing), "events", days,
                             info=lambda m: stamps.append(time.perf_counter() - t0))
    out["s"] = time.perf_counter() - t0
    out["lines"] = batch.total("records_read")
    out["day_commit_s"] = [round(s, 3) for s in stamps]
    out["unbalanced"] = batch.unbalanced
usage = resource.getrusage(resource.RUSAGE_SELF)
out["cpu_s"] = round(usage.ru_utime + usage.ru_stime - cpu0, 2)
print("RESULT " + json.dumps(out))
"""


def child(code: str, landing: str, mode: str, memory_limit: str = "") -> dict:
    with tempfile.TemporaryDirectory(prefix="ingest-vs-floor-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, code, landing, str(Path(tmp) / "w.duckdb"), mode,
             memory_limit],
            capture_output=True, text=True,
        )
    if proc.returncode:
        raise SystemExit(f"{mode} with {code} failed:\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--landing", required=True)
    p.add_argument("--code", action="append", default=[],
                   help="NAME=checkout (default: this=the checkout of this script)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--memory-limit", default="",
                   help="DuckDB memory_limit of the floor and the ingest (e.g. 8GB)")
    p.add_argument("--out", type=Path, default=Path("bench/results/ingest_vs_floor.json"))
    args = p.parse_args()
    codes = dict(c.split("=", 1) for c in args.code) or {
        "this": str(Path(__file__).resolve().parents[1])}
    rounds = []
    for r in range(args.rounds):
        entry: dict = {"load_average": list(os.getloadavg())}
        entry["floor"] = child(next(iter(codes.values())), args.landing, "floor",
                               args.memory_limit)
        for name, code in codes.items():
            entry[name] = child(code, args.landing, "ingest", args.memory_limit)
            entry[name]["ratio_to_floor"] = round(
                (entry[name]["lines"] / entry[name]["s"])
                / (entry["floor"]["lines"] / entry["floor"]["s"]), 3)
            entry[name]["cpu_ratio_to_floor"] = round(
                (entry[name]["lines"] / entry[name]["cpu_s"])
                / (entry["floor"]["lines"] / entry["floor"]["cpu_s"]), 3)
        print(f"round {r + 1}: floor {entry['floor']['s']:.1f} s "
              f"({entry['floor']['cpu_s']:.1f} CPU s); " + "; ".join(
            f"{n} {entry[n]['s']:.1f} s ({entry[n]['cpu_s']:.1f} CPU s) ratio "
            f"{entry[n]['ratio_to_floor']} (CPU {entry[n]['cpu_ratio_to_floor']})"
            for n in codes),
            flush=True)
        rounds.append(entry)
    summary = {n: {"median_s": statistics.median(e[n]["s"] for e in rounds),
                   "median_cpu_s": statistics.median(e[n]["cpu_s"] for e in rounds),
                   "median_ratio": statistics.median(e[n]["ratio_to_floor"] for e in rounds),
                   "median_cpu_ratio": statistics.median(
                       e[n]["cpu_ratio_to_floor"] for e in rounds)}
               for n in codes}
    summary["floor"] = {"median_s": statistics.median(e["floor"]["s"] for e in rounds),
                        "median_cpu_s": statistics.median(e["floor"]["cpu_s"] for e in rounds)}
    report = {"command": " ".join(sys.argv), "landing": args.landing,
              "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
              "cpus": os.cpu_count(), "summary": summary, "rounds": rounds}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
