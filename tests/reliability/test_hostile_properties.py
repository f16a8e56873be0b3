"""Hostile input, property-based (hypothesis): generated files of every landing format,
valid, mangled or mistyped, go through the real loader into a real DuckDB file.

Whatever the input, the load never raises; every file is loaded or failed with a message
naming it; every export day and file reconciles against the raw tables themselves
(``hostile_corpus.account_day``); and a good file beside the hostile ones still loads.
Where an oracle is cheap the outcome is predicted exactly: the records an NDJSON file
holds (counted in plain Python), whether a generated event is valid and why not, and the
values a CSV writer's rows must come back with.

By default each property runs a small, derandomized number of examples (deterministic in
CI); the ``*_long`` variants (``--long``) run many more, freshly random ones. Hypothesis's
example database is off (nothing is written to the repository).
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import logging
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from ingest.batch import load_entity_days
from ingest.event_rules import DATA_FIELDS, KNOWN_TOP_KEYS, TOP_FIELDS
from ingest.landing import EVENTS
from ingest.loader import ensure_schema
from ingest.schema import EVENT_TYPES, PLATFORM_BY_NAME
from tests.reliability.hostile_corpus import (
    Ctx,
    DayAccount,
    HostileFile,
    account_day,
    companion_file,
    gz,
    non_blank_lines,
    parquet,
    write_day,
)
from warehouse.db import connect

# examples per property: each is a load of its own (~0.1-0.25 s), so the default run stays
# near 15 s of CPU; --long runs 10x as many, freshly random
DEFAULT_EXAMPLES = 20
LONG_EXAMPLES = 200
LOG = logging.getLogger(__name__)
TALLY: dict[str, list[int]] = {}  # property -> [examples, files, records read]


@pytest.fixture(autouse=True, scope="module")
def _hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis caches (constants, Unicode tables) under ./.hypothesis even without an
    example database: keep them in a temporary folder, out of the repository."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis-home"))
    yield
    set_hypothesis_home_dir(None)


# each property runs in the default set and, with more examples, in the long variant
LENGTHS = [pytest.param(False, id="default"),
           pytest.param(True, id="long", marks=pytest.mark.long)]


def _settings(long: bool) -> settings:
    return settings(
        max_examples=LONG_EXAMPLES if long else DEFAULT_EXAMPLES,
        derandomize=not long,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.large_base_example],
    )


@dataclass
class Warehouse:
    """One warehouse file for all examples of a test; each example loads a day of its own."""

    root: Path
    con: duckdb.DuckDBPyConnection
    days: itertools.count

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    def next_day(self) -> date:
        return date(2026, 1, 1) + timedelta(days=next(self.days))

    def load(self, entity: str, day: date) -> DayAccount:
        batch = load_entity_days(self.con, self.landing, entity, [day])
        assert len(batch.results) == 1, batch.skipped
        return account_day(self.con, entity, day)


def _warehouse(tmp_path: Path) -> Warehouse:
    # one thread: these loads are tiny, and parallel scans of them cost more than they save
    con = connect(tmp_path / "warehouse.duckdb", threads=1)
    ensure_schema(con)
    return Warehouse(tmp_path, con, itertools.count())


def _tally(name: str, files: int, read: int) -> None:
    t = TALLY.setdefault(name, [0, 0, 0])
    t[0] += 1
    t[1] += files
    t[2] += read


def _run(tmp_path: Path, prop: Callable[[Warehouse], Callable[[], None]], long: bool) -> None:
    """Runs the property; fails when Hypothesis ran no example of it (every draw filtered
    out would pass vacuously). The tally is logged (-o log_cli=true shows it)."""
    before = {name: list(t) for name, t in TALLY.items()}
    wh = _warehouse(tmp_path)
    try:
        _settings(long)(prop(wh))()
    finally:
        wh.con.close()
    ran = {name: [a - b for a, b in zip(t, before.get(name, [0, 0, 0]), strict=True)]
           for name, t in TALLY.items()}
    ran = {name: t for name, t in ran.items() if t[0]}
    assert ran, "the property ran no example"
    for name, (examples, files, read) in ran.items():
        LOG.info("%s: %d examples, %d files, %d records read, all accounted for",
                 name, examples, files, read)


def _blank(text: str) -> bool:
    """DuckDB's trim() removes exactly the Unicode space separators (category Zs)."""
    return all(unicodedata.category(ch) == "Zs" for ch in text)


