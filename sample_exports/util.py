"""Small shared helpers: the timeline, seeded random streams, id scrambling, ISO formatting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

DAY_MS = 86_400_000
MINUTE_MS = 60_000

# Independent random streams, one per purpose (and per day where it applies), so that
# adding draws to one stage never shifts the numbers of another.
STREAM_WORLD = 1
STREAM_SIM = 2
STREAM_EXPORT = 3
STREAM_PLATFORM = 4
STREAM_FAULTS = 5
STREAM_CONTENT = 6


def rng(seed: int, *keys: int) -> np.random.Generator:
    """A random generator determined by the seed and the keys only."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *(int(k) & 0xFFFFFFFF for k in keys)])


@dataclass(frozen=True)
class Timeline:
    """Day indexes of the simulation: t = 0 is the first export day.

    Users sign up from ``-pre_days``; behaviour is simulated from ``-warmup_days`` so the
    first export days already hold late events; export days are ``0 .. days - 1``.
    """

    start: date
    days: int
    pre_days: int = 60
    warmup_days: int = 7

    @property
    def start_ms(self) -> int:
        return int(datetime(self.start.year, self.start.month, self.start.day,
                            tzinfo=UTC).timestamp() * 1000)

    def day_ms(self, t: int) -> int:
        """Epoch milliseconds of the start (00:00 UTC) of day ``t``."""
        return self.start_ms + t * DAY_MS

    def date_of(self, t: int) -> date:
        return self.start + timedelta(days=t)

    def weekday(self, t: np.ndarray | int) -> np.ndarray:
        """ISO weekday index 0 (Monday) .. 6 (Sunday) of day ``t``."""
        return (np.asarray(t) + self.start.weekday()) % 7


_MULT = np.uint64(0x9E3779B97F4A7C15)
_MASK48 = np.uint64((1 << 48) - 1)


def scramble(n: np.ndarray, salt: int) -> np.ndarray:
    """A bijection of 0 .. 2**48-1 that makes sequential numbers look random (for ids)."""
    x = np.asarray(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        y = (x * _MULT + np.uint64(salt & 0xFFFFFFFFFFFF)) & _MASK48
    return y.astype(np.int64)


def iso_utc(ms: np.ndarray, *, millis: bool = False) -> np.ndarray:
    """ISO-8601 strings with ``Z`` for epoch milliseconds (vectorised, numpy unicode array)."""
    unit = "ms" if millis else "s"
    text = np.datetime_as_string(np.asarray(ms, dtype="int64").astype("datetime64[ms]"), unit=unit)
    return np.char.add(text, "Z")


def iso_offset(ms: np.ndarray, offset_minutes: np.ndarray) -> np.ndarray:
    """The same instants written in the given offsets, e.g. ``2026-01-05T11:00:00+01:00``."""
    offset_minutes = np.asarray(offset_minutes, dtype=np.int64)
    local = np.asarray(ms, dtype=np.int64) + offset_minutes * MINUTE_MS
    text = np.datetime_as_string(local.astype("datetime64[ms]"), unit="s")
    sign = np.where(offset_minutes < 0, "-", "+")
    a = np.abs(offset_minutes)
    hh = np.char.zfill((a // 60).astype(str), 2)
    mm = np.char.zfill((a % 60).astype(str), 2)
    return np.char.add(np.char.add(np.char.add(np.char.add(text, sign), hh), ":"), mm)


def iso_naive(ms: np.ndarray) -> np.ndarray:
    """ISO-8601 strings without offset (meaning UTC)."""
    return np.datetime_as_string(np.asarray(ms, dtype="int64").astype("datetime64[ms]"), unit="s")


def categorical(gen: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """``size`` draws of indexes with probabilities proportional to ``weights``."""
    w = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(w)
    return np.searchsorted(cum, gen.random(size) * cum[-1], side="right").clip(0, len(w) - 1)


def rowwise_categorical(gen: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One draw per row of a 2-D weight matrix (rows with zero weight give -1)."""
    cum = np.cumsum(weights, axis=1)
    total = cum[:, -1]
    u = gen.random(len(weights)) * total
    pick = (cum <= u[:, None]).sum(axis=1)
    pick = np.minimum(pick, weights.shape[1] - 1)
    return np.where(total > 0, pick, -1)


def segment_starts(counts: np.ndarray) -> np.ndarray:
    """Start offsets of consecutive segments of the given lengths."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.zeros(len(counts), dtype=np.int64)
    if len(counts) > 1:
        np.cumsum(counts[:-1], out=starts[1:])
    return starts


def position_in_segment(counts: np.ndarray) -> np.ndarray:
    """0, 1, .. within each segment, for segments of the given lengths laid end to end."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(segment_starts(counts), counts)


def segment_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Exclusive running sum of ``values`` restarting at each segment."""
    values = np.asarray(values)
    inclusive = np.cumsum(values)
    exclusive = inclusive - values
    starts = segment_starts(counts)
    base = np.repeat(exclusive[starts[counts > 0]] if len(values) else exclusive[:0],
                     counts[counts > 0])
    return exclusive - base
