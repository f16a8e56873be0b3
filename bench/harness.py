"""What every benchmark script shares: sizes from the command line, a fresh temporary
folder per size, and a JSON report with the machine it ran on."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("bench")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def run_sizes(
    doc: str,
    measure: Callable[[int, Path], dict],
    *,
    report_name: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """``--events N`` (repeatable) and ``--out DIR``; ``measure(n, workdir)`` per size.
    The report is rewritten after each size, so a long run keeps what it measured."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", required=True)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for n in args.events:
        workdir = Path(tempfile.mkdtemp(prefix=f"insights-bench-{n}-"))
        try:
            rows.append(measure(n, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        log.info("%s", json.dumps(rows[-1], default=str))
        report = {"machine": machine(), **(extra or {}), "results": rows}
        (args.out / report_name).write_text(json.dumps(report, indent=2, default=str) + "\n")
    log.info("wrote %s", args.out / report_name)


def dbt_build(
    warehouse: Path, workdir: Path, dbt_vars: dict, *, tests: bool = False,
    extra: tuple[str, ...] = (),
) -> Path:
    """``dbt build`` of the project on ``warehouse`` (models and seeds; with their tests
    when ``tests``), as the Dagster dbt assets run it. Returns dbt's target folder."""
    from dbt.cli.main import dbtRunner

    from orchestration.dbt_args import build_args
    from orchestration.settings import DBT_PROJECT_DIR

    os.environ["INSIGHTS_WAREHOUSE"] = str(warehouse)
    target = workdir / "dbt_target"
    args = [*build_args(dbt_vars), "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
            "--log-path", str(workdir / "dbt_logs"), "--quiet", *extra]
    if not tests:
        args += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    result = dbtRunner().invoke(args)
    if not result.success:
        raise RuntimeError(f"dbt build failed: {result.exception}")
    return target


def node_timings(target: Path, kinds: tuple[str, ...] = ("model",)) -> list[tuple[str, float]]:
    """(node name, seconds) of the nodes of ``kinds`` (model, seed, test, unit_test) in the
    last dbt invocation's run_results.json, slowest first."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    rows = [(r["unique_id"].split(".", 2)[-1], float(r["execution_time"])) for r in results
            if r["unique_id"].split(".", 1)[0] in kinds]
    return sorted(rows, key=lambda r: -r[1])
