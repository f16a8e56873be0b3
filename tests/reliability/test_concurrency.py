"""Two runs at once, a sensor tick during a run: one run proceeds, nothing interleaves.

`insights run` holds the warehouse's run lock for the whole run; a second run refuses
with exit code 4 and names the run in progress (or waits, with --wait); the landing
sensor skips its tick while the lock is held and keeps its cursor.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.resources import LandingResource, WarehouseResource
from orchestration.sensors import landing_sensor
from warehouse.locking import RunInProgressError, run_in_progress, run_lock

from ..conftest import demo_env


def test_run_lock_refuses_at_once_or_waits_for_the_run_in_progress(tmp_path: Path):
    warehouse = tmp_path / "warehouse.duckdb"
    assert run_in_progress(warehouse) is None
    with run_lock(warehouse, holder="first run"):
        assert "first run" in (run_in_progress(warehouse) or "")
        with pytest.raises(RunInProgressError, match="first run"), run_lock(warehouse):
            pass
    assert run_in_progress(warehouse) is None

    released = threading.Event()

    def hold_for_a_second() -> None:
        with run_lock(warehouse, holder="short run"):
            ready.set()
            time.sleep(1.0)
        released.set()

    ready = threading.Event()
    holder = threading.Thread(target=hold_for_a_second)
    holder.start()
    ready.wait(5)
    started = time.monotonic()
    with run_lock(warehouse, wait_s=30, holder="queued run", poll_s=0.05):
        assert released.is_set()
        assert time.monotonic() - started >= 0.5
    holder.join()


def test_cli_run_refuses_while_another_run_holds_the_warehouse(data_dir: Path):
    warehouse = data_dir / "warehouse.duckdb"
    runner = CliRunner()
    with run_lock(warehouse, holder="insights run, started by the test"):
        result = runner.invoke(app, ["run"])
        assert result.exit_code == 4, result.output
        assert "another run is in progress" in result.output
        assert "started by the test" in result.output
        started = time.monotonic()
        waited = runner.invoke(app, ["run", "--wait", "1"])
        assert waited.exit_code == 4
        assert time.monotonic() - started >= 1.0
        assert "waited 1 s" in waited.output
        demo = runner.invoke(app, ["demo", "--users", "5", "--days", "2"])
        assert demo.exit_code == 4
    # the refused commands touched nothing: no warehouse, and the landing folder the
    # demo would have cleaned is as it was
    assert not warehouse.exists()
    assert list((data_dir / "landing").iterdir()) == []


def _counts(warehouse: Path) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            "current": con.execute(
                "SELECT count(*) FROM raw.events WHERE is_current"
            ).fetchone()[0],
            "distinct": con.execute(
                "SELECT count(DISTINCT event_id) FROM raw.events WHERE is_current"
            ).fetchone()[0],
            "audit_loaded": con.execute(
                "SELECT coalesce(sum(loaded), 0) FROM raw.load_audit WHERE entity = 'events'"
            ).fetchone()[0],
            "audit_rows": con.execute(
                "SELECT count(*) FROM raw.load_audit WHERE entity = 'events'"
            ).fetchone()[0],
            "mart_rows": con.execute("SELECT count(*) FROM marts.engagement_daily").fetchone()[0],
        }
    finally:
        con.close()


def test_two_runs_started_at_once_one_runs_and_the_other_refuses(tmp_path: Path):
    data = tmp_path / "data"
    env = {**os.environ, **demo_env(data)}
    gen = subprocess.run(
        [sys.executable, "-m", "orchestration", "generate", "--users", "40", "--days", "3",
         "--no-faults"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert gen.returncode == 0, gen.stderr
    cmd = [sys.executable, "-m", "orchestration", "run"]
    runs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
        for _ in range(2)
    ]
    # a sensor tick while the run is in progress: it skips and keeps its cursor
    warehouse = data / "warehouse.duckdb"
    # (generous: the run's start may share the cores with the suite's other worker)
    deadline = time.monotonic() + 300
    while run_in_progress(warehouse) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    ctx = dg.build_sensor_context(resources={
        "landing": LandingResource(path=str(data / "landing")),
        "warehouse": WarehouseResource(path=str(warehouse)),
    })
    ticks = list(landing_sensor(ctx))
    outputs = [p.communicate(timeout=900)[0] for p in runs]
    codes = sorted(p.returncode for p in runs)
    assert codes == [0, 4], outputs
    refused = outputs[[p.returncode for p in runs].index(4)]
    assert "another run is in progress" in refused and "insights run, started" in refused
    assert len(ticks) == 1 and isinstance(ticks[0], dg.SkipReason), ticks
    assert ctx.cursor is None

    # the winner's result is exactly what one run gives: every event once
    counts = _counts(warehouse)
    assert counts["current"] == counts["distinct"] == counts["audit_loaded"] > 0
    assert counts["audit_rows"] > 0 and counts["mart_rows"] > 0
