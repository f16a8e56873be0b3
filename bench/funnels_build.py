"""Funnel models at N events: version 2 (int_funnel_attempts and the four funnel marts)
against version 1's ``funnel_steps`` (the project at ``--baseline-ref``), and the pandas
reference of funnel_breakdowns and funnel_trends (bench/reference_pandas.py).

For each N: generate the sample (seed 1, 60 export days), load every complete export day
(the ingest assets' loader), build the models upstream of the funnels once, then time
(dbt's run_results, per node, median of ``--repeat`` builds, the three interleaved):

- ``v1``: the baseline project's ``funnel_steps`` with version 1's two funnels
  (conversation, learning), on a copy of the warehouse;
- ``v2_same_funnels``: this project's funnel nodes with the same two funnels;
- ``v2_shipped``: this project's funnel nodes with the shipped funnels (the two, plus the
  strict, any-order and session examples with their breakdowns and trends).

The ratio is v2 / v1 (target <= 2). Up to ``--pandas-max-events`` the pandas reference is
compared with the marts of the shipped funnels ('__all__' rows): ``mismatches`` must be 0.
Writes ``bench/results/funnels_build.json``.

    python bench/funnels_build.py --events 1000000 --events 10000000
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
import tempfile
from pathlib import Path
from typing import Any

import duckdb
from harness import machine, node_timings

from ingest.batch import load_entity_days
from ingest.landing import landing_entities, scan_landing
from ingest.loader import ensure_schema
from sample_exports import generate_exports
from warehouse.db import connect
from warehouse.settings import DBT_PROJECT_DIR, PROJECT_ROOT, load_settings

log = logging.getLogger("bench")
V1_FUNNELS = ("conversation", "learning")
FUNNEL_NODES = ("int_funnel_attempts", "funnel_time_to_convert", "funnel_steps",
                "funnel_breakdowns", "funnel_trends")


def _dbt(project: Path, warehouse: Path, workdir: Path, dbt_vars: dict, *args: str) -> Path:
    """``dbt <args>`` of ``project`` on ``warehouse`` in a child process (the baseline
    project has its own macros); returns the target folder."""
    target = workdir / f"target_{project.name}"
    env = {**os.environ, "INSIGHTS_WAREHOUSE": str(warehouse),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    cmd = [str(Path(sys.executable).with_name("dbt")), *args, "--project-dir", str(project),
           "--profiles-dir", str(project), "--target-path", str(target),
           "--log-path", str(workdir / "dbt_logs"), "--vars", json.dumps(dbt_vars),
           "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed: {done.stdout[-2000:]}"
                           f"{done.stderr[-2000:]}")
    return target


def _funnel_seconds(target: Path, nodes: tuple[str, ...]) -> dict[str, float]:
    times = dict(node_timings(target))
    return {n: round(times[n], 3) for n in nodes if n in times}


def _timed(configs: dict[str, tuple[Path, Path, dict, tuple[str, ...]]], workdir: Path,
           repeat: int) -> dict[str, dict[str, Any]]:
    """Each configuration (project, warehouse, vars, nodes) run ``repeat`` times, the
    configurations interleaved round by round, so that a change in the machine's load
    falls on all of them alike."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    for _ in range(repeat):
        for name, (project, warehouse, dbt_vars, nodes) in configs.items():
            target = _dbt(project, warehouse, workdir, dbt_vars, "run", "--select", *nodes)
            runs[name].append(_funnel_seconds(target, nodes))
    out = {}
    for name, got in runs.items():
        out[name] = {"seconds": round(statistics.median(sum(r.values()) for r in got), 3),
                     "per_node_s": {n: statistics.median(r[n] for r in got) for n in got[0]},
                     "runs_s": [round(sum(r.values()), 3) for r in got]}
    return out


def measure(n_events: int, workdir: Path, baseline: Path, repeat: int,
            pandas_max: int) -> dict[str, Any]:
    landing, warehouse = workdir / "landing", workdir / "wh.duckdb"
    summary = generate_exports(landing, seed=1, target_events=n_events, days=60)
    con = connect(warehouse)
    ensure_schema(con)
    days = sorted({d.export_date for d in scan_landing(landing) if d.complete})
    for entity in landing_entities():
        load_entity_days(con, landing, entity, days, info=log.debug)
    loaded = con.execute("SELECT count(*) FROM raw.events WHERE is_current").fetchall()[0][0]
    con.close()
    shipped = load_settings().dbt_vars()
    same = {**shipped, "funnels": [f for f in shipped["funnels"] if f["name"] in V1_FUNNELS]}
    upstream = ("+stg_events", "int_as_of_date", "int_coverage")
    _dbt(DBT_PROJECT_DIR, warehouse, workdir, shipped, "run", "--select", *upstream)
    base_wh = workdir / "base.duckdb"
    shutil.copy(warehouse, base_wh)
    log.info("%s events loaded; timing", loaded)
    timed = _timed({
        "v1": (baseline, base_wh, same, ("funnel_steps",)),
        "v2_same": (DBT_PROJECT_DIR, warehouse, same, FUNNEL_NODES),
        "v2_shipped": (DBT_PROJECT_DIR, warehouse, shipped, FUNNEL_NODES),
    }, workdir, repeat)
    base_wh.unlink()
    v1, v2_same, v2_shipped = timed["v1"], timed["v2_same"], timed["v2_shipped"]
    out: dict[str, Any] = {
        "target_events": n_events, "events_written": summary.events_written,
        "events_current": loaded, "v1_funnel_steps": v1, "v2_same_funnels": v2_same,
        "v2_shipped_funnels": v2_shipped,
        "ratio_same_funnels": round(v2_same["seconds"] / v1["seconds"], 2),
        "ratio_shipped_funnels": round(v2_shipped["seconds"] / v1["seconds"], 2),
    }
    if n_events <= pandas_max:
        sys.path.insert(0, str(Path(__file__).parent))
        import reference_pandas

        ro = duckdb.connect(str(warehouse), read_only=True)
        ro.execute("SET TimeZone = 'UTC'")
        try:
            compared = reference_pandas.compare_funnels(ro, shipped)
        finally:
            ro.close()
        out["pandas_reference"] = {
            "compute_s": compared["compute_s"], "mismatches": compared["mismatches"],
            **{name: {k: r[k] for k in ("rows_reference", "rows_mart", "mismatches")}
               for name, r in compared["marts"].items()}}
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", required=True)
    parser.add_argument("--baseline-ref", default="3763091",
                        help="git commit of version 1's funnel_steps")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pandas-max-events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for n in args.events:
        workdir = Path(tempfile.mkdtemp(prefix=f"insights-funnels-{n}-"))
        baseline = workdir / "baseline" / "dbt_project"
        try:
            archive = subprocess.run(
                ["git", "-C", str(PROJECT_ROOT), "archive", args.baseline_ref, "dbt_project"],
                capture_output=True, check=True).stdout
            baseline.parent.mkdir(parents=True)
            subprocess.run(["tar", "-x", "-C", str(baseline.parent)], input=archive,
                           check=True)
            rows.append(measure(n, workdir, baseline, args.repeat, args.pandas_max_events))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        log.info("%s", json.dumps(rows[-1], default=str))
        report = {"machine": machine(), "command": " ".join(["python", *sys.argv]),
                  "baseline_ref": args.baseline_ref, "results": rows}
        (args.out / "funnels_build.json").write_text(
            json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
