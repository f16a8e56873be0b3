"""Crash recovery: ``insights run`` killed with SIGKILL at many points, then run again.

Real processes, DuckDB, dbt and Dagster. Each run is ``python -m orchestration run`` in its
own process group; a failpoint (``INSIGHTS_FAILPOINT``, warehouse/failpoints.py) kills
the group (dbt's subprocess too) at a chosen point, or the test kills it from outside.

After every kill:
- the process died by SIGKILL at the failpoint, and nothing of its group survived;
- the serving database opens read-only and is exactly what the previous successful
  publish produced (or does not exist if nothing was published yet); no temporary file a
  reader could take for data;
- the writer lock can be taken; each export day of events is in raw.events whole (the
  clean run's rows) or not at all; every audited file reconciles;
- a BI reader holding the serving database open since the first publish still reads
  its snapshot, unchanged.

After every successful run (a plain ``insights run``, recovering from the kills before):
- every marts table, the deterministic ml tables, the raw entity tables and the rejects
  equal the clean runs' (content digests, order-independent; the run-specific columns
  left out are listed in crash_harness.RUN_SPECIFIC, ml.insights is not compared, see
  crash_harness.ML_NOT_COMPARED); per file, read = loaded + rejected + duplicates and
  the same counts as the clean runs;
- the serving database is a new version whose marts equal the clean runs', the Parquet
  files equal it, the reports equal their index; no temporary file is left;
- killed Dagster runs stay STARTED in the run storage and block nothing.

The reference ("clean runs"): the same arrivals without kills in a folder of its own,
run in the background: ``insights run`` on the first landing folder, then the new export
days and a re-sent file of an old day arrive, then ``insights run`` again. The chain: one
data folder, each kill followed by the next run, so a run recovers from the kill (or the
kills) before it and is the baseline of the next kill. The default variant has 4 kill
points and 2 successful runs (the second after three kills in a row); ``--long`` adds the
other failpoints (repeated ones at several N) and kills from outside at random (seeded)
times, with a successful run after each group.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.conftest import long_variant
from tests.reliability.crash_harness import (
    Folder,
    Run,
    TableRows,
    add_days,
    add_files,
    alerts_delivered,
    assert_killed_at,
    assert_succeeded,
    audit_reconciles,
    compare_with_clean,
    copy_landing,
    dagster_runs,
    events_by_day,
    events_whole_days,
    generate,
    kill_from_outside,
    leftovers,
    lock_is_free,
    parquet_matches_serving,
    reports_match_index,
    run_insights,
    serving_digest,
    serving_digest_of,
    visible_leftovers,
    warehouse_state,
    warehouse_wal,
)

pytestmark = pytest.mark.slow

# 80 users over 42 export days (the last one without _SUCCESS): ~9,000 event lines with
# the generator's faults (rejected lines, late events, re-sent duplicates), a reject rate
# under the blocking 5 % on every day, and enough history that the churn model trains.
USERS, DAYS, SEED = 80, 42, 42
# held back from the first run: one event file of an old export day, re-sent later (the
# day is reloaded: a backfill), and the last three complete days (new exports)
RESENT_DAY = "2026-01-15"
NEW_DAYS = ("2026-02-08", "2026-02-09", "2026-02-10")


@dataclass
class Sample:
    base: Path
    source: Path
    resent: str  # the event file of RESENT_DAY held back, relative to the landing folder

    def first_landing(self, folder: Folder) -> None:
        """The landing folder of the first runs: without the new days and the file."""
        copy_landing(self.source, folder.landing, without_days=NEW_DAYS,
                     without_files=[self.resent])

    def arrive(self, folder: Folder) -> None:
        """The new days arrive and the old day's missing file is re-sent."""
        add_days(self.source, folder.landing, NEW_DAYS)
        add_files(self.source, folder.landing, [self.resent])


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    base = tmp_path_factory.mktemp("crash")
    source = base / "source"
    generate(source, users=USERS, days=DAYS, seed=SEED)
    resent = sorted((source / "events" / RESENT_DAY).glob("events_*"))[-1]
    return Sample(base, source, str(resent.relative_to(source)))


