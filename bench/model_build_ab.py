"""One dbt model's full build under two (or more) checkouts, interleaved, on copies of one
warehouse: the node's seconds per checkout and whether their tables are equal.

    python bench/model_build_ab.py SOURCE.duckdb --model events \
        --code before=/path/to/worktree --code after=/path/to/checkout [--rounds 3] \
        [--schema marts] [--var NAME=JSON ...] [--also MODEL ...] [--out result.json]

SOURCE holds the model's inputs (``bench/batch_build.py prepare`` builds one with
``stg_events`` and its upstream models). Each round copies SOURCE once per checkout
(``SOURCE_DIR/ab_<tag>.duckdb``) and runs ``dbt run --select MODEL --full-refresh`` with
that checkout's dbt project and its Python code (``PYTHONPATH``), the settings' dbt vars
of the first checkout (``--var`` overrides one, its value JSON: ``duckdb_batch_events=500000``),
in its own target folder; the node's time is dbt's
``execution_time``. ``--also`` builds more models in the same run (a model one
checkout splits into an intermediate and the model: ``--model path_edges --also
int_path_user_edges``); the time is then the sum over the selected nodes a checkout has.
The last round's tables are compared with the first checkout's
(``EXCEPT ALL`` both ways).
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
from pathlib import Path
from typing import Any

from harness import tables_differ

log = logging.getLogger("model_build_ab")


def _build(source: Path, tag: str, code: Path, models: list[str],
           dbt_vars: dict[str, Any]) -> float:
    """The models' full build on a fresh copy of ``source`` with ``code``: the seconds of
    the nodes the checkout has (dbt warns of a selected model it lacks)."""
    warehouse = source.with_name(f"ab_{tag}.duckdb")
    shutil.copy(source, warehouse)
    project, work = code / "dbt_project", source.with_name(f"ab_work_{tag}")
    env = {**os.environ, "INSIGHTS_WAREHOUSE": str(warehouse), "PYTHONPATH": str(code),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "run", "--select", *models, "--full-refresh",
         "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
         "--vars", json.dumps(dbt_vars), "--quiet"],
        env=env, check=True)
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return sum(r["execution_time"] for r in results
               if r["unique_id"].rsplit(".", 1)[-1] in models)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--schema", default="marts", help="the model's schema")
    parser.add_argument("--code", action="append", required=True, help="TAG=CHECKOUT")
    parser.add_argument("--var", action="append", default=[], help="NAME=JSON: a dbt var")
    parser.add_argument("--also", action="append", default=[],
                        help="another model built in the same run, its time added")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    codes = dict(c.split("=", 1) for c in args.code)
    first = next(iter(codes.values()))
    sys.path.insert(0, first)
    from warehouse.settings import load_settings

    dbt_vars = load_settings().dbt_vars()
    for item in args.var:
        name, value = item.split("=", 1)
        dbt_vars[name] = json.loads(value)
    source = args.source.resolve()
    node_s: dict[str, list[float]] = {tag: [] for tag in codes}
    for round_no in range(args.rounds):
        for tag, code in codes.items():
            node_s[tag].append(_build(source, tag, Path(code).resolve(),
                                       [args.model, *args.also], dbt_vars))
            log.info("round %d, %s: %s %.2f s", round_no + 1, tag, args.model, node_s[tag][-1])
    tags = list(codes)
    table = f"{args.schema}.{args.model}"
    differ = {tag: tables_differ(source.with_name(f"ab_{tags[0]}.duckdb"),
                           source.with_name(f"ab_{tag}.duckdb"), table) for tag in tags[1:]}
    result = {"model": args.model, "also": args.also, "source": str(source), "codes": codes,
              "vars": args.var,
              "node_s": node_s, "median_s": {t: statistics.median(v) for t, v in node_s.items()},
              f"rows_differing_from_{tags[0]}": differ}
    log.info("%s", json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
