"""``generate_exports``: the whole landing folder for a seed, day by day, and its manifest."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from sample_exports.events import Simulator
from sample_exports.exporter import PLANTED_DEFINITIONS, EventExporter
from sample_exports.faults import EVENT_FAULT_KINDS
from sample_exports.platform import PLATFORM_FAULTS, PlatformExporter
from sample_exports.util import DAY_MS, Timeline
from sample_exports.world import CONVERSION_WINDOW_DAYS, PlantedIncidents, World, build_world
from sample_exports.writer import BackgroundWriter

log = logging.getLogger(__name__)

DEMO_USERS = 2_000
EXACT_UP_TO = 2_000_000  # targets up to this many lines are calibrated exactly (dry runs)
TOLERANCE = 0.03
MAX_REFINE = 6
MANIFEST_NAME = "_generator_manifest.json"
Progress = Callable[[str, int, int], None]


@dataclass
class GenerationSummary:
    """What ``generate_exports`` wrote. ``planted`` counts lines of complete days only."""

    landing_dir: Path
    seed: int
    days: int
    users: int
    first_export_date: date
    last_export_date: date
    incomplete_day: date
    events_written: int  # every event line written (faulty ones too), all days
    events_written_complete: int  # the same, complete export days only
    files_by_format: dict[str, int]  # every file written: ndjson, ndjson.gz, parquet, csv, csv.gz
    seconds: float
    planted: dict[str, int]
    files_by_format_complete: dict[str, int] = field(default_factory=dict)  # complete days
    planted_platform: dict[str, dict[str, int]] = field(default_factory=dict)
    events_by_type: dict[str, int] = field(default_factory=dict)  # valid lines, complete days
    events_by_export_day: dict[str, int] = field(default_factory=dict)
    platform_rows: dict[str, int] = field(default_factory=dict)  # rows, complete days
    truth: dict = field(default_factory=dict)
    faults: bool = True
    target_events: int | None = None
    manifest_path: Path | None = None

    @property
    def first_date(self) -> date:
        return self.first_export_date

    @property
    def last_date(self) -> date:
        return self.last_export_date

    def to_dict(self) -> dict:
        """JSON-ready dict (dates as ISO strings, paths as strings)."""
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, date):
                out[k] = v.isoformat()
            elif isinstance(v, Path):
                out[k] = str(v)
        return out


def _experiment_realised(world: World, last_complete_end_ms: int) -> dict:
    """Conversions per variant among users whose 14-day window ended by the last complete day."""
    u, p = world.users, world.payments
    window = CONVERSION_WINDOW_DAYS * DAY_MS
    eligible = (u.variant >= 0) & (u.assigned_ms + window <= last_complete_end_ms)
    charge = ~p.refund
    a = u.assigned_ms[p.user]
    hit = charge & (p.paid_ms >= a) & (p.paid_ms < a + window) & (u.variant[p.user] >= 0)
    converted = np.zeros(len(u), dtype=bool)
    converted[p.user[hit]] = True
    out = {}
    for code, name in ((0, "control"), (1, "treatment")):
        m = eligible & (u.variant == code)
        users = int(m.sum())
        conv = int((converted & m).sum())
        out[name] = {"users": users, "conversions": conv,
                     "rate": round(conv / users, 6) if users else None}
    return out


def _run(world: World, landing: Path, *, faults: bool, write: bool,
         progress: Progress | None) -> tuple[EventExporter, PlatformExporter | None]:
    """Simulate and export every day; ``write=False`` only counts event lines (dry run)."""
    tl = world.timeline
    sim = Simulator(world)
    writer = BackgroundWriter()
    events = EventExporter(world, landing, faults=faults, write=write, writer=writer)
    platform = (PlatformExporter(world, landing, faults=faults, write=write, writer=writer)
                if write else None)
    try:
        for t in range(-tl.warmup_days, tl.days):
            events.add(t, sim.day(t))
            if t >= 0:
                if platform is not None:
                    platform.export_day(t)
                if progress is not None:
                    progress("export days", t + 1, tl.days)
    finally:
        events.close()
        writer.close()
    return events, platform


def _dry_lines(seed: int, users: int, tl: Timeline, faults: bool) -> int:
    """Event lines the generator writes for these arguments (simulated, nothing written)."""
    events, _ = _run(build_world(seed, users, tl), Path("."), faults=faults, write=False,
                     progress=None)
    return events.stats.lines_total


def _users_for_target(target: int, seed: int, tl: Timeline, faults: bool,
                      progress: Progress | None) -> int:
    """Users that give about ``target`` event lines.

    A pilot run at a small size gives lines per user. Each user count draws a different
    world, so small worlds vary by ~10% around that ratio: for targets up to
    ``EXACT_UP_TO`` the candidate count is simulated (dry, cheap at that size) and
    corrected until within ``TOLERANCE``; the same seed and count then generate exactly
    the lines counted. Large worlds vary by a few percent only and use the pilot ratio.
    """
    pilot = int(np.clip(target / 130, 200, 3_000))
    steps = 2 + (MAX_REFINE if target <= EXACT_UP_TO else 0)
    if progress is not None:
        progress("calibrating", 0, steps)
    lines = _dry_lines(seed, pilot, tl, faults)
    users = max(1, round(pilot * target / max(lines, 1)))
    log.info("calibration: %d pilot users gave %d lines -> %d users", pilot, lines, users)
    if target <= EXACT_UP_TO:
        tried: dict[int, int] = {}
        for step in range(MAX_REFINE):
            if progress is not None:
                progress("calibrating", 1 + step, steps)
            lines = tried[users] = _dry_lines(seed, users, tl, faults)
            if abs(lines / target - 1) <= TOLERANCE:
                break
            nxt = max(1, round(users * target / max(lines, 1)))
            while nxt in tried:
                nxt += 1
            users = nxt
        users = min(tried, key=lambda u: abs(tried[u] / target - 1))
        log.info("calibration: %d users give %d lines (target %d)", users, tried[users], target)
    if progress is not None:
        progress("calibrating", steps, steps)
    return users


def generate_exports(
    landing_dir: Path,
    *,
    seed: int = 42,
    users: int | None = None,
    target_events: int | None = None,
    days: int = 60,
    start_date: date = date(2026, 1, 1),
    faults: bool = True,
    progress: Progress | None = None,
    incidents: PlantedIncidents | None = None,
) -> GenerationSummary:
    """Write sample raw exports (contract v1) under ``landing_dir``; return what was written.

    ``users`` or ``target_events`` (approximate event lines, within ~10%) sets the size;
    neither gives a demo of ~2,000 users. The last export day is written without
    ``_SUCCESS``. Same arguments give byte-identical files. ``incidents``: a checkout
    outage and/or a bot burst planted on given days (none by default; the manifest's
    truth names them).
    """
    began = time.perf_counter()
    if users is not None and target_events is not None:
        raise ValueError("give users or target_events, not both")
    if days < 1:
        raise ValueError("days must be at least 1")
    if users is not None and users < 1:
        raise ValueError("users must be positive")
    if target_events is not None and target_events < 1:
        raise ValueError("target_events must be positive")
    landing_dir = Path(landing_dir)
    tl = Timeline(start=start_date, days=days)
    if users is None:
        users = (DEMO_USERS if target_events is None
                 else _users_for_target(target_events, seed, tl, faults, progress))
    log.info("generating %d users over %d export days from %s (seed %d) into %s",
             users, days, start_date, seed, landing_dir)
    world = build_world(seed, users, tl, incidents)
    events, platform = _run(world, landing_dir, faults=faults, write=True, progress=progress)
    assert platform is not None

    stats = events.stats
    planted = {k: int(stats.planted.get(k, 0)) for k in EVENT_FAULT_KINDS}
    planted.update({k: int(stats.planted.get(k, 0)) for k in PLANTED_DEFINITIONS
                    if k not in planted})
    planted.update({k: int(platform.planted.get(k, 0)) for k in PLATFORM_FAULTS})
    event_fmts, csv_fmts = ("ndjson", "ndjson.gz", "parquet"), ("csv", "csv.gz")
    files = {fmt: int(stats.files.get(fmt, 0)) for fmt in event_fmts}
    files.update({fmt: int(platform.files.get(fmt, 0)) for fmt in csv_fmts})
    files_complete = {fmt: int(stats.files_complete.get(fmt, 0)) for fmt in event_fmts}
    files_complete.update({fmt: int(platform.files_complete.get(fmt, 0)) for fmt in csv_fmts})
    truth = world.truth()
    truth["experiment"]["realised"] = _experiment_realised(world, tl.day_ms(days - 1))
    truth["revenue_complete_days"] = {
        cur: {k.replace("_cents", ""): round(v / 100, 2) for k, v in rev.items()}
        for cur, rev in sorted(platform.revenue.items())
    }
    summary = GenerationSummary(
        landing_dir=landing_dir,
        seed=seed,
        days=days,
        users=users,
        first_export_date=tl.date_of(0),
        last_export_date=tl.date_of(days - 1),
        incomplete_day=tl.date_of(days - 1),
        events_written=stats.lines_total,
        events_written_complete=stats.lines_complete,
        files_by_format=files,
        files_by_format_complete=files_complete,
        seconds=0.0,
        planted=planted,
        planted_platform={e: dict(sorted(c.items()))
                          for e, c in sorted(platform.planted_by_entity.items())},
        events_by_type=dict(sorted(stats.by_type.items())),
        events_by_export_day=dict(stats.lines_by_day),
        platform_rows=dict(platform.rows_complete),
        truth=truth,
        faults=faults,
        target_events=target_events,
        manifest_path=landing_dir / MANIFEST_NAME,
    )
    manifest = summary.to_dict()
    del manifest["seconds"]  # keep the manifest byte-identical for the same arguments
    manifest["landing_dir"] = "."
    manifest["manifest_path"] = MANIFEST_NAME
    manifest["planted_definitions"] = {
        **PLANTED_DEFINITIONS,
        **{k: f"rows of {e} rejected with reason {r}" for k, (e, r, _) in PLATFORM_FAULTS.items()},
    }
    landing_dir.mkdir(parents=True, exist_ok=True)
    (landing_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False)
                                             + "\n", encoding="utf-8")
    summary.seconds = round(time.perf_counter() - began, 3)
    log.info("wrote %d event lines (%d in complete days) and %s files in %.1f s",
             summary.events_written, summary.events_written_complete,
             sum(files.values()), summary.seconds)
    return summary