# --- 1. any bytes in any event file ------------------------------------------------

JUNK = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40).map(str.encode),
    st.sampled_from([b"{", b"}", b"[]", b"null", b'{"event_id":', b"\xff\xfe", b"\r", b"\x00",
                     b"\xef\xbb\xbf", b'{"event_id": 1}', b"   ", b"\t", b"\xc2\xa0"]),
)


@dataclass(frozen=True)
class EventFileSpec:
    fmt: str  # ndjson | ndjson.gz | parquet
    lines: tuple[int | bytes, ...]  # an int: a valid event with that id; bytes: as they are
    sep: bytes
    final_newline: bool
    edits: tuple[tuple[int, bytes, int], ...]  # (position, bytes to insert, bytes to cut)
    edit_compressed: bool  # for .gz: edit the compressed bytes instead of the text


EVENT_FILES = st.builds(
    EventFileSpec,
    fmt=st.sampled_from(["ndjson", "ndjson.gz", "parquet"]),
    lines=st.lists(st.one_of(st.integers(0, 30), JUNK), max_size=25).map(tuple),
    sep=st.sampled_from([b"\n", b"\r\n", b"\n\n"]),
    final_newline=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=6), st.integers(0, 8)),
                   max_size=3).map(tuple),
    edit_compressed=st.booleans(),
)


def _edit(data: bytes, edits: tuple[tuple[int, bytes, int], ...]) -> bytes:
    for pos, insert, cut in edits:
        at = pos % (len(data) + 1)
        data = data[:at] + insert + data[at + cut:]
    return data


def _render_event_file(ctx: Ctx, n: int, spec: EventFileSpec) -> tuple[str, bytes, bytes | None]:
    """(file name, file bytes, the NDJSON text the loader should read or None)."""
    name = f"f{n}.{spec.fmt}"
    if spec.fmt == "parquet":
        ids = [x for x in spec.lines if isinstance(x, int)]
        table = pa.table({
            "event_id": pa.array([f"{ctx.prefix}:{i}" for i in ids], pa.string()),
            "event_type": pa.array(["user_message"] * len(ids), pa.string()),
            "timestamp": pa.array([ctx.ts()] * len(ids), pa.string()),
            "session_id": pa.array(["s1"] * len(ids), pa.string()),
        })
        return name, _edit(parquet(table), spec.edits), None
    text = spec.sep.join(
        json.dumps(ctx.ev(x)).encode() if isinstance(x, int) else x for x in spec.lines
    ) + (spec.sep if spec.final_newline and spec.lines else b"")
    if spec.fmt == "ndjson":
        text = _edit(text, spec.edits)
        return name, text, text
    if spec.edit_compressed:
        content = _edit(gz(text), spec.edits)
        try:
            return name, content, gzip.decompress(content)
        except (OSError, EOFError, zlib.error):
            return name, content, None
    text = _edit(text, spec.edits)
    return name, gz(text), text


