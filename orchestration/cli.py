"""``insights``: generate sample exports, run the pipeline, show what is loaded.

Paths come from INSIGHTS_LANDING_DIR, INSIGHTS_WAREHOUSE and DAGSTER_HOME (defaults
under ./data); settings from config/settings.yaml (INSIGHTS_SETTINGS).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import IntEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import duckdb
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from data_quality.outcomes import BLOCKING
from ingest.landing import scan_landing
from orchestration.executables import dbt_executable, find_executable
from warehouse.locking import RunInProgressError, WriterBusyError, run_lock, writer_lock
from warehouse.settings import (
    DBT_PROJECT_DIR,
    PROJECT_ROOT,
    PathSettings,
    Settings,
    SettingsError,
    export_duckdb_env,
    export_path_defaults,
    load_settings,
    read_paths,
)

if TYPE_CHECKING:
    from orchestration.runner import RunOutcome
    from orchestration.status import FileProblem, WarehouseStatus
    from reports.custom import AnalysisSpec

app = typer.Typer(
    help="Insights Warehouse: raw exports -> DuckDB -> dbt marts, orchestrated by Dagster. "
    "Paths come from INSIGHTS_LANDING_DIR, INSIGHTS_WAREHOUSE, INSIGHTS_SERVING_DB, "
    "INSIGHTS_REPORTS_DIR and DAGSTER_HOME (defaults under ./data); settings from "
    "config/settings.yaml (INSIGHTS_SETTINGS).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)
log = logging.getLogger("insights")

VERBOSE = False  # `insights --verbose CMD`: every command shows Dagster's and dbt's lines
DEMO_DAYS = 60
DEMO_USERS = 1500


class ExitCode(IntEnum):
    """The exit codes of `insights` (docs/operations.md, "Run outcomes and exit codes")."""

    OK = 0  # everything read is accounted for
    FAILED = 1  # a run failed, or a blocking check blocks the publish
    USAGE = 2  # bad option or setting, no landing folder or no export day in it, no dbt
    UNREADABLE = 3  # the warehouse cannot be read
    RUN_IN_PROGRESS = 4  # another run holds the warehouse
    FILES = 5  # a file of the run failed or loaded partially; nothing else failed


def exit_code(runs_ok: bool, publish_ok: bool, file_problems: int) -> ExitCode:
    """Pure: a failed run or a blocked publish first, then files not (wholly) loaded."""
    if not (runs_ok and publish_ok):
        return ExitCode.FAILED
    return ExitCode.FILES if file_problems else ExitCode.OK


@dataclass
class RunResult:
    """What `_run` did: its Dagster runs, and whether a blocking check blocks the publish."""

    outcomes: list[RunOutcome] = field(default_factory=list)
    publish_ok: bool = True

    @property
    def runs_ok(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def run_ids(self) -> list[str]:
        return [o.run_id for o in self.outcomes]


class _StderrHandler(logging.StreamHandler):
    """A handler on whatever ``sys.stderr`` is when a record is written (not the stream
    of the moment it was made, which a test runner may have closed since)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _setup_logging(verbose: bool) -> None:
    """Our own loggers to stderr; Dagster's runs log through Dagster's console logger."""
    handler = _StderrHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    for name in ("insights", "ingest", "orchestration", "sample_exports"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)
        if not logger.handlers:
            logger.addHandler(handler)
        logger.propagate = False


def _parse_date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be YYYY-MM-DD, got {value!r}") from None


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    global VERBOSE
    VERBOSE = verbose
    _setup_logging(verbose)
    try:
        export_path_defaults()
    except SettingsError as exc:
        _settings_failed(exc)