class CleanRuns(threading.Thread):
    """The reference: the same arrivals without kills, in a folder of its own, in the
    background (beside the chain's first runs): ``insights run`` on the first landing,
    then the new days and the re-sent file arrive, then ``insights run`` again."""

    def __init__(self, sample: Sample) -> None:
        super().__init__(name="clean-runs", daemon=True)
        self.sample = sample
        self.folder = Folder(sample.base / "clean")
        sample.first_landing(self.folder)
        self.stages: dict[str, tuple[dict[str, TableRows], dict[str, int]]] = {}
        self.ready = {FIRST: threading.Event(), FINAL: threading.Event()}
        self.error: BaseException | None = None
        self.seconds: dict[str, float] = {}

    def run(self) -> None:
        try:
            for stage in (FIRST, FINAL):
                if stage == FINAL:
                    self.sample.arrive(self.folder)
                r = run_insights(self.folder, f"clean-{stage}")
                self.seconds[stage] = r.seconds
                assert_succeeded(r)
                self.stages[stage] = (warehouse_state(self.folder.warehouse),
                                      events_by_day(self.folder.warehouse))
                self.ready[stage].set()
        except BaseException as exc:  # reported to the test that waits
            self.error = exc
        finally:
            for event in self.ready.values():
                event.set()

    def state(self, stage: str) -> dict[str, TableRows]:
        return self._stage(stage)[0]

    def events_by_day(self, stage: str) -> dict[str, int]:
        return self._stage(stage)[1]

    def _stage(self, stage: str) -> tuple[dict[str, TableRows], dict[str, int]]:
        self.ready[stage].wait(timeout=3600)
        if self.error is not None:
            raise AssertionError(f"the clean runs failed: {self.error}") from self.error
        return self.stages[stage]


FIRST, FINAL = "first", "final"


@pytest.fixture(scope="module")
def clean_runs(sample: Sample):
    clean = CleanRuns(sample)
    clean.start()
    yield clean
    clean.join(timeout=3600)