def _prop_event_files(wh: Warehouse) -> Callable[[], None]:
    @given(specs=st.lists(EVENT_FILES, min_size=1, max_size=5))
    def prop(specs: list[EventFileSpec]) -> None:
        day = wh.next_day()
        ctx = Ctx(EVENTS, day, f"p1-{day}")
        rendered = [_render_event_file(ctx, n, s) for n, s in enumerate(specs)]
        good = companion_file(ctx, set())
        write_day(wh.landing, ctx, [HostileFile(name, content) for name, content, _ in rendered]
                  + [good])
        acc = wh.load(EVENTS, day)
        for (name, _content, text), spec in zip(rendered, specs, strict=True):
            got = acc.files[name]
            if spec.fmt == "parquet" and not spec.edits:
                assert got.status == "loaded" and got.read == sum(
                    isinstance(x, int) for x in spec.lines), (name, got)
            elif spec.fmt == "ndjson.gz" and text is None:
                assert got.status == "failed" and "gzip" in (got.message or ""), (name, got)
            elif text is not None:
                assert got.status == "loaded", (name, got)
                assert got.read == non_blank_lines(text), (name, got.read, text[:200])
            else:
                assert got.status in ("loaded", "failed"), (name, got)
        g = acc.files[good.name]
        assert (g.status, g.current + g.copies, g.rejected) == ("loaded", 2, 0)
        _tally("event files, any bytes", len(specs), acc.read)

    return prop


@pytest.mark.parametrize("long", LENGTHS)
def test_any_bytes_in_event_files_are_accounted_for(tmp_path: Path, long: bool) -> None:
    _run(tmp_path, _prop_event_files, long=long)



# --- 2. generated events against an oracle of the contract ---------------------------

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
)


def _json_containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)


JSON_VALUES = st.recursive(JSON_SCALARS, _json_containers, max_leaves=8)
NON_STRINGS = st.one_of(st.booleans(), st.integers(-5, 5), st.floats(-1, 1),
                        st.lists(JSON_SCALARS, max_size=2),
                        st.dictionaries(st.text(max_size=3), JSON_SCALARS, max_size=2))
TEXT = st.text(max_size=20)
NON_BLANK = TEXT.filter(lambda s: not _blank(s))
BLANK = st.text(alphabet=st.sampled_from(" \u00a0\u2003\u3000"), max_size=4)
OPTIONAL_STR = [f.path for f in TOP_FIELDS if f.kind == "str" and not f.required]
DATA_KEYS = {f.path for f in DATA_FIELDS}
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Stamp:
    """A timestamp as seconds from the export day's midnight (UTC), and how it is written."""

    seconds: int
    micros: int
    offset_minutes: int | None  # None: written with Z; else this offset (0 may be naive)
    naive: bool

    def utc(self, day: date) -> datetime:
        midnight = datetime(day.year, day.month, day.day)
        return midnight + timedelta(seconds=self.seconds, microseconds=self.micros)

    def text(self, day: date) -> str:
        at = self.utc(day)
        if self.offset_minutes is None:
            return at.isoformat() + ("" if self.naive else "Z")
        local = at + timedelta(minutes=self.offset_minutes)
        sign = "+" if self.offset_minutes >= 0 else "-"
        hh, mm = divmod(abs(self.offset_minutes), 60)
        return f"{local.isoformat()}{sign}{hh:02d}:{mm:02d}"


DAY_S = 86_400
# export days of these tests lie in 2026-2035: 56 years after 1970 at least, 2 days ahead
VALID_STAMPS = st.builds(
    Stamp, st.integers(-56 * 365 * DAY_S, 2 * DAY_S - 1), st.integers(0, 999_999),
    st.one_of(st.none(), st.integers(-14 * 4, 14 * 4).map(lambda q: q * 15)), st.booleans(),
)
LATE_STAMPS = st.builds(Stamp, st.integers(2 * DAY_S, 7000 * 365 * DAY_S), st.integers(0, 999_999),
                        st.none(), st.booleans())
# (before 1970 for any export day up to 2030)
PAST_STAMPS = st.builds(Stamp, st.integers(-2025 * 365 * DAY_S, -61 * 365 * DAY_S),
                        st.integers(0, 999_999), st.none(), st.just(False))


@dataclass
class Planned:
    """One generated event line and what the contract says of it."""

    event: dict
    reasons: set[str]  # empty: valid
    expect: dict  # column -> value, for a valid line
    extra: dict  # unknown top-level fields
    data_extra: dict  # unknown fields of `data`


