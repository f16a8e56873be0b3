"""Per-day cost of the event load, from a result of ``bench/ingest_vs_floor.py``.

    python bench/ingest_day_curve.py bench/results/issue23_ingest_vs_floor_50m.json \
        --landing /path/to/landing

Seconds per export day say little alone when days differ in size (a generated landing grows
its users over time), so each day's seconds are divided by the events the generator wrote
for that export day (``events_by_export_day`` of the landing's ``_generator_manifest.json``).
A load whose cost per day grew with the table already loaded would show a rising cost per
million events from the first third of the days to the last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def day_seconds(commit_stamps: list[float]) -> list[float]:
    """Seconds between one day's commit and the previous one (the first from the start)."""
    return [b - a for a, b in zip([0.0, *commit_stamps[:-1]], commit_stamps, strict=True)]


def thirds(values: list[float]) -> tuple[float, float, float]:
    """Medians of the first, middle and last third of ``values``."""
    t = len(values) // 3
    return (statistics.median(values[:t]), statistics.median(values[t:2 * t]),
            statistics.median(values[2 * t:]))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("result", type=Path)
    ap.add_argument("--landing", type=Path, required=True)
    args = ap.parse_args(argv)
    result = json.loads(args.result.read_text())
    manifest = json.loads((args.landing / "_generator_manifest.json").read_text())
    load = result["rounds"][0]["this"]
    seconds = day_seconds(load["day_commit_s"])
    days = sorted(manifest["events_by_export_day"])[:len(seconds)]
    millions = [manifest["events_by_export_day"][d] / 1e6 for d in days]
    per_million = [s / m for s, m in zip(seconds, millions, strict=True)]
    out = sys.stdout
    out.write(f"{len(days)} days, {sum(millions):.1f} M events, load {load['s']:.0f} s\n")
    out.write("| | first third | middle third | last third |\n|---|---:|---:|---:|\n")
    for name, values in (("seconds per day", seconds), ("M events per day", millions),
                         ("seconds per M events", per_million)):
        out.write(f"| {name} | " + " | ".join(f"{v:.2f}" for v in thirds(values)) + " |\n")
    out.write("\n| export day | s | M events | s per M |\n|---|---:|---:|---:|\n")
    for d, s, m, r in zip(days, seconds, millions, per_million, strict=True):
        out.write(f"| {d} | {s:.1f} | {m:.2f} | {r:.2f} |\n")


if __name__ == "__main__":
    main()
