"""bench/pipeline.py judges the 50 M memory target from the run's own settings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pipeline():
    spec = importlib.util.spec_from_file_location("bench_pipeline", REPO / "bench" / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(events: int, stages: tuple[str, ...]) -> dict:
    return {"target_events": events, "floor": {"ratio_ingest_to_floor": 0.1},
            "incremental": {"share_of_full": 0.1}, "end_to_end_peak_rss_mib": 8000.0,
            "stages": {s: {} for s in stages}}


def test_memory_limits_read_in_gib() -> None:
    gib = _pipeline()._gib
    assert abs(gib("8GB") - 8e9 / 2**30) < 1e-9  # DuckDB: GB = 1000^3
    assert gib("8GiB") == 8.0
    assert gib("500MB") < 1 and gib(None) is None and gib("lots") is None


def test_the_50m_target_needs_every_stage_under_an_8_gib_limit() -> None:
    p = _pipeline()
    spill = {"memory_limit": "8GB", "temp_directory": "/spill"}

    def target(rows: list[dict], duck: dict | None) -> dict:
        return next(t for t in p._targets(rows, duck) if t["target"].startswith("50M"))

    assert target([_row(50_000_000, p.STAGES)], spill)["met"] is True
    assert target([_row(50_000_000, p.STAGES[:3])], spill)["met"] is False
    assert target([_row(50_000_000, p.STAGES)], {"memory_limit": "16GB"})["met"] is None
    assert target([_row(50_000_000, p.STAGES)], None)["met"] is None
    assert target([_row(1_000_000, p.STAGES)], spill)["met"] is None