@st.composite
def planned_events(draw: st.DrawFn, ctx: Ctx, n: int) -> Planned:
    event = ctx.ev(n)
    reasons: set[str] = set()
    expect: dict = {"event_id": event["event_id"]}
    slots = draw(st.sets(st.sampled_from(
        ["event_id", "event_type", "timestamp", "session_id", "optional", "duration_ms",
         "confidence", "data", "extra"]), max_size=4))
    bad = draw(st.sets(st.sampled_from(sorted(slots)), max_size=len(slots))) if slots else set()
    extra: dict = {}
    data_extra: dict = {}
    for slot in sorted(slots):
        invalid = slot in bad and slot != "extra"
        if slot in ("event_id", "session_id", "event_type"):
            if not invalid:
                event[slot] = draw(NON_BLANK) if slot != "event_id" else \
                    f"{event['event_id']}|{draw(TEXT)}"
                expect[slot] = event[slot]
            else:
                how = draw(st.sampled_from(["absent", "null", "blank", "type"]))
                if how == "absent":
                    event.pop(slot)
                else:
                    event[slot] = {"null": None, "blank": draw(BLANK)}.get(how) if how != "type" \
                        else draw(NON_STRINGS)
                reasons.add("wrong_type" if how == "type" else "missing_field")
        elif slot == "timestamp":
            if not invalid:
                stamp = draw(VALID_STAMPS)
                expect["event_ts"] = stamp.utc(ctx.day)
                event["timestamp"] = stamp.text(ctx.day)
            else:
                how = draw(st.sampled_from(["late", "past", "words", "type"]))
                if how == "late":
                    event["timestamp"] = draw(LATE_STAMPS).text(ctx.day)
                    reasons.add("timestamp_too_late")
                elif how == "past":
                    event["timestamp"] = draw(PAST_STAMPS).text(ctx.day)
                    reasons.add("invalid_timestamp")
                elif how == "words":
                    event["timestamp"] = draw(st.text(
                        alphabet=st.characters(categories=("Ll", "Lu")), min_size=1,
                        max_size=12))
                    reasons.add("invalid_timestamp")
                else:
                    event["timestamp"] = draw(NON_STRINGS)
                    reasons.add("wrong_type")
        elif slot == "optional":
            key = draw(st.sampled_from(OPTIONAL_STR))
            if not invalid:
                event[key] = draw(st.none() | TEXT)
                expect[key] = event[key]
            else:
                event[key] = draw(NON_STRINGS)
                reasons.add("wrong_type")
        elif slot == "duration_ms":
            if not invalid:
                event[slot] = draw(st.integers(0, 2**63 - 1))
                expect[slot] = event[slot]
            else:
                how = draw(st.sampled_from(["negative", "fraction", "huge", "string"]))
                event[slot] = {
                    "negative": draw(st.integers(-(2**63), -1)),
                    "fraction": draw(st.floats(0, 1e15).filter(lambda x: x != int(x))),
                    "huge": draw(st.integers(2**63, 2**80)),
                    "string": draw(TEXT),
                }[how]
                reasons.add("wrong_type" if how in ("fraction", "string") else "out_of_range")
        elif slot == "confidence":
            if not invalid:
                event[slot] = draw(st.floats(0, 1))
                expect[slot] = event[slot]
            else:
                how = draw(st.sampled_from(["below", "above", "string"]))
                event[slot] = {
                    "below": draw(st.floats(max_value=0, exclude_max=True, allow_infinity=False)),
                    "above": draw(st.floats(min_value=1, exclude_min=True, allow_infinity=False)),
                    "string": draw(TEXT),
                }[how]
                reasons.add("wrong_type" if how == "string" else "out_of_range")
        elif slot == "data":
            if not invalid:
                data_extra = draw(st.dictionaries(
                    st.text(max_size=8).filter(lambda k: k not in DATA_KEYS), JSON_VALUES,
                    max_size=3))
                event["data"] = data_extra
            else:
                event["data"] = draw(st.one_of(st.lists(JSON_SCALARS, max_size=2), TEXT,
                                               st.integers(), st.booleans()))
                reasons.add("wrong_type")
        elif slot == "extra":
            extra = draw(st.dictionaries(
                st.text(max_size=8).filter(lambda k: k not in KNOWN_TOP_KEYS), JSON_VALUES,
                min_size=1, max_size=3))
            event.update(extra)
    return Planned(event, reasons, expect, extra, data_extra)


