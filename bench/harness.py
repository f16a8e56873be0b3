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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("bench")


def machine() -> dict[str, Any]:
    """Cores, memory (/proc/meminfo), platform, Python and DuckDB versions, load average."""
    import duckdb

    info: dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version(), "duckdb": duckdb.__version__}
    try:
        meminfo = dict(line.split(":", 1) for line in
                       Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        info["memory_gib"] = round(int(meminfo["MemTotal"].split()[0]) / 2**20, 1)
    except (OSError, KeyError, ValueError):
        pass
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def connect_warehouse(path: Path):
    """A read-write connection to ``path`` with the ``duckdb:`` limits of the settings
    file in force, as the Dagster warehouse resource opens it (``WarehouseResource.writer``)."""
    from warehouse.db import connect
    from warehouse.settings import load_settings

    limits = load_settings().duckdb
    return connect(path, threads=limits.threads, memory_limit=limits.memory_limit,
                   temp_directory=limits.temp_directory)


def load_days(warehouse: Path, landing: Path, days: list) -> None:
    """Every entity's export ``days`` of ``landing`` into ``warehouse`` (the ingest
    assets' loader, on a connection with the settings' limits)."""
    from ingest.batch import load_entity_days
    from ingest.landing import landing_entities
    from ingest.loader import ensure_schema

    con = connect_warehouse(warehouse)
    try:
        ensure_schema(con)
        for entity in landing_entities():
            load_entity_days(con, landing, entity, days, info=logging.getLogger("bench").debug)
    finally:
        con.close()


DUCKDB_SETTING_NAMES = ("threads", "memory_limit", "temp_directory")


def duckdb_settings(con) -> dict[str, str]:
    """The values of DUCKDB_SETTING_NAMES in force on ``con``."""
    return {name: str(con.execute(f"SELECT current_setting('{name}')").fetchone()[0])
            for name in DUCKDB_SETTING_NAMES}


def timed(out: dict[str, float], name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, its wall seconds stored in ``out[name]``."""
    t0 = time.perf_counter()
    value = fn(*args)
    out[name] = round(time.perf_counter() - t0, 2)
    log.info("%s: %.1f s  %s", name, out[name], str(value)[:200])
    return value


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


def vm_rss_mib() -> float:
    """This process's current resident memory (VmRSS of /proc/self/status), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def dbt_build(
    warehouse: Path, workdir: Path, dbt_vars: dict, *, tests: bool = False,
    extra: tuple[str, ...] = (), only_tests: bool = False,
) -> Path:
    """``dbt build`` of the project on ``warehouse`` (models and seeds; with their tests
    when ``tests``), as the Dagster dbt assets run it. Returns dbt's target folder.
    ``only_tests`` runs the data tests alone (on models already built); the pipeline's
    builds leave out dbt unit tests (they run in the test suite), so does this."""
    from dbt.cli.main import dbtRunner

    from orchestration.dbt_args import build_args
    from warehouse.settings import DBT_PROJECT_DIR, export_duckdb_env, load_settings

    os.environ["INSIGHTS_WAREHOUSE"] = str(warehouse)
    # As the Dagster dbt asset does: profiles.yml reads the duckdb: limits from these.
    export_duckdb_env(load_settings().duckdb)
    target = workdir / "dbt_target"
    args = [*build_args(dbt_vars), "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
            "--log-path", str(workdir / "dbt_logs"), "--quiet", *extra]
    if only_tests:
        args += ["--resource-type", "test"]
    elif not tests:
        args += ["--exclude-resource-type", "test"]
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


def tables_differ(a: Path, b: Path, table: str) -> list[int]:
    """Rows of ``table`` in warehouse ``a`` not in ``b``, and in ``b`` not in ``a``
    (``EXCEPT ALL`` both ways)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        return [con.execute(f"SELECT count(*) FROM (SELECT * FROM {x}.{table} EXCEPT ALL "
                            f"SELECT * FROM {y}.{table})").fetchone()[0]
                for x, y in (("a", "b"), ("b", "a"))]
    finally:
        con.close()


def dbt_show(warehouse: Path, workdir: Path, sql: str) -> list[dict]:
    """Rows of ``sql`` run by ``dbt show --inline`` on ``warehouse``: a query on dbt's own
    connection (the settings of profiles.yml in force)."""
    from dbt.cli.main import dbtRunner

    from warehouse.settings import DBT_PROJECT_DIR, export_duckdb_env, load_settings

    os.environ["INSIGHTS_WAREHOUSE"] = str(warehouse)
    export_duckdb_env(load_settings().duckdb)
    result = dbtRunner().invoke([
        "show", "--inline", sql, "--output", "json", "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(workdir / "dbt_target"),
        "--log-path", str(workdir / "dbt_logs"), "--quiet", "--vars",
        json.dumps(load_settings().dbt_vars(), sort_keys=True, default=str)])
    if not result.success:
        raise RuntimeError(f"dbt show failed: {result.exception}")
    return [dict(row) for row in result.result.results[0].agate_table.rows] if hasattr(
        result.result.results[0], "agate_table") else []


# The steps of the Dagster asset checks and ML assets, shared by the benchmark scripts.

def raw_checks(con, days, cfg) -> int:
    """The raw asset checks of ``days``: the contract suite of every entity, the volume
    suite of events. Returns the expectations evaluated."""
    from data_quality.checks import CONTRACT, VOLUME, run_raw_check
    from data_quality.store import record
    from ingest.landing import EVENTS, landing_entities

    n = 0
    for entity in landing_entities():
        names = [CONTRACT, VOLUME] if entity == EVENTS else [CONTRACT]
        for name in names:
            outcomes = run_raw_check(con, entity, name, days, cfg)
            record(con, outcomes, asset_key=f"raw/{entity}", check_name=name, run_id="bench",
                   days=days)
            n += len(outcomes)
    return n


def mart_checks(con, workdir: Path) -> int:
    """The mart asset checks as the Dagster step runs them
    (``data_quality.checks.run_table_checks``: invariants and no personal data of every
    mart, recorded with each table's fingerprint) and the HTML summary. Returns the
    expectations evaluated."""
    from data_quality.checks import INVARIANTS, PERSONAL, run_mart_check, run_table_checks
    from data_quality.html_summary import write_summary
    from data_quality.mart_suites import MART_SUITES

    checks = [(mart, name) for mart in sorted(MART_SUITES) for name in (INVARIANTS, PERSONAL)]
    n = sum(len(outcomes) for _, _, outcomes, _ in
            run_table_checks(con, "marts", checks, run_mart_check, "bench"))
    write_summary(con, workdir / "dq.html")
    return n


def ml_steps(warehouse: Path) -> dict[str, Any]:
    """The ML steps of the assets (models_ml.pipeline), each timed: training (feature
    snapshots + forced training), then scoring and analyses. The caller sets the compute
    threads (``pipeline.compute_threads``)."""
    from models_ml import pipeline
    from warehouse.settings import load_settings

    settings = load_settings()
    cfg, metrics = settings.ml, settings.metrics
    defaults = metrics.bkt_defaults()
    con = connect_warehouse(warehouse)
    training: dict[str, float] = {}
    scoring: dict[str, float] = {}
    figures: dict[str, Any] = {}
    try:
        events, users = con.execute(
            "select count(*), count(distinct user_id) from staging.stg_events").fetchall()[0]
        timed(training, "user_features", pipeline.build_user_features, con, cfg)
        trained = timed(training, "train_models", pipeline.train_models, con, cfg, True)
        for name, fn, *extra in (
            ("churn_predictions", pipeline.score_churn),
            ("goal_success_predictions", pipeline.score_goal_success),
            ("ltv_predictions", pipeline.score_ltv),
            ("engagement_forecast", pipeline.forecast_engagement),
            ("metric_anomalies", pipeline.detect_metric_anomalies),
            ("user_behaviour_anomalies", pipeline.detect_user_anomalies),
            ("user_segments", pipeline.segment_users),
            ("experiment_analysis", pipeline.analyse_experiments,
             metrics.experiment_conversion_window_days, metrics.reporting_timezone),
            ("bkt_params", pipeline.fit_bkt_params, defaults),
            ("engagement_drivers", pipeline.engagement_drivers),
            ("insights", pipeline.generate_insights),
        ):
            value = timed(scoring, name, fn, con, cfg, *extra)
            if name in ("engagement_forecast", "experiment_analysis"):
                figures[name] = value
        figures["models"] = trained
    finally:
        con.close()
    return {
        "events_in_staging": events,
        "users": users,
        "threads": cfg.threads,
        "training_s": round(sum(training.values()), 2),
        "scoring_s": round(sum(scoring.values()), 2),
        "training_steps": training,
        "scoring_steps": scoring,
        "figures": pipeline.mlio.clean_json(figures),
    }