@dataclass
class Chain:
    """One data folder taken through killed and recovery runs, with the checks."""

    folder: Folder
    sample: Sample
    clean: CleanRuns
    stage: str = FIRST  # which clean state the landing folder corresponds to
    published: dict[str, str] | None = None  # digest of the last good serving database
    reader: duckdb.DuckDBPyConnection | None = None
    reader_snapshot: dict[str, str] | None = None
    reader_runs: int = 0
    kills: list[str] = field(default_factory=list)
    recoveries: int = 0
    rows_compared: int = 0
    wal_left: int = 0
    alerts: int = 0  # alerts found delivered exactly once, summed over successful runs
    # row counts of complete loads of each export day of events (successful runs)
    day_counts: dict[str, set[int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def arrive(self) -> None:
        self.sample.arrive(self.folder)
        self.stage = FINAL

    # ---------------------------------------------------------------- runs

    def succeed(self, label: str) -> Run:
        run = run_insights(self.folder, label)
        self.seconds[label] = run.seconds
        assert_succeeded(run)
        self._after_success(label)
        return run

    def kill(self, label: str, failpoint: str, *, swapped: bool = False) -> Run:
        """A run killed at ``failpoint``; ``swapped``: the kill comes after the new
        serving file was renamed into place (it is then the new, complete version)."""
        run = run_insights(self.folder, label, failpoint=failpoint)
        self.seconds[label] = run.seconds
        assert_killed_at(run)
        self._after_kill(label, swapped=swapped)
        self.kills.append(failpoint)
        return run

    def kill_from_outside(self, label: str, delay_s: float) -> bool:
        run, killed = kill_from_outside(self.folder, label, delay_s)
        self.seconds[label] = run.seconds
        if killed:
            assert run.returncode == -9, f"{label}: returncode {run.returncode}\n{run.tail()}"
            # the kill may come after the rename, before the run ended: either version
            self._after_kill(label, swapped=None)
            self.kills.append(f"outside after {delay_s:.1f} s")
        else:
            assert_succeeded(run)
            self._after_success(label)
        return killed

    # ---------------------------------------------------------------- checks

    def _after_kill(self, label: str, *, swapped: bool | None) -> None:
        f = self.folder
        assert lock_is_free(f), f"{label}: the writer lock is still held after the kill"
        self.wal_left += warehouse_wal(f)
        now = serving_digest(f.serving)
        if swapped is False or (swapped is None and now == self.published):
            assert now == self.published, (
                f"{label}: the serving database is not the last good version "
                f"({'absent' if now is None else 'changed'})")
        else:
            # renamed into place before the kill: a complete new version, whose marts
            # equal the clean run's
            assert now is not None and now != self.published, label
            self._assert_serving_marts_clean(now, label)
            self.published = now
        bad = visible_leftovers(f)
        assert not bad, f"{label}: temporary files a reader could see: {bad}"
        events_whole_days(f.warehouse, self._day_counts())
        if f.warehouse.exists():
            audit_reconciles(f.warehouse)
        self._check_reader(label)

    def _after_success(self, label: str) -> None:
        f = self.folder
        state = warehouse_state(f.warehouse)
        self.rows_compared += compare_with_clean(state, self.clean.state(self.stage), label)
        self.recoveries += 1
        audit_reconciles(f.warehouse)
        for d, n in events_by_day(f.warehouse).items():
            self.day_counts.setdefault(d, set()).add(n)
        now = serving_digest(f.serving)
        assert now is not None and now != self.published, f"{label}: nothing published"
        self._assert_serving_marts_clean(now, label)
        self.published = now
        assert not leftovers(f), f"{label}: leftovers after a successful run: {leftovers(f)}"
        # in-process reads of the serving file go through a copy: this process holds a
        # reader on an old version, and DuckDB would hand back that reader's instance
        copy = f.root / "check" / "serving.duckdb"
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(f.serving, copy)
        parquet_matches_serving(copy, f.parquet)
        copy.unlink()
        reports_match_index(f)
        self.alerts += alerts_delivered(f)
        self._check_reader(label)
        if self.reader is None:
            self.reader = duckdb.connect(str(f.serving), read_only=True)
            self.reader_snapshot = serving_digest_of(self.reader)
            assert self.reader_snapshot == now

    def _day_counts(self) -> dict[str, set[int]]:
        out = {d: set(c) for d, c in self.day_counts.items()}
        for stage in (FIRST, self.stage):
            for d, n in self.clean.events_by_day(stage).items():
                out.setdefault(d, set()).add(n)
        return out

    def _assert_serving_marts_clean(self, digest: dict[str, str], label: str) -> None:
        clean = {k: f"{len(v)}:{v.digest}" for k, v in self.clean.state(self.stage).items()
                 if k.startswith("marts.")}
        served = {k: v for k, v in digest.items() if k.startswith("marts.")}
        assert served == clean, (
            f"{label}: serving marts differ from the clean run: "
            f"{sorted(k for k in clean if served.get(k) != clean[k])}")

    def _check_reader(self, label: str) -> None:
        if self.reader is None:
            return
        assert serving_digest_of(self.reader) == self.reader_snapshot, (
            f"{label}: the reader's snapshot changed under it")
        self.reader_runs += 1

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


def _summary(chain: Chain, started: float) -> str:
    return (
        f"kill points survived: {len(chain.kills)} ({', '.join(chain.kills)}); "
        f"successful runs compared with the clean runs: {chain.recoveries}; "
        f"rows compared: {chain.rows_compared:,}; runs the reader held through: "
        f"{chain.reader_runs}; kills that left a warehouse WAL: {chain.wal_left}; "
        f"wall {time.monotonic() - started:.0f} s; per run: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in chain.seconds.items())
        + "; clean runs: " + ", ".join(f"{k} {v:.0f} s"
                                       for k, v in chain.clean.seconds.items()))


def _check_dagster(chain: Chain, *, killed: int, succeeded: int, exact: bool = True) -> None:
    """A SIGKILLed run never records its end: it stays STARTED in the run storage (nothing
    marks it failed without the daemon's run monitoring), and blocks none of the runs
    after it. ``exact``: every kill hit a Dagster run and every success is one run."""
    runs = dagster_runs(chain.folder)
    statuses = [s for _, _, s in runs]
    assert statuses and statuses[0] == "SUCCESS", f"the latest run did not succeed: {runs}"
    assert set(statuses) <= {"STARTED", "SUCCESS"}, runs
    if exact:
        assert statuses.count("STARTED") == killed, runs
        assert statuses.count("SUCCESS") == succeeded, runs
    else:
        assert statuses.count("STARTED") <= killed, runs
        assert statuses.count("SUCCESS") >= succeeded, runs


def test_window_start_reaches_back_to_days_loaded_by_a_killed_run() -> None:
    """The incremental window starts at the earliest export day loaded since the models'
    last completed build (minus the lookback) when that is earlier than the run's own
    days: a day reloaded by a run killed before dbt rebuilt it is rebuilt by the next."""
    from orchestration.assets.dbt import INCREMENTAL_KEYS
    from orchestration.dbt_args import window_start

    assert {k.path[-1] for k in INCREMENTAL_KEYS} == {
        "int_user_activity_days", "int_creator_daily_activity", "events",
        "int_funnel_attempts", "int_funnel_event_days", "int_sessions", "satisfaction_daily",
        "api_health_daily", "agent_version_daily", "intent_daily", "nlu_daily",
        "int_session_agents", "int_agent_daily_events", "int_intent_feedback",
        "int_path_user_edges"}
    assert window_start(None, None, 7) is None  # nothing loaded since: the latest day
    assert window_start("2026-02-01", None, 7) == "2026-02-01"
    assert window_start(None, date(2026, 1, 15), 7) == "2026-01-08"
    assert window_start("2026-02-01", date(2026, 1, 15), 7) == "2026-01-08"
    assert window_start("2026-01-01", date(2026, 1, 15), 7) == "2026-01-01"


def test_kill_points_then_recovery(sample: Sample, clean_runs: CleanRuns,
                                  record_property) -> None:
    """The default chain: 4 kill points (training, ingest, dbt, publish) and 2 successful
    runs: the second recovers from three kills in a row; the reader holds the first
    publish through the 4 runs after it (``--long``: through every later run)."""
    started = time.monotonic()
    folder = Folder(sample.base / "chain")
    sample.first_landing(folder)
    chain = Chain(folder, sample, clean_runs)
    try:
        # the first run (nothing published yet) killed once the models are trained and
        # registered, before the training step completes and anything is scored
        chain.kill("K1-training", "ml.training.written")
        assert not folder.serving.exists()
        chain.succeed("R1-recovery")  # the first publish; the reader opens it
        before = events_by_day(folder.warehouse)[RESENT_DAY]
        chain.arrive()
        # the run's first range is the old day (a file re-sent): killed with the day's
        # new rows written, not committed; the day keeps its previous load
        chain.kill("K2-ingest", "ingest.before_commit:1")
        assert events_by_day(folder.warehouse)[RESENT_DAY] == before
        # the run that reloads it, killed after the 3rd dbt model (the seed and two
        # staging views): the incremental models are not rebuilt for the reloaded day
        chain.kill("K3-dbt", "dbt.after_model:3")
        assert events_by_day(folder.warehouse)[RESENT_DAY] != before
        # the next run has no export day to load: it must still rebuild the days the
        # killed run loaded; killed with the new serving file complete, not renamed yet
        chain.kill("K4-publish", "publish.before_rename")
        assert any(p.name.startswith(".serving.duckdb.") for p in leftovers(folder))
        # recovers from the three kills: equal to the clean runs' final state
        chain.succeed("R2-recovery")
        _check_dagster(chain, killed=4, succeeded=2)
        assert chain.reader_runs >= 4
    finally:
        chain.close()
    summary = _summary(chain, started)
    record_property("crash_recovery", summary)
    print(summary)


# ------------------------------------------------------------------------- --long

LONG_KILLS_FIRST_LOAD = [
    # (label, failpoint) on a fresh warehouse, each run continuing from the previous kill
    ("L-ingest-first-commit", "ingest.before_commit:1"),
    ("L-ingest-third-commit", "ingest.before_commit:3"),
    ("L-ingest-entity", "ingest.entity_loaded:2"),
    ("L-raw-checks", "checks.raw.recorded:3"),
    ("L-dbt-seed", "dbt.after_model:1"),
    ("L-dbt-intermediate", "dbt.after_model:16"),
    ("L-mart-checks", "checks.marts.recorded:7"),
    ("L-ml-between-steps", "ml.step:3"),
    ("L-ml-features", "ml.features.written"),
    ("L-ml-before-training", "ml.step:9"),
    ("L-ml-training", "ml.training.written"),
    ("L-ml-checks", "checks.ml.recorded:5"),
    ("L-dbt-after-ml", "dbt.after_model:33"),
    ("L-publish-first", "publish.before_rename"),  # nothing ever published: no file after
]
LONG_KILLS_NEW_DATA = [
    ("L-ingest-resent", "ingest.before_commit:1"),
    ("L-dbt-resent", "dbt.after_model:2"),
    ("L-ingest-new-days", "ingest.before_commit:2"),
    ("L-ingest-new-days-3", "ingest.before_commit:3"),
]
LONG_KILLS_OUTPUTS = [
    ("L-report-daily", "reports.daily.rendered", False),
    ("L-report-weekly", "reports.weekly.rendered", False),
    ("L-alerts", "alerts.before_delivery", False),
    ("L-publish-mid-copy-1", "publish.table_copied:1", False),
    ("L-publish-mid-copy-12", "publish.table_copied:12", False),
    ("L-publish-renamed", "publish.after_rename", True),
    ("L-parquet-1", "publish.parquet_copied:1", True),
    ("L-parquet-2", "publish.parquet_copied:2", True),
    ("L-parquet-9", "publish.parquet_copied:9", True),
]


@pytest.mark.long
def test_kill_points_then_recovery_long(sample: Sample, clean_runs: CleanRuns,
                                        pytestconfig, record_property) -> None:
    """Every kill point (the repeated ones at several N), then kills from outside at
    random (seeded) moments, each followed by the checks; successful runs in between."""
    assert long_variant(pytestconfig)
    started = time.monotonic()
    folder = Folder(sample.base / "chain-long")
    sample.first_landing(folder)
    chain = Chain(folder, sample, clean_runs)
    rng = random.Random(20261130)
    killed_runs = 0
    try:
        for label, fp in LONG_KILLS_FIRST_LOAD:
            chain.kill(label, fp)
            assert not folder.serving.exists()
        chain.succeed("L-R1")
        chain.arrive()
        for label, fp in LONG_KILLS_NEW_DATA:
            chain.kill(label, fp)
        chain.succeed("L-R2")
        for label, fp, swapped in LONG_KILLS_OUTPUTS:
            chain.kill(label, fp, swapped=swapped)
        chain.succeed("L-R3")
        killed_runs = len(chain.kills)
        # from outside, at random moments (seeded fractions of the last successful run's
        # duration, so the kills spread over a whole run on a fast or a slow machine):
        # no failpoint at all
        full_run = chain.seconds["L-R3"]
        succeeded_outside = 0
        for i in range(8):
            delay = rng.uniform(0.05, 1.0) * full_run
            if chain.kill_from_outside(f"L-outside-{i}", delay):
                killed_runs += 1
            else:
                succeeded_outside += 1
        chain.succeed("L-R4")
        _check_dagster(chain, killed=killed_runs, succeeded=4 + succeeded_outside,
                       exact=False)
    finally:
        chain.close()
    summary = _summary(chain, started)
    record_property("crash_recovery_long", summary)
    print(summary)
