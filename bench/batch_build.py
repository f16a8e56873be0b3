"""The funnel attempts built in batches of users against one statement: time, peak memory
and the same rows (macros/user_batches.sql, setting ``duckdb.batch_events``).

    python bench/batch_build.py prepare ROOT [--events N]
    python bench/batch_build.py run ROOT [--batch-events N ...] [--repeat K]

``prepare`` generates a landing in ROOT (seed 1, 60 export days; kept when there), loads
every complete export day and builds the models the funnel attempts read
(ROOT/upstream.duckdb). ``run`` builds ``int_funnel_attempts`` from scratch
(``--full-refresh``) on a copy of it once per value of ``--batch-events`` (``none``: one
statement), the values interleaved round by round, each build a ``dbt run`` in its own
process (its peak RSS is that process's); the tables of every value are compared with
the first's (``EXCEPT ALL`` both ways). Writes ROOT/batch_build.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
from harness import load_days, machine, node_timings, tables_differ

log = logging.getLogger("batch_build")
UPSTREAM = ("+stg_events", "+int_as_of_date", "+int_coverage", "+int_sessions")
TABLE = "intermediate.int_funnel_attempts"


def _dbt(warehouse: Path, workdir: Path, dbt_vars: dict, *args: str) -> tuple[Path, float, float]:
    """``dbt <args>`` in a child process; (target folder, wall seconds, peak RSS MiB)."""
    from warehouse.settings import DBT_PROJECT_DIR

    target = workdir / "target"
    env = {**os.environ, "INSIGHTS_WAREHOUSE": str(warehouse),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    cmd = [str(Path(sys.executable).with_name("dbt")), *args,
           "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(target), "--log-path", str(workdir / "logs"),
           "--vars", json.dumps(dbt_vars), "--quiet"]
    log_file = workdir / "dbt_stdout.txt"
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with log_file.open("w") as out:
        child = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        # this child's own rusage: its peak RSS alone (RUSAGE_CHILDREN keeps the maximum)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if child.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed: {log_file.read_text()[-3000:]}")
    peak = usage.ru_maxrss
    return target, wall, peak / 1024


def prepare(root: Path, n_events: int) -> None:
    from ingest.landing import scan_landing
    from sample_exports import generate_exports
    from warehouse.settings import load_settings

    root.mkdir(parents=True, exist_ok=True)
    landing, warehouse = root / "landing", root / "upstream.duckdb"
    if not landing.exists():
        generate_exports(landing, seed=1, target_events=n_events, days=60)
    warehouse.unlink(missing_ok=True)
    load_days(warehouse, landing, sorted({d.export_date for d in scan_landing(landing)
                                          if d.complete}))
    _dbt(warehouse, root / "work_prepare", load_settings().dbt_vars(), "run", "--select", *UPSTREAM)
    log.info("prepared %s", warehouse)


def run(root: Path, values: list[int | None], repeat: int) -> dict[str, Any]:
    from warehouse.settings import load_settings

    base = load_settings().dbt_vars()
    source = root / "upstream.duckdb"
    runs: dict[str, list[dict[str, float]]] = {str(v): [] for v in values}
    for round_no in range(repeat):
        for value in values:
            name = str(value)
            warehouse = root / f"build_{name}.duckdb"  # one path per value: dbt's partial parse
            shutil.copy(source, warehouse)
            target, wall, peak = _dbt(warehouse, root / f"work_{name}",
                                      {**base, "duckdb_batch_events": value},
                                      "run", "--select", "int_funnel_attempts", "--full-refresh")
            node = dict(node_timings(target))["int_funnel_attempts"]
            runs[name].append({"node_s": node, "wall_s": wall, "peak_mib": peak})
            log.info("round %d, batch_events %s: node %.1f s, dbt %.1f s, peak %.0f MiB",
                     round_no + 1, name, node, wall, peak)
    first = root / f"build_{values[0]}.duckdb"
    rows = duckdb.connect(str(first), read_only=True).execute(
        f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    out: dict[str, Any] = {"rows": rows, "values": {}}
    for value in values:
        got = runs[str(value)]
        out["values"][str(value)] = {
            "node_s": statistics.median(r["node_s"] for r in got),
            "peak_mib": round(max(r["peak_mib"] for r in got)),
            "runs": got,
            "rows_differing_from_first": (
                None if value == values[0]
                else tables_differ(first, root / f"build_{value}.duckdb", TABLE)),
        }
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("root", type=Path)
    p.add_argument("--events", type=int, default=10_000_000)
    r = sub.add_parser("run")
    r.add_argument("root", type=Path)
    r.add_argument("--batch-events", action="append",
                   help="events a batch (repeat; 'none': one statement); default none, 2500000")
    r.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.root, args.events)
        return
    values = [None if v.lower() == "none" else int(v)
              for v in (args.batch_events or ["none", "2500000"])]
    result = run(args.root, values, args.repeat)
    report = {"machine": machine(), "command": " ".join(["python", *sys.argv]), **result}
    (args.root / "batch_build.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    log.info("%s", json.dumps(result["values"], default=str))


if __name__ == "__main__":
    main()
