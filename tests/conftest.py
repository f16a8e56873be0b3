"""Shared fixtures: an isolated data folder per test (landing, warehouse, Dagster home)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long", action="store_true", default=False,
        help="also run the long reliability variant (more kill points and hostile cases)",
    )


# The groups started first, in this order (pyproject.toml's addopts keep the order:
# --no-loadscope-reorder): the crash-recovery chain (about half of the suite's time) on
# one worker, the demo warehouse's tests on the other, then a quick module, which is
# what the chain's worker holds queued (each worker starts with two groups), then the
# Spark equality test (a JVM of its own, 10-15 minutes) behind the demo, then the
# other long groups, so that no worker is left with one of them at the end.
STARTED_FIRST = (
    "tests/reliability/test_crash_recovery.py",
    "demo",
    "tests/test_orchestration_units.py",
    "tests/test_spark_equality.py",
    "tests/test_ml_assets_e2e.py",
    "tests/reliability/test_concurrency.py",
    "tests/test_incremental.py",
)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = {item.nodeid: xdist_group(item) for item in items}
    rank = {g: i for i, g in enumerate(STARTED_FIRST)}
    # a stable sort: the tests of a group keep their order (test_cli_e2e relies on it)
    items.sort(key=lambda item: rank.get(groups[item.nodeid], len(rank)))
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
        if groups[item.nodeid] == "demo":  # the session's demo warehouse: a whole pipeline run
            item.add_marker(pytest.mark.slow)
    if config.getoption("--long"):
        return
    skip = pytest.mark.skip(reason="long reliability variant: run with --long")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


def xdist_group(item: pytest.Item) -> str:
    """The worker group of a test when the suite runs on several workers (pytest-xdist,
    ``--dist loadgroup``, the default in pyproject.toml): every test of the session's demo
    warehouse in one group (it is built once, and test_cli_e2e changes it in order), every
    other test with its module (module fixtures are built once, on one worker)."""
    if "demo_run" in getattr(item, "fixturenames", ()):
        return "demo"
    return item.nodeid.split("::", 1)[0]


def long_variant(config: pytest.Config) -> bool:
    """True under --long: property tests take more examples, crash tests more kill points."""
    return bool(config.getoption("--long"))


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data folder, with every path variable pointing into it."""
    data = tmp_path / "data"
    (data / "landing").mkdir(parents=True)
    monkeypatch.setenv("INSIGHTS_LANDING_DIR", str(data / "landing"))
    monkeypatch.setenv("INSIGHTS_WAREHOUSE", str(data / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(data / "dagster_home"))
    monkeypatch.setenv("INSIGHTS_REPORTS_DIR", str(data / "reports"))
    monkeypatch.setenv("INSIGHTS_SERVING_DB", str(data / "serving.duckdb"))
    return data


@pytest.fixture(scope="session", autouse=True)
def _no_default_data_folder(tmp_path_factory: pytest.TempPathFactory):
    """The path variables set to a folder of the session (of each xdist worker) before any
    test: a test that sets no path of its own writes there, not into the checkout's
    ``data/`` (two workers publishing to one default serving file there removed each
    other's temporary file half-way), nor into a user's own DAGSTER_HOME."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in demo_env(tmp_path_factory.mktemp("default_data")).items():
            mp.setenv(name, value)
        yield


def demo_env(data: Path) -> dict[str, str]:
    """The path variables of a data folder."""
    return {
        "INSIGHTS_LANDING_DIR": str(data / "landing"),
        "INSIGHTS_WAREHOUSE": str(data / "warehouse.duckdb"),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "INSIGHTS_REPORTS_DIR": str(data / "reports"),
        "INSIGHTS_SERVING_DB": str(data / "serving.duckdb"),
    }


#: the session's demo sample: small (about 3,500 event lines), yet with charges and
#: refunds in both currencies and conversions in both arms of the experiment in its
#: complete days, so the revenue and experiment checks run on data
#: (tests/test_bench_reference.py checks that it still holds them)
DEMO_ARGS = ("--users", "100", "--days", "9", "--seed", "311")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    """`insights demo` once per session (DEMO_ARGS): (data folder, CLI result).

    Tests that change it run in test_cli_e2e; others copy its warehouse first."""
    from typer.testing import CliRunner

    from orchestration.cli import app

    data = tmp_path_factory.mktemp("demo") / "data"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in demo_env(data).items():
            mp.setenv(k, v)
        result = CliRunner().invoke(app, ["demo", *DEMO_ARGS])
    return data, result


@pytest.fixture
def demo_warehouse(demo_run, tmp_path: Path) -> Path:
    """A private copy of the session's demo warehouse file (clean generated data, marts,
    ml tables and reports built), for tests that change it."""
    import shutil

    data, result = demo_run
    assert result.exit_code == 0, result.output
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(data / "warehouse.duckdb", copy)
    return copy


def event(event_id: str, ts: str, event_type: str = "user_message", **fields) -> dict:
    """A contract-valid event with the given id and timestamp."""
    out = {
        "event_id": event_id,
        "event_type": event_type,
        "timestamp": ts,
        "session_id": fields.pop("session_id", "s1"),
        "user_id": fields.pop("user_id", "u1"),
    }
    out.update(fields)
    return out


LineSpec = dict | str | bytes


def _encode(line: LineSpec) -> bytes:
    if isinstance(line, dict):
        return json.dumps(line).encode()
    if isinstance(line, str):
        return line.encode()
    return line


@pytest.fixture
def write_events() -> Callable[..., Path]:
    """Write an events file: write_events(landing, '2026-01-05', 'a.ndjson', [lines])."""

    def _write(
        landing: Path, day: str, name: str, lines: list[LineSpec], *, complete: bool = True
    ) -> Path:
        folder = landing / "events" / day
        folder.mkdir(parents=True, exist_ok=True)
        payload = b"\n".join(_encode(x) for x in lines) + b"\n"
        path = folder / name
        path.write_bytes(gzip.compress(payload, mtime=0) if name.endswith(".gz") else payload)
        if complete:
            (folder / "_SUCCESS").touch()
        return path

    return _write


@pytest.fixture
def write_platform() -> Callable[..., Path]:
    """Write a platform CSV: write_platform(landing, 'users', '2026-01-05', 'csv text')."""

    def _write(
        landing: Path, entity: str, day: str, text: str | bytes, *, complete: bool = True,
        name: str | None = None,
    ) -> Path:
        folder = landing / "platform" / entity / day
        folder.mkdir(parents=True, exist_ok=True)
        data = text.encode() if isinstance(text, str) else text
        path = folder / (name or f"{entity}.csv")
        path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
        if complete:
            (folder / "_SUCCESS").touch()
        return path

    return _write
