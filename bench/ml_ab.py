"""ML steps of two or more checkouts side by side, on copies of one built warehouse.

Each round runs every checkout once, in that order, each in a child process of its own
(the checkout's code and settings file on ``sys.path``), on a fresh copy of the
warehouse: the steps named by ``--steps`` (functions of ``models_ml.pipeline``; ``train_models``
is forced), each timed. ``--forecast-week`` instead runs ``forecast_engagement`` with the
as-of date set back 7 days, then at the as-of date, then again at it (a daily run a week
after the last, then a rerun the same day), printing the fits reused: what the forecast
fit store (ops.forecast_fits) saves a daily run, which a single pipeline run cannot show.

    python bench/ml_ab.py --warehouse W --code before=DIR --code after=DIR \
        --steps train_models,score_churn,engagement_drivers --rounds 2 --out FILE.json
    python bench/ml_ab.py --warehouse W --code before=DIR --code after=DIR --forecast-week
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import machine

CHILD = r"""
import json, sys, time
from datetime import timedelta
code, warehouse, steps, week = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4] == "1"
sys.path[:0] = [code, code + "/bench"]
from pathlib import Path
from harness import connect_warehouse
from models_ml import pipeline
from warehouse.settings import load_settings

def main():
    settings = load_settings()
    cfg = settings.ml
    con = connect_warehouse(Path(warehouse))
    out = {}
    with pipeline.compute_threads(cfg.threads):
        if week:
            (as_of,) = con.execute("select as_of_date from intermediate.int_as_of_date").fetchone()
            for label, back in (("week_before", 7), ("as_of", 0), ("as_of_again", 0)):
                con.execute("update intermediate.int_as_of_date set as_of_date = ?",
                            [as_of - timedelta(days=back)])
                started = time.perf_counter()
                m = pipeline.forecast_engagement(con, cfg)
                out[label] = {"s": round(time.perf_counter() - started, 2),
                              "series": m["series"], "fits": m.get("fits"),
                              "fits_reused": m.get("fits_reused")}
        else:
            for name in steps:
                args = (True,) if name == "train_models" else ()
                started = time.perf_counter()
                getattr(pipeline, name)(con, cfg, *args)
                out[name] = round(time.perf_counter() - started, 2)
    print(json.dumps(out))

if __name__ == "__main__":
    main()
"""


def run_child(code: Path, warehouse: Path, steps: str, week: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ml-ab-") as tmp:
        copy = Path(tmp) / "warehouse.duckdb"
        shutil.copy(warehouse, copy)
        done = subprocess.run([sys.executable, "-c", CHILD, str(code), str(copy), steps,
                               "1" if week else "0"], capture_output=True, text=True,
                              check=False)
    if done.returncode:
        raise RuntimeError(f"{code}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--code", action="append", required=True, help="LABEL=DIR")
    parser.add_argument("--steps", default="train_models,score_churn,engagement_drivers")
    parser.add_argument("--forecast-week", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    codes = [(label, Path(path)) for label, path in (c.split("=", 1) for c in args.code)]
    report: dict[str, Any] = {"command": " ".join(sys.argv), "machine": machine(),
                              "runs": []}
    for round_no in range(1, args.rounds + 1):
        for label, code in codes:
            result = run_child(code, args.warehouse, args.steps, args.forecast_week)
            report["runs"].append({"round": round_no, "code": label, **result})
            print(json.dumps(report["runs"][-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
