"""How a run ends: the exit codes, the end-of-run lines (failed steps, failed or partial
files), an empty landing folder, the freshness reference passed to the runs, and the CLI
run from an environment whose PATH has no venv on it (cron, systemd, pipx)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from orchestration import runner as runner_module
from orchestration.cli import app
from orchestration.runner import RunOutcome

from .conftest import event
from .prerequisites import missing

# the names this change adds are imported in the tests, so that each test fails on its
# own on the code before it (rather than the whole module on an import)

cli = CliRunner()
INSIGHTS = Path(sys.executable).with_name("insights")
DBT_BESIDE = Path(sys.executable).with_name("dbt")
BARE_PATH = "/usr/bin:/bin"  # no venv, no pyenv shims: what cron and systemd give


# --------------------------------------------------------------------------- exit codes


def test_exit_codes_put_a_failed_run_first_then_failed_files():
    from orchestration.cli import ExitCode, exit_code

    assert exit_code(True, True, 0) == ExitCode.OK == 0
    assert exit_code(True, True, 2) == ExitCode.FILES == 5
    assert exit_code(False, True, 2) == ExitCode.FAILED == 1
    assert exit_code(True, False, 0) == ExitCode.FAILED
    assert (ExitCode.USAGE, ExitCode.UNREADABLE, ExitCode.RUN_IN_PROGRESS) == (2, 3, 4)


# --------------------------------------------------------------------------- files


def _audit(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """raw.load_audit rows: (load_id, run_id, entity, day, file, status, message, minute)."""
    from ingest.loader import ensure_schema

    ensure_schema(con)
    for load_id, run_id, entity, day, name, status, message, minute in rows:
        at = datetime(2026, 3, 1, 12, minute)
        con.execute(
            "INSERT INTO raw.load_audit VALUES (?, ?, ?, ?, ?, 'ndjson', 10, 1.0, ?, ?, "
            "1, 0, 1, 0, 0, ?, ?)",
            [load_id, run_id, entity, date.fromisoformat(day), name, status, message, at, at])


def test_file_problems_are_the_failed_and_partial_files_of_the_latest_loads(tmp_path):
    from orchestration.status import FileProblem, file_problems

    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    _audit(con, [
        # an older load of 03-01 failed; the latest one loaded: not a problem any more
        ("l1", "run-old", "events", "2026-03-01", "events/2026-03-01/a.ndjson", "failed",
         "a.ndjson: cannot be read", 0),
        ("l2", "run-a", "events", "2026-03-01", "events/2026-03-01/a.ndjson", "loaded", None, 5),
        ("l3", "run-a", "events", "2026-03-02", "events/2026-03-02/a.ndjson.gz", "partial",
         "truncated_compressed_file: a.ndjson.gz ends early at byte 4096\nmore", 6),
        ("l3", "run-a", "events", "2026-03-02", "events/2026-03-02/b.ndjson", "loaded", None, 6),
        ("l4", "run-b", "users", "2026-03-02", "platform/users/2026-03-02/users.csv", "failed",
         "too_large: users.csv is 3 GB", 7),
        ("l5", "run-b", "users", "2026-03-03", "platform/users/2026-03-03/users.csv",
         "superseded", "a newer snapshot is loaded", 8),
    ])
    every = file_problems(con)
    assert [(p.source_file, p.status, p.reason_code) for p in every] == [
        ("events/2026-03-02/a.ndjson.gz", "partial", "truncated_compressed_file"),
        ("platform/users/2026-03-02/users.csv", "failed", "too_large"),
    ]
    assert every[0].reason == "truncated_compressed_file: a.ndjson.gz ends early at byte 4096"
    assert every[0].line() == ("partial file events/2026-03-02/a.ndjson.gz: "
                               "truncated_compressed_file: a.ndjson.gz ends early at byte 4096")
    # the summary of a run lists the files that run read
    assert [p.source_file for p in file_problems(con, ["run-b"])] == [
        "platform/users/2026-03-02/users.csv"]
    assert file_problems(con, ["run-old"]) == []
    con.close()
    # a message without a reason code (the file's name first): no code, the whole line
    old = FileProblem("events", date(2026, 3, 1), "f", "failed", "a.ndjson.gz: cannot be read")
    assert old.reason_code is None and old.reason == "a.ndjson.gz: cannot be read"


# --------------------------------------------------------------------------- failed steps


def test_error_line_is_the_first_line_without_the_module_path():
    from orchestration.runner import error_line

    assert error_line("ValueError: boom\nsecond") == "ValueError: boom"
    assert error_line(
        "dagster._core.errors.DagsterAssetCheckFailedError: 1 blocking asset check failed "
        "with ERROR severity:\nraw/events: gx_contract\n"
    ) == ("DagsterAssetCheckFailedError: 1 blocking asset check failed with ERROR severity: "
          "raw/events: gx_contract")
    assert error_line("\n\n") == "(no error message)"
    assert len(error_line("x" * 1000)) == 300
    # dagster-dbt's message starts with the dbt command; the failing node is what tells
    dbt_failure = (
        "The dbt CLI process with command\n\n`/venv/bin/dbt build --vars {...}`\n\n"
        "failed with exit code `1`. Check the stdout in the Dagster compute logs.\n\n"
        "Errors parsed from dbt logs:\n\n"
        "533 of 560 FAIL 65 assert_user_lifecycle_matches_active_users ....... "
        "[\x1b[31mFAIL 65\x1b[0m in 0.10s]\n\nFailure in test ...")
    assert error_line(dbt_failure) == (
        "dbt: 533 of 560 FAIL 65 assert_user_lifecycle_matches_active_users ....... "
        "[FAIL 65 in 0.10s]")


def test_step_failures_name_the_failing_step_and_its_first_error_line():
    from orchestration.runner import StepFailure, step_failures

    @dg.asset
    def fine() -> int:
        return 1

    @dg.asset(deps=[fine])
    def broken() -> None:
        raise RuntimeError("the dbt executable 'dbt' was not found\ntraceback follows")

    @dg.asset
    def refused() -> None:
        raise dg.Failure(description="ml.bkt_params holds personal data\ndetails")

    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(assets=[fine, broken, refused])
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, raise_on_error=False)
    assert not result.success
    failures = sorted(step_failures(instance, result.run_id), key=lambda f: f.step)
    assert failures == [
        StepFailure("broken", "RuntimeError: the dbt executable 'dbt' was not found"),
        StepFailure("refused", "ml.bkt_params holds personal data"),
    ]


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def fake_execute(monkeypatch):
    """``orchestration.runner.execute`` replaced: records its arguments and returns the
    outcomes a test sets (no Dagster run, no dbt: the CLI's handling of the outcome)."""
    calls: list[dict] = []
    outcomes: list[RunOutcome] = [RunOutcome("run-1", "refresh_job", True)]

    def execute(plan, **kwargs):
        calls.append({"plan": plan, **kwargs})
        return outcomes

    monkeypatch.setattr(runner_module, "execute", execute)
    return calls, outcomes


def test_an_empty_landing_folder_says_so_and_exits_2_before_any_run(data_dir, fake_execute):
    calls, _ = fake_execute
    (data_dir / "landing" / "events").mkdir()  # folders, but no export day in them
    result = cli.invoke(app, ["run"])
    assert result.exit_code == 2, result.output
    assert f"no export days in {data_dir / 'landing'}" in " ".join(result.output.split())
    assert calls == []
    assert not (data_dir / "warehouse.duckdb").exists()


def test_a_failed_file_of_the_run_is_listed_and_exits_5(data_dir, fake_execute, write_events):
    _, outcomes = fake_execute
    write_events(data_dir / "landing", "2026-03-02", "a.ndjson",
                 [event("e1", "2026-03-02T01:00:00Z")])
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    _audit(con, [("l1", "run-1", "events", "2026-03-02", "events/2026-03-02/bad.ndjson.gz",
                  "failed", "truncated_compressed_file: bad.ndjson.gz ends at byte 10", 0)])
    con.close()
    result = cli.invoke(app, ["run"])
    out = " ".join(result.output.split())
    assert result.exit_code == 5, result.output
    assert ("failed file events/2026-03-02/bad.ndjson.gz: truncated_compressed_file: "
            "bad.ndjson.gz ends at byte 10") in out
    assert "(exit code 5)" in out
    # the same file read by an earlier run is not this run's problem
    outcomes[0] = RunOutcome("run-2", "transform_job", True)
    result = cli.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert "failed file" not in result.output


def test_a_failed_run_names_its_failing_step_and_exits_1(data_dir, fake_execute, write_events):
    from orchestration.runner import StepFailure

    _, outcomes = fake_execute
    write_events(data_dir / "landing", "2026-03-02", "a.ndjson",
                 [event("e1", "2026-03-02T01:00:00Z")])
    outcomes[0] = RunOutcome(
        "run-9", "refresh_job", False, (date(2026, 3, 2), date(2026, 3, 2)),
        [StepFailure("dbt_models", "RuntimeError: dbt exited with code 2")])
    result = cli.invoke(app, ["run"])
    out = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert ("refresh_job 2026-03-02..2026-03-02: FAILED (run run-9) at step dbt_models: "
            "RuntimeError: dbt exited with code 2") in out
    assert "failed step dbt_models of refresh_job (run run-9): RuntimeError: dbt exited" in out


def test_backfill_and_demo_judge_freshness_against_the_data(data_dir, fake_execute,
                                                            write_events):
    calls, _ = fake_execute
    write_events(data_dir / "landing", "2026-03-02", "a.ndjson",
                 [event("e1", "2026-03-02T01:00:00Z")])
    assert cli.invoke(app, ["run"]).exit_code == 0
    assert cli.invoke(app, ["run", "--backfill"]).exit_code == 0
    shutil.rmtree(data_dir / "landing")  # the demo refuses to wipe exports it did not write
    result = cli.invoke(app, ["demo", "--users", "30", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert [c["freshness_reference"] for c in calls] == [None, "data", "data"]


def test_the_run_tag_carries_the_freshness_reference():
    from orchestration.assets.freshness import FRESHNESS_REFERENCE_TAG, reference_kind

    assert runner_module.run_tags(None) == {"insights/trigger": "cli"}
    tags = runner_module.run_tags("data")
    assert tags[FRESHNESS_REFERENCE_TAG] == "data"
    assert reference_kind(tags, "clock") == "data"
    assert reference_kind({}, "clock") == "clock"
    assert reference_kind({FRESHNESS_REFERENCE_TAG: "sundial"}, "data") == "data"


# --------------------------------------------------------------------------- bare PATH


def _bare_env(data: Path) -> dict[str, str]:
    """What cron gives: PATH without the venv; the project on PYTHONPATH (the package may
    be installed from another checkout); every path variable into ``data``."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("INSIGHTS_", "DAGSTER_", "PYTEST_"))}
    return {
        **keep,
        "PATH": BARE_PATH,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "INSIGHTS_LANDING_DIR": str(data / "landing"),
        "INSIGHTS_WAREHOUSE": str(data / "warehouse.duckdb"),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "INSIGHTS_REPORTS_DIR": str(data / "reports"),
        "INSIGHTS_SERVING_DB": str(data / "serving.duckdb"),
    }


def _bare_run(args: list[str], env: dict[str, str], timeout: float = 600
              ) -> subprocess.CompletedProcess:
    assert INSIGHTS.exists(), f"{INSIGHTS}: the installed `insights` script"
    return subprocess.run([str(INSIGHTS), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_the_dbt_resource_takes_the_dbt_beside_the_interpreter(monkeypatch):
    if not DBT_BESIDE.exists():
        missing(f"no dbt beside {sys.executable}")
    from orchestration.assets.dbt import dbt_resource

    monkeypatch.setenv("PATH", BARE_PATH)
    assert dbt_resource().dbt_executable == str(DBT_BESIDE)


def test_insights_dbt_runs_without_the_venv_on_path(tmp_path):
    result = _bare_run(["dbt", "--", "--version"], _bare_env(tmp_path / "data"), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "Core" in result.stdout + result.stderr  # dbt's version banner


@pytest.mark.slow
def test_insights_run_from_a_bare_path_on_generated_exports(tmp_path):
    """`/venv/bin/insights run` with PATH=/usr/bin:/bin (no venv): a tiny generated landing
    folder with one unreadable file loads, and the run ends with exit code 5 and a line
    naming that file, no traceback."""
    data = tmp_path / "data"
    env = _bare_env(data)
    generated = _bare_run(["generate", "--users", "30", "--days", "3"], env, timeout=120)
    assert generated.returncode == 0, generated.stderr
    day = sorted(p.parent for p in (data / "landing" / "events").glob("*/_SUCCESS"))[-1]
    (day / "broken.ndjson.gz").write_bytes(b"not gzip at all")
    result = _bare_run(["run"], env)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-5000:]
    assert result.returncode == 5, output[-5000:]  # ExitCode.FILES
    assert f"failed file events/{day.name}/broken.ndjson.gz:" in output
    assert "(exit code 5)" in output


def test_a_dbt_invocation_opens_no_dbt_adapter_in_this_process(monkeypatch, tmp_path):
    """dagster-dbt loads the dbt profile and project and registers an adapter in the
    calling process on every invocation (~1.7 s), for row counts and column metadata
    these assets never fetch: the resource skips it, and dbt still runs."""
    import dbt.config.runtime as dbt_runtime

    if not DBT_BESIDE.exists():
        missing(f"no dbt beside {sys.executable}")
    from orchestration.assets.dbt import dbt_resource
    from orchestration.dbt_project import dbt_project

    loaded: list[object] = []
    real = dbt_runtime.load_profile

    def load_profile(*args, **kwargs):
        loaded.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(dbt_runtime, "load_profile", load_profile)
    monkeypatch.setenv("INSIGHTS_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    invocation = dbt_resource().cli(
        ["ls", "--select", "stg_users", "--resource-type", "model", "--output", "name"],
        manifest=dbt_project.manifest_path, target_path=tmp_path / "target")
    names = [e.raw_event["info"]["msg"] for e in invocation.stream_raw_events()]
    assert invocation.is_successful() and "stg_users" in names
    assert invocation.adapter is None and loaded == []


def test_the_dbt_version_comes_without_starting_dbt(monkeypatch, tmp_path):
    """dagster-dbt asks the dbt executable for its version (`dbt --version`, a Python
    start-up) on every run; the dbt beside this interpreter is this environment's
    dbt-core, whose version the package metadata holds."""
    import importlib.metadata

    import dagster_dbt.core.resource as dbt_resource_module

    if not DBT_BESIDE.exists():
        missing(f"no dbt beside {sys.executable}")
    from orchestration.assets.dbt import InsightsDbtCliResource, dbt_resource
    from warehouse.settings import DBT_PROJECT_DIR

    def started(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(dbt_resource_module, "check_output", started)
    assert str(dbt_resource()._cli_version) == importlib.metadata.version("dbt-core")
    # another dbt (an executable file is all dagster-dbt checks; it is never started here),
    # not "dbt" on PATH: a venv's python run by its path has no dbt on PATH
    other_dbt = tmp_path / "bin" / "dbt"
    other_dbt.parent.mkdir()
    other_dbt.write_text("#!/bin/sh\nexit 1\n")
    other_dbt.chmod(0o755)
    elsewhere = InsightsDbtCliResource(project_dir=str(DBT_PROJECT_DIR),
                                       dbt_executable=str(other_dbt))
    with pytest.raises(AssertionError, match="a process was started"):
        _ = elsewhere._cli_version  # not the dbt beside this interpreter: dagster-dbt asks it