def _prop_event_oracle(wh: Warehouse) -> Callable[[], None]:
    @given(data=st.data(), n=st.integers(1, 25))
    def prop(data: st.DataObject, n: int) -> None:
        day = wh.next_day()
        ctx = Ctx(EVENTS, day, f"p2-{day}")
        planned = [data.draw(planned_events(ctx, i)) for i in range(n)]
        content = b"\n".join(json.dumps(p.event).encode() for p in planned) + b"\n"
        write_day(wh.landing, ctx, [HostileFile("a.ndjson", content)])
        acc = wh.load(EVENTS, day)
        assert acc.files["a.ndjson"].read == n
        rows = {r[0]: r[1:] for r in wh.con.execute(
            "SELECT source_line, event_id, event_type, session_id, event_ts, duration_ms, "
            "confidence, extra, data, is_known_event_type, "
            + ", ".join(OPTIONAL_STR)  # the optional string fields, in TOP_FIELDS' order
            + " FROM raw.events WHERE export_date = ?", [day]).fetchall()}
        rejects = dict(wh.con.execute(
            "SELECT line_number, reason_code FROM raw.rejects WHERE entity = 'events' "
            "AND export_date = ?", [day]).fetchall())
        cols = ["event_id", "event_type", "session_id", "event_ts", "duration_ms",
                "confidence", "extra", "data", "is_known_event_type", *OPTIONAL_STR]
        for line, p in enumerate(planned, start=1):
            where = f"line {line}: {json.dumps(p.event)[:300]}"
            if p.reasons:
                assert line in rejects, f"{where}: loaded, expected {p.reasons}"
                assert rejects[line] in p.reasons, f"{where}: {rejects[line]} not in {p.reasons}"
                continue
            assert line in rows, f"{where}: rejected as {rejects.get(line)}"
            got = dict(zip(cols, rows[line], strict=True))
            for col, value in p.expect.items():
                assert got[col] == value, f"{where}: {col} = {got[col]!r}, expected {value!r}"
            if p.extra:
                assert json.loads(got["extra"]) == p.extra, where
            else:
                assert got["extra"] is None, where
            if "data" in p.event:
                assert json.loads(got["data"]) == p.data_extra, where
            assert got["is_known_event_type"] == (p.event["event_type"] in EVENT_TYPES), where
        _tally("events against the contract oracle", 1, n)

    return prop


@pytest.mark.parametrize("long", LENGTHS)
def test_generated_events_load_or_reject_as_the_contract_says(tmp_path: Path, long: bool) -> None:
    _run(tmp_path, _prop_event_oracle, long=long)



# --- 3. CSV written by a CSV writer round-trips ---------------------------------------

PAY_COLUMNS = list(PLATFORM_BY_NAME["payments"].columns)
CELL = st.text(max_size=12)
HEADER_NAME = st.text(st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)),
                      min_size=1, max_size=8).map(str.strip).filter(bool)


@st.composite
def payment_files(draw: st.DrawFn) -> tuple[list[str], list[list[str]], str]:
    extras = draw(st.lists(HEADER_NAME, max_size=3, unique_by=str.lower).filter(
        lambda names: not {n.lower() for n in names} & {*PAY_COLUMNS, "good_row",
                                                        "record_number"}))
    order = draw(st.permutations(PAY_COLUMNS + extras))
    rows = []
    for i in range(draw(st.integers(0, 12))):
        values = {
            "payment_id": f"{i}:{draw(CELL)}",
            "user_id": draw(CELL), "program_id": draw(CELL), "currency": draw(CELL),
            "amount": str(draw(st.decimals(0, 10**9, places=4))),
            "paid_at": draw(VALID_STAMPS).text(date(2026, 1, 1)),
            "kind": draw(st.sampled_from(["charge", "refund"])),
        } | {name: draw(CELL) for name in extras}
        rows.append([values[c] for c in order])
    return list(order), rows, draw(st.sampled_from(["\n", "\r\n"]))


