"""Platform CSV exports: daily snapshots and increments, with a few planted faults.

Snapshots (full, as of the end of the export day): users, creators, programs,
enrollments, experiment_assignments. Increments (only that day's rows): payments,
content_metrics. Every third day of an entity (staggered) is written as ``.csv.gz``.
CSV is RFC 4180: header row, comma, double quotes around every string value (quotes
doubled inside), ``\\n`` line ends, UTF-8; an empty cell is a missing value. Amounts are
decimal strings (``49.00``); timestamps ISO-8601, mostly ``Z``, some users' signup_at
with their zone's offset or naive.

Planted faults (complete days only, counted in ``planted_platform``):

* users: one row whose signup_at is not a date-time (loader reason invalid_timestamp);
  the user is back, correct, in the next day's snapshot;
* payments: two extra rows of kind ``chargeback`` (invalid_value) and one extra row
  with an empty currency (missing_field);
* content_metrics: one extra line with one column too many (wrong_column_count).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa

from sample_exports import vocab
from sample_exports.util import (
    DAY_MS,
    STREAM_CONTENT,
    STREAM_PLATFORM,
    iso_naive,
    iso_offset,
    iso_utc,
    rng,
)
from sample_exports.world import EXPERIMENT_ID, World
from sample_exports.writer import (
    BackgroundWriter,
    clear_folder,
    csv_bytes,
    mark_complete,
    write_csv_file,
)

ENTITIES: tuple[str, ...] = (
    "users", "creators", "programs", "enrollments", "payments", "experiment_assignments",
    "content_metrics",
)
PLATFORM_FAULTS: dict[str, tuple[str, str, int]] = {
    # key in planted: (entity, loader reason, how many)
    "platform_invalid_timestamp": ("users", "invalid_timestamp", 1),
    "platform_invalid_value": ("payments", "invalid_value", 2),
    "platform_missing_field": ("payments", "missing_field", 1),
    "platform_wrong_column_count": ("content_metrics", "wrong_column_count", 1),
}


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    """``prefix`` + 1-based zero-padded numbers, e.g. ``pay_0000001``."""
    return pa.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], pa.string())


def _money(cents: np.ndarray) -> list[str]:
    """Decimal strings with two places (``4900`` -> ``49.00``)."""
    return [f"{c // 100}.{c % 100:02d}" for c in np.asarray(cents, dtype=np.int64).tolist()]


def _s(values: np.ndarray | list[str]) -> pa.Array:
    return pa.array(np.asarray(values, dtype=str).tolist() if not isinstance(values, list)
                    else values, pa.string())


class PlatformExporter:
    """Writes the platform entities of each export day."""

    def __init__(self, world: World, landing: Path, *, faults: bool, write: bool,
                 writer: BackgroundWriter | None = None) -> None:
        self.w = world
        self.out = writer or BackgroundWriter(synchronous=True)
        self.tl = world.timeline
        self.folder = landing / "platform"
        self.faults = faults
        self.write = write
        self.files: Counter = Counter()
        self.files_complete: Counter = Counter()
        self.rows_complete: Counter = Counter()
        self.planted: Counter = Counter()
        self.planted_by_entity: dict[str, Counter] = defaultdict(Counter)
        self.revenue: dict[str, dict[str, int]] = {}
        self._prepare()
        self._fault_days = self._plan_faults()

    # --- static columns ------------------------------------------------------------

    def _prepare(self) -> None:
        w = self.w
        u = w.users
        n = len(u)
        gen = rng(w.seed, STREAM_PLATFORM, 0)
        digits = np.char.zfill(np.arange(1, n + 1).astype(str), max(6, len(str(n))))
        first = np.array(vocab.FIRST_NAMES)[u.first_names]
        last = np.array(vocab.LAST_NAMES)[u.last_names]
        display = np.where(gen.random(n) < 0.02, np.char.add(np.char.add(last, ", "), first),
                           np.char.add(np.char.add(first, " "), last))
        offsets = np.array([c.offset_minutes for c in vocab.COUNTRIES])[u.country]
        r = gen.random(n)
        signup = np.where(r < 0.06, iso_offset(u.signup_ms, offsets),
                          np.where(r < 0.10, iso_naive(u.signup_ms), iso_utc(u.signup_ms)))
        self.users = pa.table({
            "user_id": _s(u.ids),
            "email": _s(np.char.add(np.char.add("user", digits), "@example.com")),
            "display_name": _s(display),
            "signup_at": _s(signup),
            "country": _s(np.array([c.code for c in vocab.COUNTRIES])[u.country]),
            "timezone": _s(np.array([c.timezone for c in vocab.COUNTRIES])[u.country]),
            "acquisition_channel": _s(np.array(w.acquisition_channels)[u.acquisition]),
            "plan": _s(np.array(vocab.PLANS)[u.plan]),
        })
        c = w.creators
        self.creators = pa.table({
            "creator_id": _s(c.ids),
            "name": _s(c.names),
            "category": _s([vocab.CATEGORIES[k].name for k in c.category]),
            "joined_at": _s(iso_utc(c.joined_ms)),
        })
        p = w.programs
        topics = ["|".join(vocab.TOPICS[k] for k in row if k >= 0) for row in p.topics]
        self.programs = pa.table({
            "program_id": _s(p.ids),
            "creator_id": _s([c.ids[k] for k in p.creator]),
            "title": _s(p.titles),
            "topics": _s(topics),
            "price": _s(_money(np.round(p.price * 100))),
            "currency": _s(np.where(p.eur, "EUR", "USD")),
            "launched_at": _s(iso_utc(p.launched_ms)),
        })
        e = w.enrollments
        self.enr_static = {
            "enrollment_id": _ids("enr_", len(e), 7),
            "user_id": _s(u.ids[e.user]),
            "program_id": _s(np.array(p.ids)[e.program] if len(e) else np.array([], str)),
            "enrolled_at": _s(iso_utc(e.enrolled_ms)),
        }
        pay = w.payments
        self.pay_table = pa.table({
            "payment_id": _ids("pay_", len(pay), 7),
            "user_id": _s(u.ids[pay.user]),
            "program_id": _s(np.array(p.ids)[pay.program] if len(pay) else np.array([], str)),
            "amount": _s(_money(pay.amount_cents)),
            "currency": _s(np.where(pay.eur, "EUR", "USD")),
            "paid_at": _s(iso_utc(pay.paid_ms)),
            "kind": _s(np.where(pay.refund, "refund", "charge")),
        })
        assigned = np.flatnonzero(u.variant >= 0)
        order = assigned[np.argsort(u.assigned_ms[assigned], kind="stable")]
        self.exp_ms = u.assigned_ms[order]
        self.experiment = pa.table({
            "experiment_id": _s([EXPERIMENT_ID] * len(order)),
            "variant": _s(np.where(u.variant[order] == 1, "treatment", "control")),
            "user_id": _s(u.ids[order]),
            "assigned_at": _s(iso_utc(self.exp_ms)),
        })
        ct = w.content
        self.content_ids = np.array([f"ct_{i:05d}" for i in range(1, len(ct) + 1)], dtype=str)
        self.content_published = iso_utc(ct.published_ms)

    def _plan_faults(self) -> dict[str, list[int]]:
        """Complete export days that get each platform fault."""
        if not self.faults or self.tl.days < 2:
            return {}
        gen = rng(self.w.seed, STREAM_PLATFORM, 1)
        complete = self.tl.days - 1
        early = max(1, complete - 1)  # keep the last complete snapshot clean when possible
        plan: dict[str, list[int]] = {}
        for key, (entity, _, count) in PLATFORM_FAULTS.items():
            span = early if entity == "users" else complete
            plan[key] = sorted(int(x) for x in gen.integers(0, span, count))
        return plan

    # --- one day -------------------------------------------------------------------

    def export_day(self, t: int) -> None:
        complete = t < self.tl.days - 1
        day_end = self.tl.day_ms(t + 1)
        tables = {
            "users": self._users(t, day_end, complete),
            "creators": self.creators.filter(pa.array(self.w.creators.joined_ms < day_end)),
            "programs": self.programs.filter(pa.array(self.w.programs.launched_ms < day_end)),
            "enrollments": self._enrollments(day_end),
            "payments": self._payments(t, day_end, complete),
            "experiment_assignments": self.experiment.slice(
                0, int(np.searchsorted(self.exp_ms, day_end, side="left"))),
            "content_metrics": self._content(t),
        }
        extra_lines: dict[str, bytes] = {}
        if complete and t in self._fault_days.get("platform_wrong_column_count", []):
            cm = tables["content_metrics"]
            if cm.num_rows:
                line = csv_bytes(cm.slice(0, 1), header=False).rstrip(b"\n")
                extra_lines["content_metrics"] = line + b',"manual_fix"\n'
                self._plant("platform_wrong_column_count")
        for i, entity in enumerate(ENTITIES):
            table = tables[entity]
            if complete:
                self.rows_complete[entity] += table.num_rows + (entity in extra_lines)
            if not self.write:
                continue
            folder = self.folder / entity / self.tl.date_of(t).isoformat()
            clear_folder(folder, names=(f"{entity}.csv", f"{entity}.csv.gz"))
            gz = (t + i) % 3 == 0
            path = folder / (f"{entity}.csv.gz" if gz else f"{entity}.csv")
            self.out.submit(write_csv_file, path, table, extra_lines.get(entity, b""), gz=gz)
            self.files["csv.gz" if gz else "csv"] += 1
            self.files_complete["csv.gz" if gz else "csv"] += int(complete)
            if complete:
                self.out.submit(mark_complete, folder)

    def _plant(self, key: str, n: int = 1) -> None:
        entity, reason, _ = PLATFORM_FAULTS[key]
        self.planted[key] += n
        self.planted_by_entity[entity][reason] += n

    def _users(self, t: int, day_end: int, complete: bool) -> pa.Table:
        n = int(np.searchsorted(self.w.users.signup_ms, day_end, side="left"))
        table = self.users.slice(0, n)
        hits = self._fault_days.get("platform_invalid_timestamp", []).count(t)
        if complete and hits and n:
            gen = rng(self.w.seed, STREAM_PLATFORM, 100 + t)
            rows = gen.choice(n, size=min(hits, n), replace=False)
            signup = table.column("signup_at").to_pylist()
            bad = ("2026-02-30T08:15:00Z", "31/12/2025 08:15", "last tuesday")
            for k, row in enumerate(rows):
                signup[row] = bad[k % len(bad)]
            table = table.set_column(3, "signup_at", pa.array(signup, pa.string()))
            self._plant("platform_invalid_timestamp", len(rows))
        return table

    def _enrollments(self, day_end: int) -> pa.Table:
        e = self.w.enrollments
        n = int(np.searchsorted(e.enrolled_ms, day_end, side="left"))
        done = (e.completed_ms[:n] >= 0) & (e.completed_ms[:n] < day_end)
        cancelled = ~done & (e.cancelled_ms[:n] >= 0) & (e.cancelled_ms[:n] < day_end)
        code = np.where(done, 2, np.where(cancelled, 1, 0))
        status = pa.array(["active", "cancelled", "completed"]).take(pa.array(code))
        done_idx = np.flatnonzero(done)
        slot = np.full(n, -1, dtype=np.int64)
        slot[done_idx] = np.arange(len(done_idx))
        completed_at = _s(iso_utc(e.completed_ms[done_idx])).take(
            pa.array(slot, mask=slot < 0))
        return pa.table({
            **{k: v.slice(0, n) for k, v in self.enr_static.items()},
            "status": status,
            "completed_at": completed_at,
        })

    def _payments(self, t: int, day_end: int, complete: bool) -> pa.Table:
        pay = self.w.payments
        lo = int(np.searchsorted(pay.paid_ms, day_end - DAY_MS, side="left"))
        hi = int(np.searchsorted(pay.paid_ms, day_end, side="left"))
        table = self.pay_table.slice(lo, hi - lo)
        if complete:
            for cur in ("USD", "EUR"):
                sub = slice(lo, hi)
                mask = pay.eur[sub] == (cur == "EUR")
                rev = self.revenue.setdefault(cur, {"charges_cents": 0, "refunds_cents": 0})
                rev["charges_cents"] += int(pay.amount_cents[sub][mask & ~pay.refund[sub]].sum())
                rev["refunds_cents"] += int(pay.amount_cents[sub][mask & pay.refund[sub]].sum())
        if not complete or not len(pay):
            return table
        extra = []
        gen = rng(self.w.seed, STREAM_PLATFORM, 200 + t)
        for key, kind, currency in (("platform_invalid_value", "chargeback", "USD"),
                                    ("platform_missing_field", "charge", None)):
            for _ in range(self._fault_days.get(key, []).count(t)):
                src = int(gen.integers(0, len(pay)))
                extra.append({
                    "payment_id": f"pay_x{t:03d}{len(extra):02d}",
                    "user_id": str(self.w.users.ids[pay.user[src]]),
                    "program_id": self.w.programs.ids[pay.program[src]],
                    "amount": _money(np.array([pay.amount_cents[src]]))[0],
                    "currency": currency,
                    "paid_at": str(iso_utc(np.array([day_end - DAY_MS + 43_200_000]))[0]),
                    "kind": kind,
                })
                self._plant(key)
        if extra:
            table = pa.concat_tables([table, pa.Table.from_pylist(extra, table.schema)])
        return table

    def _content(self, t: int) -> pa.Table:
        w = self.w
        ct = w.content
        col = t - ct.t0
        expected = ct.expected_impressions[:, col]
        live = np.flatnonzero((ct.published_t <= t) & (t - ct.published_t < 45)
                              & (expected > 0))
        gen = rng(w.seed, STREAM_CONTENT, t)
        plat = [vocab.CONTENT_PLATFORMS[k] for k in range(len(vocab.CONTENT_PLATFORMS))]

        def rate(name: str) -> np.ndarray:
            return np.array([getattr(p, name) for p in plat])[ct.platform[live]]

        q = ct.quality[live]
        imp = gen.poisson(expected[live])
        views = gen.binomial(imp, np.clip(rate("view_rate") * (0.7 + 0.3 * q), 0, 1))
        watch = np.round(views * rate("watch_s") * gen.lognormal(0, 0.2, len(live)), 1)
        likes = gen.binomial(views, np.clip(rate("like_rate") * q, 0, 1))
        comments = gen.binomial(views, rate("comment_rate"))
        shares = gen.binomial(views, np.clip(rate("share_rate") * q, 0, 1))
        conv = ct.conversions[live, col]
        clicks = np.maximum(gen.binomial(imp, np.clip(rate("ctr") * q, 0, 1)), conv)
        follows = gen.binomial(views, rate("follow_rate")) - gen.binomial(
            views, rate("follow_rate") * 0.25)
        day = self.tl.date_of(t).isoformat()
        return pa.table({
            "content_id": _s(self.content_ids[live]),
            "creator_id": _s(np.array(w.creators.ids)[ct.creator[live]] if len(live)
                             else np.array([], str)),
            "platform": _s(np.array(vocab.CONTENT_PLATFORM_NAMES)[ct.platform[live]]),
            "published_at": _s(self.content_published[live]),
            "as_of_date": _s([day] * len(live)),
            "impressions": pa.array(imp, pa.int64()),
            "views": pa.array(views, pa.int64()),
            "watch_time_s": pa.array(watch, pa.float64()),
            "likes": pa.array(likes, pa.int64()),
            "comments": pa.array(comments, pa.int64()),
            "shares": pa.array(shares, pa.int64()),
            "clicks": pa.array(clicks, pa.int64()),
            "conversions": pa.array(conv, pa.int64()),
            "followers_gained": pa.array(follows, pa.int64()),
        })