def _settings_failed(exc: SettingsError) -> None:
    console.print(f"[red]settings error:[/] {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(ExitCode.USAGE)


def _settings() -> Settings:
    """The validated settings, or exit code 2 with the one line that names the problem
    (before any lock is taken or any work is done)."""
    try:
        return load_settings()
    except SettingsError as exc:
        _settings_failed(exc)
        raise  # unreachable: _settings_failed exits


def _paths() -> PathSettings:
    try:
        return read_paths()
    except SettingsError as exc:
        _settings_failed(exc)
        raise


GENERATOR_MANIFEST = "_generator_manifest.json"


def _refuse_foreign_landing(landing: Path) -> None:
    """Only a landing folder the generator wrote (or an empty one) may be wiped."""
    if (landing / GENERATOR_MANIFEST).exists() or not any(landing.iterdir()):
        return
    console.print(
        f"[red]{landing} holds exports the sample generator did not write[/]; refusing to "
        "delete them. Point INSIGHTS_LANDING_DIR (and INSIGHTS_WAREHOUSE) at a demo folder."
    )
    raise typer.Exit(ExitCode.USAGE)


def _generate(
    landing: Path,
    *,
    seed: int,
    users: int | None,
    events: int | None,
    days: int,
    start_date: date | None,
    faults: bool,
    clean: bool,
) -> None:
    from sample_exports import generate_exports

    if clean and landing.exists():
        _refuse_foreign_landing(landing)
        shutil.rmtree(landing)
    kwargs = {"seed": seed, "users": users, "target_events": events, "days": days,
              "faults": faults}
    if start_date is not None:
        kwargs["start_date"] = start_date
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        summary = generate_exports(landing, progress=progress, **kwargs)
    written = getattr(summary, "events_written", None)
    console.print(
        f"[green]generated[/] {written:,} event lines over {summary.days} export days "
        f"in {summary.seconds:.1f} s into {landing}"
        if isinstance(written, int)
        else f"[green]generated[/] sample exports into {landing}"
    )


@app.command()
def generate(
    landing: Annotated[
        Path | None, typer.Option(help="Landing folder (default: INSIGHTS_LANDING_DIR).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 42,
    users: Annotated[int | None, typer.Option(help="Number of users.")] = None,
    events: Annotated[
        int | None, typer.Option(help="Target number of events (instead of --users).")
    ] = None,
    days: Annotated[int, typer.Option(help="Number of export days.")] = DEMO_DAYS,
    start_date: Annotated[
        str | None, typer.Option(help="First export day, YYYY-MM-DD (default 2026-01-01).")
    ] = None,
    faults: Annotated[
        bool, typer.Option(help="Plant the faults real exports have (bad lines, duplicates...).")
    ] = True,
    clean: Annotated[bool, typer.Option(help="Empty the landing folder first.")] = False,
) -> None:
    """Write sample raw exports (contract v1) into the landing folder."""
    if users is not None and events is not None:
        raise typer.BadParameter("give --users or --events, not both")
    _generate(
        landing or _paths().landing,
        seed=seed,
        users=users,
        events=events,
        days=days,
        start_date=_parse_date(start_date, "--start-date"),
        faults=faults,
        clean=clean,
    )


def _run(start: date | None, end: date | None, reload: bool, verbose: bool,
         freshness_reference: str | None = None) -> RunResult:
    from orchestration.planning import plan_run, split_future
    from orchestration.runner import execute

    settings = _settings()
    landing, warehouse = settings.require_paths().landing, settings.require_paths().warehouse
    if not landing.is_dir():
        console.print(f"[red]no landing folder at {landing}[/] (run `insights generate`)")
        raise typer.Exit(ExitCode.USAGE)
    if not scan_landing(landing):
        # nothing to load at all: say so instead of building empty marts and models
        console.print(f"[red]no export days in {landing}[/]: expected "
                      "events/YYYY-MM-DD/ or platform/<entity>/YYYY-MM-DD/ folders "
                      "(run `insights generate`, or set INSIGHTS_LANDING_DIR)", soft_wrap=True)
        raise typer.Exit(ExitCode.USAGE)
    if find_executable("dbt") is None:
        console.print(f"[red]dbt not found[/] beside {sys.executable} or on PATH: install "
                      "dbt-core and dbt-duckdb into this environment", soft_wrap=True)
        raise typer.Exit(ExitCode.USAGE)
    first = settings.ingest.first_export_date
    try:
        plan = plan_run(landing, warehouse, start=start, end=end, reload=reload)
    except (duckdb.Error, WriterBusyError) as exc:
        console.print(f"[red]cannot read what is loaded in {warehouse}:[/] {exc}".splitlines()[0])
        raise typer.Exit(ExitCode.UNREADABLE) from exc
    too_early = [d for d in plan.to_load if d < first]
    if too_early:
        console.print(
            f"[red]export days before {first} cannot be loaded[/] ({too_early[0]} ...): "
            "set ingest.first_export_date in the settings file"
        )
        raise typer.Exit(ExitCode.USAGE)
    plan.to_load, future = split_future(plan.to_load, datetime.now(UTC).date())
    for day in future:
        console.print(
            f"[yellow]not loaded:[/] export day {day} is in the future (today is "
            f"{datetime.now(UTC).date()} UTC); it is loaded once that day has come"
        )
    waiting: dict[object, list[str]] = {}
    for day in plan.incomplete:
        waiting.setdefault(day.export_date, []).append(day.entity)
    for export_date, entities in waiting.items():
        console.print(f"[yellow]waiting:[/] export day {export_date} has no _SUCCESS yet "
                      f"for {', '.join(entities)}", soft_wrap=True)
    if plan.to_load:
        console.print(
            f"loading {len(plan.to_load)} export days in {len(plan.ranges)} run(s) "
            f"({plan.unchanged} day folders unchanged since their last load)"
        )
    else:
        console.print("no new or changed export day: rebuilding the dbt models only")
    if freshness_reference == "data":
        console.print("freshness is judged against the newest export day loaded")
    started = time.perf_counter()
    with quiet_steps("load, transform, check, report, publish", verbose) as log_level:
        outcomes = execute(plan, reload=reload, log_level=log_level,
                           freshness_reference=freshness_reference)
    for o in outcomes:
        colour = "green" if o.success else "red"
        console.print(f"[{colour}]{_outcome_line(o)}[/]", soft_wrap=True)
    console.print(f"took {time.perf_counter() - started:.1f} s")
    return RunResult(outcomes, publish_ok=_report_quality())


STEP_RE = re.compile(r'(Started|Finished) execution of step "([^"]+)"')


def log_file_path() -> Path:
    """Where a quiet run writes Dagster's and dbt's lines: ``logs/`` beside the warehouse."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return _paths().warehouse.parent / "logs" / f"insights-{stamp}-{os.getpid()}.log"


@contextmanager
def quiet_steps(stage: str, verbose: bool) -> Iterator[str]:
    """Run a stage with Dagster's and dbt's per-step lines in a log file (its path is
    printed) and one progress line per stage on the terminal; yields the Dagster log level.

    File descriptors 1 and 2 are redirected (not only ``sys.stderr``), so lines written by
    subprocesses and by handlers that captured the stream earlier land in the file too.
    ``--verbose`` leaves everything on the terminal."""
    if verbose or VERBOSE:
        yield "DEBUG"
        return
    path = log_file_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2), os.dup(1)
    terminal = Console(file=os.fdopen(os.dup(saved[0]), "w", buffering=1),
                       force_terminal=console.is_terminal)
    done = threading.Event()
    steps: dict[str, bool] = {}

    def follow(bar: Progress, task: TaskID) -> None:
        with open(path, encoding="utf-8", errors="replace") as fh:
            while True:
                line = fh.readline()
                if not line:
                    if done.is_set():
                        return
                    time.sleep(0.2)
                    continue
                m = STEP_RE.search(line)
                if m:
                    steps[m.group(2)] = m.group(1) == "Finished"
                    running = [k for k, v in steps.items() if not v]
                    bar.update(task, completed=sum(steps.values()),
                               description=f"{stage}: {running[-1] if running else 'done'}")

    with open(path, "ab") as logf, Progress(
        SpinnerColumn(), TextColumn("{task.description}"),
        TextColumn("[dim]{task.completed} steps"), TimeElapsedColumn(),
        console=terminal, transient=True,
    ) as bar:
        task = bar.add_task(stage, total=None)
        os.dup2(logf.fileno(), 2)
        os.dup2(logf.fileno(), 1)
        # Python-level streams too: a test runner (or CliRunner) may have replaced them
        streams = sys.stdout, sys.stderr
        text = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (closed below)
        sys.stdout = sys.stderr = text
        follower = threading.Thread(target=follow, args=(bar, task), daemon=True)
        follower.start()
        try:
            yield "DEBUG"
        finally:
            text.flush()
            sys.stdout, sys.stderr = streams
            text.close()
            os.dup2(saved[0], 2)
            os.dup2(saved[1], 1)
            done.set()
            follower.join(timeout=5)
    for fd in saved:
        os.close(fd)
    failed = 0 if not steps else sum(not v for v in steps.values())
    console.print(f"{stage}: {sum(steps.values())} steps finished"
                  + (f", {failed} not finished" if failed else "")
                  + f"; Dagster and dbt log: {path}", soft_wrap=True)
    terminal.file.close()


def _outcome_line(o: RunOutcome) -> str:
    """`refresh_job 2026-01-01..2026-01-03: FAILED (run <id>) at step <step>: <error>`."""
    rng = f" {o.partition_range[0]}..{o.partition_range[1]}" if o.partition_range else ""
    line = f"{o.job}{rng}: {'success' if o.success else 'FAILED'} (run {o.run_id})"
    if o.failures:
        first = o.failures[0]
        line += f" at step {first.step}: {escape(first.error)}"
        if len(o.failures) > 1:
            line += f" (and {len(o.failures) - 1} more failed steps)"
    return line


def _report_quality() -> bool:
    """Print the failed checks of the latest validation; False when one blocks the publish."""
    from orchestration.status import collect_status

    con = _open_read_only()
    if con is None:
        return True
    try:
        st = collect_status(con, _paths().warehouse, _paths().landing)
    finally:
        con.close()
    for o in st.quality_failures:
        colour = "red" if o.severity == BLOCKING else "yellow"
        console.print(f"[{colour}]{o.severity} check failed:[/] {escape(o.message())}")
    if st.publish_blocked:
        console.print(
            "[red]publish blocked:[/] the serving database keeps its last good version; "
            "fix the data (or the threshold in the settings) and run again"
        )
        return False
    return True


@app.command()
def run(
    start: Annotated[str | None, typer.Option(help="First export day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last export day, YYYY-MM-DD.")] = None,
    reload: Annotated[
        bool, typer.Option(help="Reload days even when their files are unchanged.")
    ] = False,
    verbose: Annotated[bool, typer.Option(
        help="Show Dagster's and dbt's per-step lines instead of writing them to a log file."
    )] = False,
    wait: Annotated[float, typer.Option(
        help="Seconds to wait when another run is in progress (default: refuse at once)."
    )] = 0.0,
    backfill: Annotated[bool, typer.Option(
        help="Loading old export days: judge freshness against the newest export day "
        "loaded instead of today."
    )] = False,
) -> None:
    """Load every complete export day that is new or changed, then rebuild the marts.

    With --start/--end, only export days in that range (inclusive) are considered.
    Runs the Dagster jobs in this process; the runs show in `insights ui`. One run at a
    time: a second `insights run` refuses (exit code 4) or waits with --wait.

    Exit codes: 0 everything read is accounted for; 1 a run failed or a blocking check
    blocks the publish; 2 bad option or setting, no landing folder or no export day in it;
    3 the warehouse cannot be read; 4 another run is in progress; 5 a file failed or
    loaded partially (listed at the end), nothing else failed.
    """
    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
    _settings()
    with _one_run_at_a_time(wait, "insights run"):
        result = _run(first, last, reload, verbose, "data" if backfill else None)
    _finish(result)


def _finish(result: RunResult) -> None:
    """The end-of-run summary, then exit with the code of the outcome."""
    problems = _print_summary(result)
    code = exit_code(result.runs_ok, result.publish_ok, len(problems))
    if code != ExitCode.OK:
        raise typer.Exit(code)


@contextmanager
def _one_run_at_a_time(wait_s: float, holder: str) -> Iterator[None]:
    """The warehouse's run lock, or exit code 4 with who holds it."""
    warehouse = _paths().warehouse
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    try:
        with run_lock(warehouse, wait_s=wait_s, holder=f"{holder}, started {started}"):
            yield
    except RunInProgressError as exc:
        console.print(f"[red]not started:[/] {escape(str(exc))}")
        raise typer.Exit(ExitCode.RUN_IN_PROGRESS) from exc


@app.command()
def demo(
    users: Annotated[int, typer.Option(help="Number of users of the sample.")] = DEMO_USERS,
    days: Annotated[int, typer.Option(help="Number of export days.")] = DEMO_DAYS,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    verbose: Annotated[bool, typer.Option(
        help="Show Dagster's and dbt's per-step lines instead of writing them to a log file."
    )] = False,
) -> None:
    """Generate the sample exports (fresh landing folder) and run the whole pipeline.

    The sample's days are in the past: freshness is judged against the newest export day
    loaded (like `insights run --backfill`). Exit codes as for `insights run`."""
    _settings()
    with _one_run_at_a_time(0.0, "insights demo"):
        _generate(
            _paths().landing, seed=seed, users=users, events=None, days=days,
            start_date=None, faults=True, clean=True,
        )
        result = _run(None, None, reload=False, verbose=verbose, freshness_reference="data")
    _finish(result)


def _open_read_only():
    from warehouse.db import connect

    warehouse = _paths().warehouse
    if not warehouse.exists():
        return None
    try:
        return connect(warehouse, read_only=True)
    except Exception as exc:  # duckdb raises IOException while a writer holds the file
        console.print(f"[red]cannot open {warehouse} read-only:[/] {exc}".splitlines()[0])
        console.print("a run is probably writing it; try again when it has finished")
        raise typer.Exit(ExitCode.UNREADABLE) from exc


def _print_summary(result: RunResult) -> list[FileProblem]:
    """The summary table, then one line per failed step of the run and per file of the run
    that failed or loaded partially (from raw.load_audit), and the outcome; returns those
    files."""
    from orchestration.status import collect_status

    con = _open_read_only()
    try:
        st = collect_status(con, _paths().warehouse, _paths().landing,
                            run_ids=result.run_ids)
    finally:
        if con is not None:
            con.close()
    ev = st.entities.get("events")
    table = Table(title="Insights Warehouse", show_header=False)
    if ev:
        table.add_row("events loaded (current)", f"{ev.rows_current:,}")
        table.add_row("events rejected", f"{ev.rejected:,}")
        table.add_row("events duplicates", f"{ev.duplicates:,}")
        table.add_row("export days loaded", f"{ev.days_loaded} ({ev.first_day} .. {ev.last_day})")
    # the count only: the list of marts with their rows is `insights status`'s
    table.add_row("marts built", f"{len(st.marts)} marts, {sum(st.marts.values()):,} rows "
                  "(`insights status` lists them)" if st.marts else "none")
    table.add_row("warehouse", str(st.warehouse))
    table.add_row("data quality", _quality_line(st))
    table.add_row("reports", _reports_line(st))
    table.add_row("alerts", _alerts_line(st))
    table.add_row("serving database", _publish_line(st))
    out = Console(width=max(Console().width, 100))
    out.print(table)
    for line in _outcome_lines(result, st.file_problems):
        out.print(line, soft_wrap=True)
    return st.file_problems


def _outcome_lines(result: RunResult, problems: Sequence[FileProblem]) -> list[str]:
    """The lines under the summary table: what failed, and the verdict with its exit code."""
    lines = []
    for o in result.outcomes:
        for failure in o.failures:
            lines.append(f"[red]failed step[/] {escape(failure.step)} of {o.job} "
                         f"(run {o.run_id}): {escape(failure.error)}")
    for problem in problems:
        lines.append(f"[red]{problem.status} file[/] {escape(problem.source_file)}: "
                     f"{escape(problem.reason)}")
    code = exit_code(result.runs_ok, result.publish_ok, len(problems))
    if code == ExitCode.FAILED:
        why = "a run failed" if not result.runs_ok else "a blocking check blocks the publish"
        lines.append(f"[red]FAILED:[/] {why} (exit code {int(code)})")
    elif code == ExitCode.FILES:
        lines.append(f"[yellow]INCOMPLETE:[/] {len(problems)} file(s) failed or loaded "
                     f"partially; everything else succeeded (exit code {int(code)})")
    else:
        lines.append("[green]OK:[/] every file read is accounted for (exit code 0)")
    return lines


@app.command()
def check(
    dbt: Annotated[bool, typer.Option(help="Also parse the dbt project (about 10 s).")] = True,
) -> None:
    """Validate the settings, the landing folder, the analyses and the dbt project without
    running anything; exit code 2 when any of them has a problem."""
    from orchestration.checkup import OK, PROBLEM, run_checks

    findings = run_checks(dbt=dbt)
    colours = {OK: "green", PROBLEM: "red"}
    for f in findings:
        colour = colours.get(f.status, "yellow")
        console.print(f"[{colour}]{f.status:>7}[/] {f.area}: {escape(f.message)}", soft_wrap=True)
    if any(f.status == PROBLEM for f in findings):
        raise typer.Exit(ExitCode.USAGE)


@app.command()
def status() -> None:
    """What is loaded, rejected, failed and stale, per entity; the marts and their rows."""
    from orchestration.status import collect_status

    _settings()
    con = _open_read_only()
    try:
        st = collect_status(con, _paths().warehouse, _paths().landing)
    finally:
        if con is not None:
            con.close()
    out = Console(width=max(Console().width, 140))
    out.print(f"warehouse: {st.warehouse}" + ("" if st.exists else " (not created yet)"))
    out.print(f"landing:   {_paths().landing}")
    table = Table(title="Loaded export days")
    for col in ("entity", "days", "first", "last", "current rows", "rejected", "duplicates",
                "failed files", "pending", "stale", "incomplete"):
        table.add_column(col, justify="left" if col == "entity" else "right")
    for name, e in sorted(st.entities.items()):
        table.add_row(
            name, str(e.days_loaded), str(e.first_day or "-"), str(e.last_day or "-"),
            f"{e.rows_current:,}", f"{e.rejected:,}", f"{e.duplicates:,}",
            str(len(e.failed_files)), _days(e.pending_days), _days(e.stale_days),
            _days(e.incomplete_days),
        )
    out.print(table)
    if st.rejects_by_reason:
        rej = Table(title="Rejects by reason (raw.rejects)")
        rej.add_column("entity: reason")
        rej.add_column("rows", justify="right")
        for k, v in st.rejects_by_reason.items():
            rej.add_row(k, f"{v:,}")
        out.print(rej)
    for problem in st.file_problems:  # failed or partial files of the latest loads
        out.print(f"[red]{problem.status} file[/] {escape(problem.source_file)}: "
                  f"{escape(problem.reason)}", soft_wrap=True)
    if st.unbalanced_files:
        out.print(f"[red]files that do not reconcile:[/] {', '.join(st.unbalanced_files)}")
    elif st.exists:
        out.print("[green]every loaded file reconciles[/]: read = loaded + rejected + duplicates")
    out.print("marts: " + (", ".join(f"{k} ({v:,} rows)" for k, v in st.marts.items())
                           or "none built yet"))
    if st.quality_checks:
        dq = Table(title="Data quality: latest validation of each check (ops.data_quality)")
        for col in ("asset", "check", "status", "expectations", "failed", "validated at (UTC)"):
            dq.add_column(col)
        colours = {"passed": "green", "warning": "yellow", "failed": "red"}
        for asset, check, state, n, failed, at in st.quality_checks:
            dq.add_row(asset, check, f"[{colours[state]}]{state}[/]", str(n), str(failed),
                       f"{at:%Y-%m-%d %H:%M:%S}")
        out.print(dq)
        for o in st.quality_failures:
            colour = "red" if o.severity == BLOCKING else "yellow"
            out.print(f"[{colour}]{o.severity}:[/] {escape(o.message())}")
    out.print(f"data quality: {_quality_line(st)}")
    out.print(f"reports: {_reports_line(st)}")
    out.print(f"alerts: {_alerts_line(st)}")
    for day, severity, rule, creator, message in st.latest_alerts[:20]:
        out.print(f"  [{'red' if severity == 'high' else 'yellow'}]{escape(severity)}[/] "
                  f"{day} {escape(rule)} ({escape(creator)}): {escape(message)}")
    out.print(f"serving database: {_publish_line(st)}")


def _quality_line(st: WarehouseStatus) -> str:
    if not st.quality_checks:
        return "not validated yet"
    counts = {s: sum(1 for c in st.quality_checks if c[2] == s)
              for s in ("passed", "warning", "failed")}
    page = _paths().data_quality_page
    return (f"{counts['passed']} checks passed, {counts['warning']} with warnings, "
            f"{counts['failed']} failed -> {page}")


def _reports_line(st: WarehouseStatus) -> str:
    if not st.latest_reports:
        return "none rendered yet"
    root = _paths().reports
    parts = []
    for kind, start, end, reports, files, _at, overall in st.latest_reports:
        period = str(end) if start == end else f"{start}..{end}"
        where = f" -> {root / overall}" if overall else ""
        parts.append(f"{kind} {period}: {reports} reports, {files} files{where}")
    return "; ".join(parts)


def _alerts_line(st: WarehouseStatus) -> str:
    if not st.latest_alerts:
        return "none fired on the latest date judged"
    high = sum(1 for a in st.latest_alerts if a[1] == "high")
    return (f"{len(st.latest_alerts)} fired on {st.latest_alerts[0][0]} ({high} high) "
            "-> ops.alerts")


def _publish_line(st: WarehouseStatus) -> str:
    if st.last_publish is None:
        return "not published yet"
    published_at, target, tables, rows = st.last_publish
    blocked = " (publish now BLOCKED by failed checks)" if st.publish_blocked else ""
    return (f"{target}: {tables} tables, {rows:,} rows, "
            f"published {published_at:%Y-%m-%d %H:%M:%S} UTC{blocked}")


def _days(days: list[date]) -> str:
    if not days:
        return "-"
    return f"{len(days)} ({min(days)}..{max(days)})" if len(days) > 1 else str(days[0])


@app.command()
def export(
    tables: Annotated[str, typer.Option(
        help="Comma-separated tables of the published schemas (marts, ml); a bare name "
             "is marts.<name>.")],
    start: Annotated[str | None, typer.Option(
        "--from", help="First date (YYYY-MM-DD) on each table's date column.")] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="Last date (YYYY-MM-DD), inclusive.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    out: Annotated[Path, typer.Option(help="Folder for the files.")] = Path("exports"),
    from_warehouse: Annotated[bool, typer.Option(
        "--warehouse", help="Read the warehouse instead of the serving database.")] = False,
) -> None:
    """Write tables cut to a date range as files (<schema>.<table>.csv|parquet): an
    on-demand extract of what BI tools see. Reads the serving database (the published
    numbers) unless --warehouse. Exit code 2 for a bad option or table, 3 when the
    database cannot be read."""
    from serving.export import ExportError, export_tables, resolve_tables
    from warehouse.db import connect

    _settings()
    if fmt not in ("csv", "parquet"):
        console.print(f"[red]--format {escape(fmt)}:[/] expected csv or parquet")
        raise typer.Exit(ExitCode.USAGE)
    first, last = _parse_date(start, "--from"), _parse_date(end, "--to")
    paths = _paths()
    source = paths.warehouse if from_warehouse else paths.serving
    if not source.exists():
        console.print(f"[red]no database at {source}:[/] run `insights run` first")
        raise typer.Exit(ExitCode.UNREADABLE)
    try:
        con = connect(source, read_only=True)
    except Exception as exc:  # duckdb raises IOException while a writer holds the file
        console.print(f"[red]cannot open {source} read-only:[/] {exc}".splitlines()[0])
        raise typer.Exit(ExitCode.UNREADABLE) from exc
    try:
        chosen = resolve_tables(con, [t for t in tables.split(",") if t.strip()])
        if not chosen:
            raise ExportError("--tables names no table")
        files = export_tables(con, chosen, start=first, end=last, fmt=fmt,  # type: ignore[arg-type]
                              folder=out)
    except ExportError as exc:
        console.print(f"[red]export:[/] {escape(str(exc))}")
        raise typer.Exit(ExitCode.USAGE) from exc
    finally:
        con.close()
    for f in files:
        cut = f"on {f.date_column}" if f.date_column else "whole (no date column)"
        console.print(f"{f.table}: {f.rows:,} rows, {cut} -> {f.path}")


@app.command()
def report(
    kind: Annotated[str, typer.Option(
        help="daily, weekly, monthly (the calendar month ending on or before the as-of "
             "date) or quarterly.")] = "monthly",
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Report as of this date (YYYY-MM-DD); default the warehouse's.")] = None,
    pdf: Annotated[bool, typer.Option(
        "--pdf", help="Also print each report to PDF with headless Chromium.")] = False,
    wait: Annotated[float, typer.Option(
        help="Seconds to wait for a run in progress before giving up (exit code 4).")] = 0.0,
) -> None:
    """Render one kind of report (overall and per creator, as the settings say) from the
    warehouse into INSIGHTS_REPORTS_DIR, indexed in ops.reports: the monthly and
    quarterly reports no scheduled run makes every day, or any report again as of an
    earlier date. Exit code 2 for a bad option or no Chromium with --pdf, 3 when the
    warehouse holds no marts, 4 while a run holds it."""
    from orchestration.resources import WarehouseResource
    from reports.content import KINDS
    from reports.pdf import NoBrowserError
    from reports.render import render

    settings = _settings()
    if kind not in KINDS:
        console.print(f"[red]--kind {escape(kind)}:[/] expected one of {', '.join(KINDS)}")
        raise typer.Exit(ExitCode.USAGE)
    day = _parse_date(as_of, "--as-of")
    paths = _paths()
    if not paths.warehouse.exists():
        console.print(f"[red]no warehouse at {paths.warehouse}:[/] run `insights run` first")
        raise typer.Exit(ExitCode.UNREADABLE)
    with _one_run_at_a_time(wait, f"insights report --kind {kind}"):
        warehouse = WarehouseResource(path=str(paths.warehouse))
        with warehouse.writer(holder=f"insights report --kind {kind}") as con:
            try:
                result = render(con, paths.reports, kind, settings.reports, as_of=day,
                                pdf=pdf, cost_currency=settings.metrics.cost_currency)
            except NoBrowserError as exc:
                console.print(f"[red]--pdf:[/] {escape(str(exc))}")
                raise typer.Exit(ExitCode.USAGE) from exc
    if result.as_of is None:
        console.print("[red]no as-of date:[/] the warehouse has no marts yet (insights run)")
        raise typer.Exit(ExitCode.UNREADABLE)
    overall = result.overall_html(kind)
    console.print(f"{kind} reports as of {result.as_of.isoformat()}: {result.reports} "
                  f"reports, {len(result.files)} files in {result.seconds:.1f} s")
    if overall:
        console.print(f"overall: {paths.reports / overall}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def dbt(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option(
        help="The dbt target: dev (DuckDB, default) or spark (docs/scale_out.md).")] = None,
) -> None:
    """Run a dbt command on the warehouse with the settings as vars: `insights dbt -- test`,
    `insights dbt --target spark -- build`."""
    from orchestration.dbt_args import passthrough_args

    settings = _settings()
    export_duckdb_env(settings.duckdb)
    _export_spark_dir(settings.require_paths().warehouse)
    args = passthrough_args(ctx.args, settings.dbt_vars())
    cmd = [dbt_executable(), *args]
    if args and not args[0].startswith("-"):
        cmd += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
        if target:
            cmd += ["--target", target]
    # dbt may write the warehouse: one writer at a time, like every run
    with writer_lock(settings.require_paths().warehouse, holder="insights dbt"):
        code = subprocess.call(cmd)
    raise typer.Exit(code)


def _export_spark_dir(warehouse: Path) -> None:
    """The spark target's local metastore and tables (profiles.yml INSIGHTS_SPARK_DIR):
    an absolute folder beside the warehouse unless set."""
    os.environ.setdefault("INSIGHTS_SPARK_DIR", str(warehouse.resolve().parent / "spark"))


@app.command("export-raw")
def export_raw(
    out: Annotated[Path | None, typer.Option(
        help="Folder of the export (default: raw/ in INSIGHTS_SPARK_DIR).")] = None,
    full: Annotated[bool, typer.Option(
        help="Write every partition again (default: only new or changed ones).")] = False,
    register: Annotated[bool, typer.Option(
        help="Then register the tables on the dbt target (run-operation "
        "register_raw_tables).")] = True,
    target: Annotated[str, typer.Option(help="The dbt target to register them on.")] = "spark",
    location: Annotated[str | None, typer.Option(
        help="The folder as the engine sees it (e.g. s3a://bucket/raw); default: --out.")] = None,
) -> None:
    """Export every raw and ml table the dbt models read as Parquet partitioned by export
    date, for Spark (docs/scale_out.md), and register them there."""
    from orchestration.dbt_args import register_raw_args
    from serving.raw_export import WHOLE
    from serving.raw_export import export_raw as write_export

    settings = _settings()
    warehouse = settings.require_paths().warehouse
    _export_spark_dir(warehouse)
    folder = (out or Path(os.environ["INSIGHTS_SPARK_DIR"]) / "raw").resolve()
    with writer_lock(warehouse, holder="insights export-raw"):
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            result = write_export(con, folder, full=full)
        finally:
            con.close()
    console.print(f"export-raw: {result.partitions_written} partitions written, "
                  f"{result.unchanged} unchanged, into {folder}")
    if not register:
        return
    manifest = json.loads((folder / "_manifest.json").read_text())
    tables = {key: WHOLE not in parts for key, parts in manifest.items()}
    cmd = [dbt_executable(), *register_raw_args(location or str(folder), tables, target,
                                                  settings.dbt_vars()),
           "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    raise typer.Exit(subprocess.call(cmd))


# seconds the processes of `dagster dev` get to stop after SIGTERM before SIGKILL
UI_GRACE_S = 20.0


@app.command()
def ui(
    port: Annotated[int, typer.Option("--port", "-p", help="Port of the Dagster UI.")] = 3000,
) -> None:
    """Start the Dagster UI (`dagster dev`) on this project, with the runs `insights run` made.

    `dagster dev` (webserver, daemon, code server and the runs they start) runs in its own
    process group: on SIGINT or SIGTERM the whole group is terminated, and killed after
    20 s if anything is left; then `insights ui` exits 0. The landing sensor starts a run
    only for export days that the warehouse has not loaded with the same files."""
    from orchestration.runner import ensure_dagster_home

    _settings()
    ensure_dagster_home()
    # the same interpreter's dagster: `insights` may run without its venv on PATH
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
           "-p", str(port)]
    console.print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']} {' '.join(cmd)}", soft_wrap=True)
    raise typer.Exit(supervise(cmd, cwd=PROJECT_ROOT, grace_s=UI_GRACE_S))


@app.command()
def dashboard(
    host: Annotated[str, typer.Option(
        "--host", help="Address to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port of the dashboard.")] = 8501,
) -> None:
    """Start the interactive dashboard (Streamlit) over the serving database, read-only:
    a pipeline run publishing a new serving file never waits for it, and it shows the new
    data on the next page load. Stop it with Ctrl-C."""
    from dashboard.server import ROOT, command

    serving = _paths().serving
    if not serving.exists():
        console.print(f"[red]no serving database at {serving}[/]: run `insights run` "
                      "(or `insights demo`) first")
        raise typer.Exit(1)
    console.print(f"dashboard: http://{host}:{port}  (serving database {serving})",
                  soft_wrap=True)
    raise typer.Exit(supervise(command(serving, host, port), cwd=ROOT, grace_s=10.0))


def supervise(cmd: Sequence[str], *, cwd: Path, grace_s: float) -> int:
    """Run ``cmd`` in a new process group until it exits or this process gets SIGINT or
    SIGTERM; either way, stop whatever is left of the group. Returns the command's exit
    code, or 0 when it was stopped on request."""
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    # Handlers first: a signal that is caught here is reset to its default in the child,
    # whereas an ignored one (SIGINT in a background job of a script, say) would stay
    # ignored, and `dagster dev` maps SIGTERM to its SIGINT handling: it would ignore both.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        proc = subprocess.Popen(list(cmd), cwd=cwd, start_new_session=True)
        log.info("dagster dev started (pid %d, process group %d)", proc.pid, proc.pid)
        while not received and proc.poll() is None:
            time.sleep(0.2)
        if received:
            log.info("%s received: stopping dagster dev and its processes",
                     signal.Signals(received[0]).name)
        stop_process_group(proc, grace_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if received else (proc.returncode or 0)


def stop_process_group(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM to the process group ``proc`` leads, SIGKILL to whatever of it is still
    running after ``grace_s`` seconds; ``proc`` itself is reaped."""
    pgid = proc.pid
    if not _send_group(pgid, signal.SIGTERM):
        proc.poll()
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader, so it does not count as running
        if not group_members(pgid):
            return
        time.sleep(0.2)
    left = group_members(pgid)
    log.warning("still running %.0f s after SIGTERM: %s; sending SIGKILL", grace_s,
                ", ".join(map(str, left)))
    _send_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while group_members(pgid) and time.monotonic() < deadline:
        proc.poll()
        time.sleep(0.1)
    proc.poll()


def _send_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when it has no process left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def group_members(pgid: int) -> list[int]:
    """The processes of a process group that are still running (zombies, already dead and
    waiting to be reaped, are not), from /proc; elsewhere, a signal 0 probe of the group."""
    proc_root = Path("/proc")
    if not proc_root.is_dir():
        return [pgid] if _send_group(pgid, 0) else []
    found = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)



# --- insights metrics: the semantic layer (serving/metrics.py) ---------------------------

metrics_app = typer.Typer(
    help="The semantic layer: metric definitions (dbt semantic models, MetricFlow) queried "
    "over the warehouse (read-only) or the serving database.",
    no_args_is_help=True,
)
app.add_typer(metrics_app, name="metrics")

ServingOption = Annotated[bool, typer.Option(
    "--serving", help="Query the serving database (INSIGHTS_SERVING_DB) with the "
    "definitions it was published with, instead of the warehouse.")]


@contextmanager
def _metrics_source(serving: bool) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict]]:
    """A read-only connection to the warehouse or the serving database, and the semantic
    manifest to query it with; one-line errors (exit 2 for definitions, 3 for a file)."""
    from orchestration.semantic import manifest_for
    from serving.metrics import MetricsError
    from warehouse.db import connect

    path = _paths().serving if serving else _paths().warehouse
    if not path.exists():
        console.print(f"[red]{path} does not exist[/] (run `insights run` first)")
        raise typer.Exit(ExitCode.UNREADABLE)
    try:
        con = connect(path, read_only=True)
    except Exception as exc:  # duckdb raises IOException while a writer holds the file
        console.print(f"[red]cannot open {path} read-only:[/] {exc}".splitlines()[0])
        raise typer.Exit(ExitCode.UNREADABLE) from exc
    try:
        try:
            manifest = manifest_for(con, serving)
        except MetricsError as exc:
            console.print(f"[red]metrics:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(ExitCode.USAGE) from exc
        yield con, manifest
    finally:
        con.close()


@metrics_app.command("list")
def metrics_list(serving: ServingOption = False) -> None:
    """Every metric: name, type and description."""
    from serving.metrics import catalogue

    with _metrics_source(serving) as (_con, manifest):
        table = Table(title="Metrics (docs/metrics.md)")
        for col in ("metric", "type", "semantic model", "description"):
            table.add_column(col)
        for info in catalogue(manifest):
            table.add_row(info.name, info.type, ", ".join(info.semantic_models),
                          info.description)
        Console(width=max(Console().width, 160)).print(table)


@metrics_app.command("explain")
def metrics_explain(
    metric: Annotated[str, typer.Argument(help="A metric name (see `insights metrics list`).")],
    serving: ServingOption = False,
) -> None:
    """One metric's definition: formula, semantic models, measures, dimensions, SQL."""
    from serving.metrics import MetricsError, compile_sql, explain
    from serving.metrics_catalogue import view_group_by

    with _metrics_source(serving) as (_con, manifest):
        try:
            info = explain(manifest, metric)
            sql = compile_sql(manifest, [metric], view_group_by(info))
        except MetricsError as exc:
            console.print(f"[red]metrics:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(ExitCode.USAGE) from exc
        out = Console(width=max(Console().width, 120), soft_wrap=True)
        out.print(f"[bold]{info.name}[/] ({info.label}, {info.type})")
        out.print(escape(info.description))
        out.print(f"formula:         {escape(info.formula)}")
        out.print(f"semantic models: {', '.join(info.semantic_models)}")
        out.print(f"measures:        {', '.join(info.measures)}")
        out.print(f"group by:        {', '.join(info.dimensions)}")
        out.print(f"SQL (by {', '.join(view_group_by(info))}):")
        out.print(escape(sql), highlight=False)


@metrics_app.command("query")
def metrics_query(
    metrics: Annotated[str, typer.Option("--metrics", help="Comma-separated metric names.")],
    group_by: Annotated[str, typer.Option(
        "--group-by", help="Comma-separated: metric_time__day|week|month, creator, "
        "creator__category, <entity>__<dimension>.")] = "",
    where: Annotated[list[str] | None, typer.Option(
        "--where", help="A MetricFlow filter, e.g. \"{{ Entity('creator') }} = 'cr_001'\" "
        "(repeatable).")] = None,
    start: Annotated[str | None, typer.Option("--start", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last day, YYYY-MM-DD.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    serving: ServingOption = False,
) -> None:
    """Query metrics through the semantic layer; CSV and JSON go to stdout."""
    import pandas as pd

    from orchestration.semantic import FORMATS, render, split_list
    from serving.metrics import MetricsError, query

    if fmt not in FORMATS:
        console.print(f"[red]--format must be one of {', '.join(FORMATS)}, got {fmt!r}[/]")
        raise typer.Exit(ExitCode.USAGE)
    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
    with _metrics_source(serving) as (con, manifest):
        try:
            frame = query(con, manifest, split_list(metrics), split_list(group_by),
                          where or [], first, last)
        except MetricsError as exc:
            console.print(f"[red]metrics:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(ExitCode.USAGE) from exc
    if fmt != "table":
        sys.stdout.write(render(frame, fmt))
        return
    table = Table()
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object
                         else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if pd.isna(v) else str(v) for v in row))
    Console(width=max(Console().width, 120)).print(table)



# --- insights analyses: run a custom analysis now (reports/custom.py) --------------------

analyses_app = typer.Typer(
    help="Custom analyses (YAML files in INSIGHTS_ANALYSES_DIR): list them, run one now.",
    no_args_is_help=True,
)
app.add_typer(analyses_app, name="analyses")


def _analysis_specs() -> dict[str, AnalysisSpec]:
    from orchestration.assets.analyses import analysis_files
    from reports.custom import AnalysisError, load_analysis

    paths = _paths()
    specs: dict[str, AnalysisSpec] = {}
    for path in analysis_files(paths.analyses):
        try:
            spec = load_analysis(path, paths.analyses_max_rows)
        except AnalysisError as exc:
            console.print(f"[yellow]skipped:[/] {escape(str(exc))}", soft_wrap=True)
            continue
        specs[spec.name] = spec
    return specs


@analyses_app.command("list")
def analyses_list() -> None:
    """The analyses of the folder: name, schedule, file."""
    for name, spec in sorted(_analysis_specs().items()):
        typer.echo(f"{name}\t{spec.schedule}\t{spec.source}")


@analyses_app.command("run")
def analyses_run(name: Annotated[str, typer.Argument(help="The analysis's `name`.")]) -> None:
    """Run one analysis now on the serving database; its HTML and CSV are named by the
    data's as-of date (`<reports>/analyses/<name>/<as-of>.html`)."""
    from orchestration.assets.analyses import run_analysis
    from reports.custom import AnalysisError

    settings = _settings()
    specs = _analysis_specs()
    if name not in specs:
        console.print(f"[red]no analysis named {escape(name)}[/] in {_paths().analyses}; "
                      f"known: {', '.join(sorted(specs)) or 'none'}", soft_wrap=True)
        raise typer.Exit(ExitCode.USAGE)
    serving = _paths().serving
    if not serving.exists():
        console.print(f"[red]no serving database at {serving}:[/] run `insights run` first")
        raise typer.Exit(ExitCode.UNREADABLE)
    try:
        result, as_of, html_path, csv_path = run_analysis(
            specs[name], serving, _paths().reports, settings)
    except (duckdb.Error, AnalysisError) as exc:
        console.print(f"[red]analysis {escape(name)} failed:[/] {escape(str(exc))}",
                      soft_wrap=True)
        raise typer.Exit(ExitCode.FAILED) from exc
    cut = f" (cut at {specs[name].max_rows})" if result.truncated else ""
    console.print(f"{name}: {len(result.rows):,} rows{cut} as of {as_of.isoformat()}")
    typer.echo(str(html_path))
    typer.echo(str(csv_path))


# --- insights sql: a read-only query for people without the duckdb CLI --------------------


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One SQL statement (read-only).")],
    warehouse: Annotated[bool, typer.Option(
        "--warehouse", help="Query the warehouse instead of the serving database.")] = False,
    max_rows: Annotated[int, typer.Option(help="Rows printed at most.")] = 40,
) -> None:
    """Query the serving database (or, with --warehouse, the warehouse) read-only and print
    the result as a table: `insights sql "FROM marts.engagement_daily LIMIT 5"`."""
    path = _paths().warehouse if warehouse else _paths().serving
    if not path.exists():
        console.print(f"[red]no database at {path}:[/] run `insights run` (or `insights demo`)")
        raise typer.Exit(ExitCode.UNREADABLE)
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            rel = con.sql(query)
            if rel is None:
                return
            typer.echo(str(rel.limit(max_rows)))
    except duckdb.Error as exc:
        console.print(f"[red]sql:[/] {escape(str(exc))}".splitlines()[0], soft_wrap=True)
        raise typer.Exit(ExitCode.USAGE) from exc


# last: every command above is registered before `python -m orchestration.cli` runs
if __name__ == "__main__":
    app()