def _prop_csv_round_trip(wh: Warehouse) -> Callable[[], None]:
    @given(spec=payment_files(), gzipped=st.booleans())
    def prop(spec: tuple[list[str], list[list[str]], str], gzipped: bool) -> None:
        header, rows, terminator = spec
        day = wh.next_day()
        ctx = Ctx("payments", day, f"p3-{day}")
        buf = io.StringIO()
        # RFC 4180 quotes a field holding a line break; Python's writer quotes only the
        # characters of its own line terminator, so a bare CR with "\n" endings would go
        # out unquoted (not valid CSV): quote every field then
        bare_cr = terminator == "\n" and any("\r" in x for row in [header, *rows] for x in row)
        writer = csv.writer(buf, lineterminator=terminator,
                            quoting=csv.QUOTE_ALL if bare_cr else csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)
        raw = buf.getvalue().encode()
        name = "payments.csv.gz" if gzipped else "payments.csv"
        write_day(wh.landing, ctx, [HostileFile(name, gz(raw) if gzipped else raw)])
        acc = wh.load("payments", day)
        got = acc.files[name]
        blank_currency = [r for r in rows if _blank(r[header.index("currency")])]
        assert got.status == "loaded", got
        assert got.read == len(rows), got
        assert got.rejected == len(blank_currency), (got, blank_currency)
        loaded = {r[0]: r[1:] for r in wh.con.execute(
            "SELECT payment_id, user_id, program_id, currency, amount, kind, extra "
            "FROM raw.payments WHERE export_date = ?", [day]).fetchall()}
        extras = [h for h in header if h not in PAY_COLUMNS]
        for row in rows:
            v = dict(zip(header, row, strict=True))
            if _blank(v["currency"]):
                continue
            user, program, currency, amount, kind, extra = loaded[v["payment_id"]]
            assert (user, program, currency) == tuple(
                v[c] or None for c in ("user_id", "program_id", "currency")), (row, header)
            assert (amount, kind) == (Decimal(v["amount"]), v["kind"])
            want = {h: v[h] or None for h in extras}
            assert (json.loads(extra) if extra else {}) == (want if extras else {}), (row, extra)
        _tally("CSV files from a CSV writer", 1, len(rows))

    return prop


@pytest.mark.parametrize("long", LENGTHS)
def test_csv_from_a_csv_writer_round_trips(tmp_path: Path, long: bool) -> None:
    _run(tmp_path, _prop_csv_round_trip, long=long)



# --- 4. mangled CSV ------------------------------------------------------------------

CSV_NOISE = st.sampled_from([b'"', b",", b"\n", b"\r", b"\r\n", b'""', b"\xff", b"\x00", b" ",
                             b'"x"y', b";", b"\t"]) | st.binary(max_size=4)


def _prop_csv_mangled(wh: Warehouse) -> Callable[[], None]:
    @given(n=st.integers(0, 8), edits=st.lists(
        st.tuples(st.integers(0, 10**6), CSV_NOISE, st.integers(0, 6)), min_size=1,
        max_size=5), gzipped=st.booleans())
    def prop(n: int, edits: list[tuple[int, bytes, int]], gzipped: bool) -> None:
        day = wh.next_day()
        ctx = Ctx("payments", day, f"p4-{day}")
        rows = [f"{ctx.key(i)},u1,pr1,{i}.50,EUR,{ctx.ts()},charge" for i in range(n)]
        raw = _edit(("\n".join([",".join(PAY_COLUMNS), *rows]) + "\n").encode(), tuple(edits))
        name = "mangled.csv.gz" if gzipped else "mangled.csv"
        good = companion_file(ctx, {name})
        write_day(wh.landing, ctx, [HostileFile(name, gz(raw) if gzipped else raw), good])
        acc = wh.load("payments", day)
        got = acc.files[name]
        assert got.status in ("loaded", "failed"), got
        g = acc.files[good.name]
        assert (g.status, g.current, g.rejected) == ("loaded", 2, 0), g
        _tally("mangled CSV files", 1, got.read)

    return prop


