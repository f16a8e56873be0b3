"""Write the event export of one day: files, late and re-sent events, faults, counts.

Per export day D the rows are the events of sessions that started on D, plus late rows
(sessions of the 7 days before, synced late by offline mobile clients) and re-sent
copies of earlier lines. They are spread over 3 or 4 files (``.ndjson``,
``.ndjson.gz`` and ``.parquet``, every day all three) by arrival time. Faulty lines,
unknown top-level fields, explicit ``"user_id": null`` and re-sent copies only go to
NDJSON files (a Parquet file has a fixed schema). The last export day is written
without its last file and without ``_SUCCESS``: it is still growing.

Counts (``planted``) cover complete days only and count *lines*; see
:data:`PLANTED_DEFINITIONS`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sample_exports import faults as flt
from sample_exports import frame as fr
from sample_exports import vocab
from sample_exports.frame import Frame
from sample_exports.render import Renderer
from sample_exports.util import DAY_MS, STREAM_EXPORT, STREAM_FAULTS, rng
from sample_exports.world import World
from sample_exports.writer import (
    BackgroundWriter,
    clear_folder,
    mark_complete,
    write_file,
    write_parquet,
)

FORMATS = ("ndjson", "ndjson.gz", "parquet")
RESEND_RATE = 0.003
LATE_MAX_DAYS = 7
N_KNOWN = len(vocab.EVENT_TYPES)

PLANTED_DEFINITIONS: dict[str, str] = {
    "invalid_json": "lines that are not a JSON object: truncated, a trailing '}', a JSON "
                    "array or string (loader reason invalid_json)",
    "invalid_utf8": "lines with bytes that are not UTF-8 (reason invalid_utf8)",
    "missing_field": "lines lacking one of event_id, event_type, timestamp, session_id, or "
                     "with it null (reason missing_field)",
    "wrong_type": "lines with one value of the wrong JSON type (reason wrong_type)",
    "out_of_range": "lines with one number out of its range (reason out_of_range)",
    "invalid_timestamp": "lines whose timestamp is not ISO-8601 (reason invalid_timestamp)",
    "timestamp_too_late": "lines whose timestamp is 2-30 days after the export date "
                          "(reason timestamp_too_late)",
    "resent_duplicates": "valid lines repeating an event_id (identical content) that an "
                         "earlier line (earlier file of the same day or an earlier day) "
                         "already had; each such line counts once",
    "late_events": "valid lines whose timestamp is before the export date (UTC), re-sent "
                   "copies included",
    "next_day_events": "valid lines whose timestamp falls on the day after the export date "
                       "(sessions running past midnight UTC), re-sent copies included",
    "unknown_event_type": "valid lines with an event_type the contract does not list",
    "unknown_fields": "valid lines with a top-level field the contract does not list "
                      "(client_version; NDJSON only)",
    "unknown_data_fields": "valid lines whose data object has a field the contract does not "
                           "list (ui_variant)",
    "anonymous_events": "valid lines without a user_id (absent or null)",
    "explicit_null_user": "the anonymous_events lines written with \"user_id\": null",
    "signed_out_events": "anonymous_events lines of a known user written signed out "
                         "(anonymous_id only; resolved to that user, metrics.md Identity)",
    "device_events": "valid lines carrying an anonymous_id (contract 1.1)",
    "offset_timestamps": "valid lines whose timestamp has a numeric offset (+01:00, -05:00, "
                         "+00:00 ...)",
    "naive_timestamps": "valid lines whose timestamp has no offset (meaning UTC)",
    "blank_lines": "empty or whitespace-only lines in NDJSON files (skipped, not rejected)",
}


@dataclass
class ExportStats:
    """What the event export wrote, complete days and in total."""

    lines_total: int = 0
    lines_complete: int = 0
    files: Counter = field(default_factory=Counter)
    files_complete: Counter = field(default_factory=Counter)
    planted: Counter = field(default_factory=Counter)
    by_type: Counter = field(default_factory=Counter)
    lines_by_day: dict[str, int] = field(default_factory=dict)


class EventExporter:
    """Exports simulated days as event files; keeps late rows and re-sends for later days."""

    def __init__(self, world: World, landing: Path, *, faults: bool, write: bool,
                 writer: BackgroundWriter | None = None) -> None:
        self.w = world
        self.out = writer or BackgroundWriter(synchronous=True)
        self.tl = world.timeline
        self.folder = landing / "events"
        self.faults = faults
        self.write = write
        self.renderer = Renderer(world) if write else None
        self.pending: dict[int, list[Frame]] = defaultdict(list)
        self.stats = ExportStats()
        self._first_fault_day_done = False

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()

    def add(self, t: int, day: Frame) -> None:
        """Take the simulated events of day ``t``; export it when ``t`` is an export day.

        Days before the first export day (the warm-up) are simulated for their state only:
        their events, late ones included, are never exported.
        """
        if t < 0:
            return
        export_t = day["export_t"]
        later = np.flatnonzero((export_t > t) & (export_t < self.tl.days))
        if len(later):
            rows = fr.take(day, later)
            for te in np.unique(rows["export_t"]):
                self.pending[int(te)].append(fr.take(rows, rows["export_t"] == te))
        if t < self.tl.days:
            self._export(t, fr.concat([day, *self.pending.pop(t, [])]))

    # --- one export day ------------------------------------------------------------

    def _export(self, t: int, rows: Frame) -> None:
        """Export the rows whose export_t is ``t`` (the frame may hold others: skipped).

        Works on positions into ``rows``: a same-day re-send is the same position listed
        twice, so no row is copied until the renderer gathers the final order.
        """
        w, tl = self.w, self.tl
        gen = rng(w.seed, STREAM_EXPORT, t)
        fgen = rng(w.seed, STREAM_FAULTS, t)
        day0 = tl.day_ms(t)
        complete = t < tl.days - 1
        n_files = 3 + int(gen.random() < 0.35)
        formats = [FORMATS[i] for i in gen.permutation(3)]
        if n_files == 4:
            formats.append("ndjson.gz" if gen.random() < 0.5 else "ndjson")
        nd_files = np.array([i for i, f in enumerate(formats) if f != "parquet"])
        is_nd_file = np.array([f != "parquet" for f in formats])
        pos = np.flatnonzero(rows["export_t"] == t)
        n = len(pos)
        ts = rows["ts"][pos]

        # arrival order and files: fresh rows by time, late rows and copies anywhere
        copy = rows["is_copy"][pos] == 1
        late = ts < day0
        key = np.clip((ts - day0) / DAY_MS, 0.0, 0.99999)
        key = np.where(late | copy, gen.random(n), key)
        file = np.minimum((key * n_files).astype(np.int64), n_files - 1)
        file = np.where(copy, nd_files[gen.integers(0, len(nd_files), n)], file)
        nd = is_nd_file[file]

        # row flags of first copies (re-sent copies keep the original's)
        first = ~copy
        r = gen.random((3, n))
        fp = pos[first]
        rows["null_user"][fp] = ((rows["user"][pos] < 0) & nd & (r[0] < 0.5))[first]
        rows["client_version"][fp] = np.where(
            nd & (r[1] < 0.004), (r[1] * 1e6).astype(np.int64) % 2, -1)[first]
        rows["ui_variant"][fp] = np.where(
            r[2] < 0.003, (r[2] * 1e6).astype(np.int64) % 2, -1)[first]

        # faults: replace first-copy NDJSON lines
        fault = np.full(n, -1, dtype=np.int8)
        if self.faults:
            cand = np.flatnonzero(first & nd)
            counts = flt.plan_counts(
                fgen, len(cand), at_least_one=complete and not self._first_fault_day_done)
            if complete and sum(counts.values()):
                self._first_fault_day_done = True
            total = sum(counts.values())
            chosen = fgen.choice(cand, size=total, replace=False) if total else cand[:0]
            kinds = np.repeat(np.arange(len(flt.EVENT_FAULT_KINDS)),
                              [counts[k] for k in flt.EVENT_FAULT_KINDS])
            fault[chosen] = kinds

        # re-sends: copies of valid first copies, later the same day or 1-3 days later
        dup = np.zeros(n, dtype=bool)  # a same-day re-send (the position repeats)
        if self.faults:
            cand = np.flatnonzero(first & (fault < 0))
            m = int(gen.binomial(len(cand), RESEND_RATE)) if len(cand) else 0
            orig = np.sort(gen.choice(cand, size=m, replace=False)) if m else cand[:0]
            k = gen.choice(4, size=m, p=[0.4, 0.3, 0.2, 0.1])
            oldest = ts[orig] + LATE_MAX_DAYS * DAY_MS
            k = np.where(oldest < tl.day_ms(t + k), 0, k)
            k = np.where((k == 0) & (file[orig] >= nd_files.max()), 1, k)
            ok = (oldest >= tl.day_ms(t + k)) & (t + k < tl.days)
            orig, k = orig[ok], k[ok]
            later = k > 0
            if later.any():
                copies = fr.take(rows, pos[orig[later]])
                copies["is_copy"][:] = 1
                copies["export_t"] = (t + k[later]).astype(np.int32)
                for te in np.unique(copies["export_t"]):
                    self.pending[int(te)].append(fr.take(copies, copies["export_t"] == te))
            same = orig[~later]
            if len(same):
                n_later = (nd_files[None, :] > file[same][:, None]).sum(axis=1)
                pick = gen.integers(0, 1 << 30, len(same)) % n_later
                sc_file = nd_files[len(nd_files) - n_later + pick]
                pos = np.concatenate([pos, pos[same]])
                key = np.concatenate([key, gen.random(len(same))])
                file = np.concatenate([file, sc_file])
                fault = np.concatenate([fault, np.full(len(same), -1, dtype=np.int8)])
                dup = np.concatenate([dup, np.ones(len(same), dtype=bool)])

        # final order: by file, then arrival; the incomplete day lacks its last file
        order = np.lexsort((key, file))
        n_write = n_files if complete else n_files - 1
        order = order[file[order] < n_write]
        idx, file, fault, dup = pos[order], file[order], fault[order], dup[order]

        blanks = self._blank_lines(gen, file, is_nd_file) if (self.faults and complete) else {}
        self._count(t, rows, idx, fault, dup, complete, sum(blanks.values()))
        for i in range(n_write):
            self.stats.files[formats[i]] += int(self.write)
            self.stats.files_complete[formats[i]] += int(self.write and complete)
        if self.write:
            self._write_files(t, rows, idx, file, fault, formats[:n_write], blanks, complete,
                              fgen)

    @staticmethod
    def _blank_lines(gen: np.random.Generator, file: np.ndarray,
                     is_nd_file: np.ndarray) -> dict[int, int]:
        """Blank lines to insert: {NDJSON file index: how many} (a quarter of the days)."""
        if gen.random() >= 0.25:
            return {}
        nd_idx = [i for i in range(len(is_nd_file)) if is_nd_file[i] and (file == i).any()]
        if not nd_idx:
            return {}
        f = nd_idx[int(gen.integers(0, len(nd_idx)))]
        return {f: 1 + int(gen.random() < 0.3)}

    def _count(self, t: int, rows: Frame, order: np.ndarray, fault: np.ndarray,
               dup: np.ndarray, complete: bool, blanks: int) -> None:
        """Add the day's written lines (rows at ``order``) to the statistics."""
        s = self.stats
        n = len(order)
        s.lines_total += n
        s.lines_by_day[self.tl.date_of(t).isoformat()] = n
        if not complete:
            return
        s.lines_complete += n
        day0 = self.tl.day_ms(t)
        for i, kind in enumerate(flt.EVENT_FAULT_KINDS):
            s.planted[kind] += int((fault == i).sum())
        v = order[fault < 0]

        def col(name: str) -> np.ndarray:
            return rows[name][v]

        ts, user = col("ts"), col("user")
        anon = (user < 0) | (col("hide_user") == 1)
        p = s.planted
        p["resent_duplicates"] += int(((col("is_copy") == 1) | dup[fault < 0]).sum())
        p["late_events"] += int((ts < day0).sum())
        p["next_day_events"] += int((ts >= day0 + DAY_MS).sum())
        etype = col("etype").astype(np.int64)
        p["unknown_event_type"] += int((etype >= N_KNOWN).sum())
        p["unknown_fields"] += int((col("client_version") >= 0).sum())
        p["unknown_data_fields"] += int((col("ui_variant") >= 0).sum())
        p["anonymous_events"] += int(anon.sum())
        p["explicit_null_user"] += int(((user < 0) & (col("null_user") == 1)).sum())
        p["signed_out_events"] += int((col("hide_user") == 1).sum())
        p["device_events"] += int((col("device") >= 0).sum())
        tsfmt = col("tsfmt")
        p["offset_timestamps"] += int((tsfmt == 1).sum())
        p["naive_timestamps"] += int((tsfmt == 2).sum())
        p["blank_lines"] += blanks
        counts = np.bincount(etype, minlength=len(vocab.ALL_EVENT_TYPES))
        for code, c in enumerate(counts):
            if c:
                s.by_type[vocab.ALL_EVENT_TYPES[code]] += int(c)

    def _write_files(self, t: int, rows: Frame, order: np.ndarray, file: np.ndarray,
                     fault: np.ndarray, formats: list[str], blanks: dict[int, int],
                     complete: bool, fgen: np.random.Generator) -> None:
        """Render and write the day's files (rows at ``order``, sorted by file)."""
        assert self.renderer is not None
        d = self.tl.date_of(t)
        folder = self.folder / d.isoformat()
        clear_folder(folder, prefixes=("events_",))
        folder.mkdir(parents=True, exist_ok=True)
        is_nd = np.array([f != "parquet" for f in formats])[file]
        nd_pos = np.flatnonzero(is_nd)
        lines = self.renderer.ndjson(rows, order[nd_pos])
        nd_file, nd_fault = file[nd_pos], fault[nd_pos]
        bounds = np.searchsorted(nd_file, np.arange(len(formats) + 1))
        for i, fmt in enumerate(formats):
            path = folder / f"events_{d:%Y%m%d}_{i:03d}.{fmt}"
            if fmt == "parquet":
                table = self.renderer.parquet_table(rows, order[file == i])
                self.out.submit(write_parquet, path, table)
                continue
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            bad = lo + np.flatnonzero(nd_fault[lo:hi] >= 0)
            blank_at = lo + int(fgen.integers(0, max(hi - lo, 1))) if i in blanks else -1
            chunks: list[bytes | memoryview] = []
            cursor = lo
            for row in sorted({*bad.tolist(), *([blank_at] if blank_at >= 0 else [])}):
                chunks += lines.segments(cursor, row)
                cursor = row
                if row == blank_at:
                    chunks.append(b"\n" * (blanks[i] - 1) + b"   \n")
                if nd_fault[row] >= 0:
                    kind = flt.EVENT_FAULT_KINDS[nd_fault[row]]
                    chunks.append(flt.corrupt(kind, lines.line(row), d, fgen))
                    cursor = row + 1
            chunks += lines.segments(cursor, hi)
            self.out.submit(write_file, path, chunks, gz=fmt.endswith(".gz"))
        if complete:
            self.out.submit(mark_complete, folder)
