"""Plumbing of the Spark tests: prerequisites, a small generated warehouse, the CLI's
dbt and export-raw commands in subprocesses (each Spark build starts its own JVM, as a
user's would), and reading the Spark tables back."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from ingest.batch import load_entity_days
from ingest.landing import landing_entities
from ingest.loader import ensure_schema
from tests.prerequisites import missing
from warehouse.db import connect

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]


def require_spark() -> None:
    """Skip (locally) or fail (CI=true) when Java or the spark extra is missing."""
    if shutil.which("java") is None:
        missing("no Java runtime (`apt-get install openjdk-17-jre-headless`): "
                "the Spark tests need one")
    for module in ("pyspark", "dbt.adapters.spark"):
        if importlib.util.find_spec(module) is None:
            missing(f"{module} is not installed (`pip install -e \".[spark]\"`)")


def spark_env(data: Path) -> dict[str, str]:
    """Environment of the CLI on the data folder ``data``, with a private Spark folder."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("INSIGHTS_", "PYSPARK", "SPARK_"))}
    env.update({
        "PYTHONPATH": str(ROOT),
        "INSIGHTS_LANDING_DIR": str(data / "landing"),
        "INSIGHTS_WAREHOUSE": str(data / "warehouse.duckdb"),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "INSIGHTS_REPORTS_DIR": str(data / "reports"),
        "INSIGHTS_SERVING_DB": str(data / "serving.duckdb"),
        "INSIGHTS_SPARK_DIR": str(data / "spark"),
        # small data: Spark's cost is per statement; the small-data session
        # (docs/scale_out.md) cuts it. The session method runs one dbt thread.
        "INSIGHTS_SPARK_SMALL_DATA": "true",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    })
    if "INSIGHTS_SETTINGS" in os.environ:
        env["INSIGHTS_SETTINGS"] = os.environ["INSIGHTS_SETTINGS"]
    return env


def insights(env: dict[str, str], *args: str, cwd: Path) -> float:
    """``insights <args>`` (python -m orchestration) in a subprocess; asserts exit 0 and
    returns the seconds it took."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "orchestration", *args], env=env,
                          cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, (
        f"insights {' '.join(args)} exited {proc.returncode}\n"
        f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    log.info("insights %s: %.1f s", " ".join(args), seconds)
    return seconds


def load_days(warehouse: Path, landing: Path, days: Sequence[date]) -> None:
    """Load complete export days of every entity with the ingest (no Dagster run)."""
    con = connect(warehouse)
    try:
        ensure_schema(con)
        for entity in landing_entities():
            batch = load_entity_days(con, landing, entity, list(days), info=log.debug)
            assert not batch.failed_messages, batch.failed_messages
    finally:
        con.close()


def spark_tables(spark_dir: Path, schemas: Sequence[str]) -> dict[str, Path]:
    """``schema.table`` -> the folder of each table dbt built in the local Spark warehouse
    (``<schema>.db/<table>``, Parquet)."""
    out: dict[str, Path] = {}
    for schema in schemas:
        base = spark_dir / "warehouse" / f"{schema}.db"
        if base.is_dir():
            for folder in sorted(base.iterdir()):
                if folder.is_dir() and not folder.name.startswith((".", "_")):
                    out[f"{schema}.{folder.name}"] = folder
    return out