@pytest.mark.parametrize("long", LENGTHS)
def test_mangled_csv_is_accounted_for(tmp_path: Path, long: bool) -> None:
    _run(tmp_path, _prop_csv_mangled, long=long)



# --- 5. Parquet with missing, extra and mistyped columns -----------------------------

REQUIRED = [f.path for f in TOP_FIELDS if f.required]
OPTIONAL_COLUMNS = [f.path for f in TOP_FIELDS if not f.required] + [
    "mood", "tags", "file_row_number", "ordinality"]
ARROW_KINDS = {
    "string": (pa.string(), st.text(max_size=8)),
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "float64": (pa.float64(), st.floats()),
    "bool": (pa.bool_(), st.booleans()),
    "timestamp": (pa.timestamp("us"), st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30))),
    "timestamptz": (pa.timestamp("us", tz="UTC"), st.datetimes(
        datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(UTC))),
    "date": (pa.date32(), st.dates()),
    "list": (pa.list_(pa.int64()), st.lists(st.integers(-5, 5), max_size=3)),
    "struct": (pa.struct([("a", pa.string()), ("rating", pa.int64())]),
               st.fixed_dictionaries({"a": st.text(max_size=3), "rating": st.integers(0, 9)})),
    "binary": (pa.binary(), st.binary(max_size=6)),
}


@st.composite
def parquet_tables(draw: st.DrawFn, ctx: Ctx) -> tuple[pa.Table, list[str]]:
    n = draw(st.integers(0, 6))
    names = [c for c in REQUIRED if draw(st.integers(0, 9))]  # mostly present
    names += draw(st.lists(st.sampled_from(OPTIONAL_COLUMNS), unique=True, max_size=4))
    columns = {}
    for name in names:
        good = name in REQUIRED and draw(st.integers(0, 3)) > 0
        if good:
            values = {"event_id": [f"{ctx.prefix}:{i}" for i in range(n)],
                      "event_type": ["user_message"] * n, "timestamp": [ctx.ts()] * n,
                      "session_id": ["s1"] * n}[name]
            columns[name] = pa.array(values, pa.string())
        else:
            kind, values = ARROW_KINDS[draw(st.sampled_from(sorted(ARROW_KINDS)))]
            columns[name] = pa.array(
                draw(st.lists(st.none() | values, min_size=n, max_size=n)), kind)
    missing = [c for c in REQUIRED if c not in columns]
    table = pa.table(columns) if columns else pa.table({"x": pa.array([None] * n, pa.int8())})
    return table, missing


def _prop_parquet(wh: Warehouse) -> Callable[[], None]:
    @given(data=st.data(), files=st.integers(1, 3))
    def prop(data: st.DataObject, files: int) -> None:
        day = wh.next_day()
        ctx = Ctx(EVENTS, day, f"p5-{day}")
        tables = [data.draw(parquet_tables(Ctx(EVENTS, day, f"{ctx.prefix}/{i}")))
                  for i in range(files)]
        good = companion_file(ctx, set())
        write_day(wh.landing, ctx, [HostileFile(f"f{i}.parquet", parquet(t))
                                    for i, (t, _) in enumerate(tables)] + [good])
        acc = wh.load(EVENTS, day)
        for i, (table, missing) in enumerate(tables):
            got = acc.files[f"f{i}.parquet"]
            if missing:
                assert got.status == "failed" and all(m in got.message for m in missing), got
            else:
                assert got.status == "loaded" and got.read == table.num_rows, got
        g = acc.files[good.name]
        assert (g.status, g.current, g.rejected) == ("loaded", 2, 0), g
        _tally("Parquet files of random schemas", files, acc.read)

    return prop


@pytest.mark.parametrize("long", LENGTHS)
def test_parquet_of_any_schema_is_accounted_for(tmp_path: Path, long: bool) -> None:
    _run(tmp_path, _prop_parquet, long=long)
