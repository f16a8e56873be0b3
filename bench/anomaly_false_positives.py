"""False-positive rate of the metric anomaly detector on clean series of the demo's size.

For each demo-sized series shape (sample_exports/series.py) and seed, a clean series of a
year plus the look-back is generated; the detector runs as the daily job does (the last
``anomaly_lookback_days`` days as of each day of the year) and the as-of day's severity is
counted (that is the day alerts judge and insights report first). Also counted: the days
flagged medium or worse by any run (a day stays in the window for the look-back). Writes
``bench/results/anomaly_false_positives.json``.

    python bench/anomaly_false_positives.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from models_ml import anomalies
from sample_exports.series import DEMO_SHAPES, SeriesShape, clean
from warehouse.settings import MLSettings

log = logging.getLogger("bench.anomaly_false_positives")
OUT = Path(__file__).parent / "results" / "anomaly_false_positives.json"
YEAR = 365


def year_of_runs(shape: SeriesShape, seed: int, lookback: int, threshold: float,
                 step: int = 1) -> dict[str, int]:
    """Severities of the as-of day over a year of daily runs, and the days flagged medium
    or worse by any run."""
    gen = np.random.default_rng(seed)
    y = clean(shape, lookback + YEAR, gen)
    dates = pd.date_range("2025-01-06", periods=len(y), freq="D")
    volume = np.full(len(y), shape.volume) if shape.unit == "rate" else None
    as_of_counts = {"low": 0, "medium": 0, "high": 0}
    flagged: set[int] = set()
    for end in range(lookback, len(y) + 1, step):
        lo = end - lookback
        res = anomalies.series_anomalies(
            dates[lo:end], y[lo:end], threshold, unit=shape.unit,
            volume=None if volume is None else volume[lo:end])
        last = str(res["severity"].iloc[-1])
        if last in as_of_counts:
            as_of_counts[last] += 1
        flagged |= {lo + int(i) for i in np.flatnonzero(
            res["severity"].isin(["medium", "high"]).to_numpy())}
    return {**{f"as_of_{k}": v for k, v in as_of_counts.items()},
            "days_medium_or_worse_any_run": len(flagged), "runs": len(range(lookback,
                                                                            len(y) + 1, step))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = MLSettings()
    results: dict[str, dict] = {}
    for shape in DEMO_SHAPES:
        runs = [year_of_runs(shape, seed, cfg.anomaly_lookback_days, cfg.anomaly_threshold)
                for seed in range(args.seeds)]
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        results[shape.name] = {"unit": shape.unit, "level": shape.level,
                               "noise": shape.noise, "seeds": args.seeds, "per_year": mean}
        log.info("%-20s as-of low %.1f medium %.1f high %.1f; days medium+ in any run %.1f",
                 shape.name, mean["as_of_low"], mean["as_of_medium"], mean["as_of_high"],
                 mean["days_medium_or_worse_any_run"])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"threshold": cfg.anomaly_threshold,
                               "lookback_days": cfg.anomaly_lookback_days,
                               "series": results}, indent=2) + "\n")
    log.info("wrote %s", OUT)


if __name__ == "__main__":
    main()
