"""The sample export generator: contract v1 files, planted faults counted exactly,
deterministic output, realistic content. Checked with an independent contract checker
written here in plain Python (not the loader)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sample_exports import GenerationSummary, generate_exports

EVENT_TYPES = {
    "conversation_start", "conversation_end", "user_message", "bot_response",
    "intent_classified", "entity_extracted", "workflow_started", "workflow_completed",
    "workflow_failed", "api_call", "error", "user_feedback", "lesson_started",
    "lesson_completed", "exercise_attempted", "goal_created", "goal_completed", "custom",
}
FAULT_REASONS = (
    "invalid_json", "invalid_utf8", "missing_field", "wrong_type", "out_of_range",
    "invalid_timestamp", "timestamp_too_late",
)
REQUIRED = ("event_id", "event_type", "timestamp", "session_id")
TOP_TYPES = {
    "event_id": "str", "event_type": "str", "timestamp": "str", "session_id": "str",
    "user_id": "str", "anonymous_id": "str",  # contract 1.1
    "creator_id": "str", "agent_id": "str", "program_id": "str",
    "channel": "str", "platform": "str", "location": "str", "duration_ms": "int",
    "response_time_ms": "int", "confidence": "num", "sentiment": "str",
}
DATA_TYPES = {
    "text_length": "int", "intent": "str", "entity": "str", "value": "str",
    "workflow": "str", "endpoint": "str", "status_code": "int", "latency_ms": "int",
    "error_code": "str", "message": "str", "rating": "int", "comment": "str", "topic": "str",
    "lesson_id": "str", "skill": "str", "correct": "bool", "quality": "num",
    "goal_id": "str", "goal_type": "str", "target_value": "num", "escalated_to_human": "bool",
}
RANGES = {
    "duration_ms": (0, None), "response_time_ms": (0, None), "confidence": (0, 1),
    "text_length": (0, None), "latency_ms": (0, None), "rating": (1, 5), "quality": (0, 1),
}
ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$"
)
PLATFORM_COLUMNS = {
    "users": "user_id,email,display_name,signup_at,country,timezone,acquisition_channel,plan",
    "creators": "creator_id,name,category,joined_at",
    "programs": "program_id,creator_id,title,topics,price,currency,launched_at",
    "enrollments": "enrollment_id,user_id,program_id,enrolled_at,status,completed_at",
    "payments": "payment_id,user_id,program_id,amount,currency,paid_at,kind",
    "experiment_assignments": "experiment_id,variant,user_id,assigned_at",
    "content_metrics": "content_id,creator_id,platform,published_at,as_of_date,impressions,"
                       "views,watch_time_s,likes,comments,shares,clicks,conversions,"
                       "followers_gained",
}


# --- an independent checker of contract v1 -----------------------------------------


def parse_ts(text: str) -> datetime | None:
    """A contract timestamp as an aware UTC datetime, or None when it is not ISO-8601."""
    m = ISO.match(text)
    if not m:
        return None
    try:
        frac = m.group(7) or ""
        micro = int((frac[1:] + "000000")[:6]) if frac else 0
        dt = datetime(*(int(m.group(i)) for i in range(1, 7)), micro)
    except ValueError:
        return None
    zone = m.group(8)
    if zone in (None, "Z"):
        return dt.replace(tzinfo=UTC)
    sign = 1 if zone[0] == "+" else -1
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return (dt - sign * offset).replace(tzinfo=UTC)


def _kind_ok(value: object, kind: str) -> bool:
    if value is None:
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, int | float)


def check_event(obj: object, export_date: date) -> str | None:
    """None for a contract-valid event, else the reject reason."""
    if not isinstance(obj, dict):
        return "invalid_json"
    for f in REQUIRED:
        v = obj.get(f)
        if v is None or (isinstance(v, str) and not v.strip()):
            return "missing_field"
    data = obj.get("data")
    if data is not None and not isinstance(data, dict):
        return "wrong_type"
    data = data or {}
    fields = [(obj.get(k), kind, k) for k, kind in TOP_TYPES.items()]
    fields += [(data.get(k), kind, k) for k, kind in DATA_TYPES.items()]
    for value, kind, _ in fields:
        if not _kind_ok(value, kind):
            return "wrong_type"
    for value, _, name in fields:
        if name in RANGES and value is not None:
            low, high = RANGES[name]
            if (low is not None and value < low) or (high is not None and value > high):
                return "out_of_range"
    ts = parse_ts(obj["timestamp"])
    if ts is None:
        return "invalid_timestamp"
    day = datetime(export_date.year, export_date.month, export_date.day, tzinfo=UTC)
    if ts >= day + timedelta(days=2):
        return "timestamp_too_late"
    if ts < day - timedelta(days=7):
        return "timestamp_too_early"
    return None


def check_line(raw: bytes, export_date: date) -> tuple[str | None, dict | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8", None
    try:
        obj = json.loads(text)
    except ValueError:
        return "invalid_json", None
    reason = check_event(obj, export_date)
    return reason, obj if reason is None else None


def scan_events(landing: Path) -> dict:
    """Classify every line/row of complete export days; collect facts about valid ones."""
    reasons: Counter = Counter()
    valid: list[tuple[date, dict]] = []
    blank = 0
    formats: Counter = Counter()
    for folder in sorted((landing / "events").iterdir()):
        if not (folder / "_SUCCESS").exists():
            continue
        d = date.fromisoformat(folder.name)
        for path in sorted(p for p in folder.iterdir() if p.name != "_SUCCESS"):
            if path.name.endswith(".parquet"):
                formats["parquet"] += 1
                for row in pq.read_table(path).to_pylist():
                    obj = {k: v for k, v in row.items() if v is not None}
                    if isinstance(obj.get("data"), str):
                        obj["data"] = json.loads(obj["data"])
                    reason = check_event(obj, d)
                    reasons[reason or "valid"] += 1
                    if reason is None:
                        valid.append((d, obj))
                continue
            gz = path.name.endswith(".ndjson.gz")
            formats["ndjson.gz" if gz else "ndjson"] += 1
            content = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
            for raw in content.split(b"\n")[:-1] if content.endswith(b"\n") else \
                    content.split(b"\n"):
                if not raw.strip():
                    blank += 1
                    continue
                reason, obj = check_line(raw, d)
                reasons[reason or "valid"] += 1
                if obj is not None:
                    valid.append((d, obj))
    return {"reasons": reasons, "valid": valid, "blank": blank, "formats": formats}


def read_csv(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def platform_rows(landing: Path, entity: str) -> dict[str, list[dict[str, str]]]:
    out = {}
    for folder in sorted((landing / "platform" / entity).iterdir()):
        files = [p for p in folder.iterdir() if p.name.startswith(entity)]
        assert len(files) == 1, files
        out[folder.name] = read_csv(files[0])
    return out


def tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- fixtures ----------------------------------------------------------------------

ARGS = {"seed": 11, "users": 500, "days": 12, "start_date": date(2026, 3, 2)}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[GenerationSummary, Path, dict]:
    landing = tmp_path_factory.mktemp("gen") / "landing"
    calls: list[tuple[str, int, int]] = []
    summary = generate_exports(landing, progress=lambda *a: calls.append(a), **ARGS)
    return summary, landing, {"progress": calls, "scan": scan_events(landing)}


# --- tests -------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_files(generated, tmp_path):
    summary, landing, _ = generated
    again = generate_exports(tmp_path / "again", **ARGS)
    assert tree_hash(tmp_path / "again") == tree_hash(landing)
    assert again.planted == summary.planted
    other = generate_exports(tmp_path / "other", **{**ARGS, "seed": 12, "days": 3})
    assert other.events_written != summary.events_written


def test_summary_and_manifest(generated):
    summary, landing, extra = generated
    manifest = json.loads((landing / "_generator_manifest.json").read_text("utf-8"))
    assert manifest["planted"] == summary.planted
    assert manifest["planted_platform"] == summary.planted_platform
    assert summary.first_export_date == ARGS["start_date"]
    assert summary.last_export_date == summary.incomplete_day == date(2026, 3, 13)
    assert 0 < summary.events_written_complete < summary.events_written
    assert set(FAULT_REASONS) <= set(summary.planted)
    assert all(summary.planted[k] > 0 for k in FAULT_REASONS)
    exp = manifest["truth"]["experiment"]
    assert exp["experiment_id"] and exp["metric"] and exp["true_relative_lift"] > 0
    stages = {c[0] for c in extra["progress"]}
    assert stages and all(done <= total for _, done, total in extra["progress"])


def test_last_day_is_incomplete_and_the_others_complete(generated):
    summary, landing, _ = generated
    last = summary.incomplete_day.isoformat()
    folders = [landing / "events"] + [p for p in (landing / "platform").iterdir()]
    assert len(folders) == 1 + len(PLATFORM_COLUMNS)
    for parent in folders:
        days = sorted(p.name for p in parent.iterdir())
        assert len(days) == ARGS["days"] and days[-1] == last
        for name in days:
            files = [p.name for p in (parent / name).iterdir()]
            assert ("_SUCCESS" in files) == (name != last)
            assert [f for f in files if f != "_SUCCESS"], f"{parent.name}/{name} has no data"
    assert (landing / "events" / days[0] / "_SUCCESS").read_bytes() == b""


def test_every_format_is_present(generated):
    summary, landing, extra = generated
    formats = extra["scan"]["formats"]
    assert formats["ndjson"] and formats["ndjson.gz"] and formats["parquet"]
    assert summary.files_by_format["csv"] and summary.files_by_format["csv.gz"]
    for fmt in ("ndjson", "ndjson.gz", "parquet"):
        assert formats[fmt] == summary.files_by_format_complete[fmt]
        assert summary.files_by_format[fmt] >= formats[fmt]
    gz = next((landing / "events").rglob("*.ndjson.gz")).read_bytes()
    assert gz[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0


def test_every_line_is_valid_or_a_planted_fault(generated):
    summary, _, extra = generated
    scan = extra["scan"]
    reasons = scan["reasons"]
    assert set(reasons) <= {"valid", *FAULT_REASONS}, reasons
    for reason in FAULT_REASONS:
        assert reasons[reason] == summary.planted[reason], reason
    assert sum(reasons.values()) == summary.events_written_complete
    assert scan["blank"] == summary.planted["blank_lines"]
    # each event_id counts once: the repeats are exactly the planted re-sends
    ids = Counter(obj["event_id"] for _, obj in scan["valid"])
    assert sum(c - 1 for c in ids.values()) == summary.planted["resent_duplicates"] > 0
    valid = [obj for _, obj in scan["valid"]]
    assert sum(1 for o in valid if o.get("user_id") is None) == summary.planted[
        "anonymous_events"] > 0
    assert sum(1 for o in valid if o["event_type"] not in EVENT_TYPES) == summary.planted[
        "unknown_event_type"] > 0
    # contract 1.1: devices, and users browsing signed out (anonymous_id without user_id)
    assert sum(1 for o in valid if o.get("anonymous_id")) == summary.planted[
        "device_events"] > 0
    signed_in = {o["anonymous_id"] for o in valid if o.get("anonymous_id") and o.get("user_id")}
    assert sum(1 for o in valid if o.get("user_id") is None
               and o.get("anonymous_id") in signed_in) >= summary.planted[
        "signed_out_events"] > 0
    assert sum(1 for o in valid if set(o) - set(TOP_TYPES) - {"data"}) == summary.planted[
        "unknown_fields"] > 0
    late = sum(1 for d, o in scan["valid"] if parse_ts(o["timestamp"]).date() < d)
    assert late == summary.planted["late_events"] > 0
    assert Counter(o["event_type"] for o in valid) == summary.events_by_type


def test_every_event_type_and_the_signal_we_need(generated):
    _, _, extra = generated
    valid = [obj for _, obj in extra["scan"]["valid"]]
    assert {o["event_type"] for o in valid} >= EVENT_TYPES
    data = [o.get("data") or {} for o in valid]
    intents = Counter(d.get("intent") for o, d in zip(valid, data, strict=True)
                      if o["event_type"] == "intent_classified")
    assert intents["fallback"] > 0 and len(intents) > 5
    confidences = [o["confidence"] for o in valid if o["event_type"] == "intent_classified"]
    assert 0.05 < sum(c < 0.7 for c in confidences) / len(confidences) < 0.5
    assert any(d.get("escalated_to_human") is True for d in data)
    assert {d.get("goal_type") for d in data} >= {"streak", "sessions", "mastery", "custom"}
    assert {o.get("channel") for o in valid} >= {"web", "mobile", "voice"}
    assert {o.get("sentiment") for o in valid} >= {"positive", "neutral", "negative"}
    ratings = {d.get("rating") for d in data} - {None}
    assert ratings == {1, 2, 3, 4, 5}
    statuses = {d.get("status_code") for d in data} - {None}
    assert {200, 500} <= statuses or {201, 503} <= statuses
    # sessions without conversation_end (drop-offs) exist
    conv = {o["session_id"] for o in valid if o["event_type"] == "conversation_start"}
    ended = {o["session_id"] for o in valid if o["event_type"] == "conversation_end"}
    assert conv - ended
    # timestamps: Z, numeric offsets and naive ones
    stamps = [o["timestamp"] for o in valid]
    assert any(s.endswith("Z") for s in stamps)
    assert any(re.search(r"[+-]\d{2}:\d{2}$", s) for s in stamps)
    assert any(ISO.match(s) and ISO.match(s).group(8) is None for s in stamps)


def test_learning_gets_better_with_practice(generated):
    _, _, extra = generated
    attempts = sorted(
        (parse_ts(o["timestamp"]), o["user_id"], o["data"]["topic"], o["data"]["correct"])
        for _, o in extra["scan"]["valid"]
        if o["event_type"] == "exercise_attempted" and o.get("user_id")
    )
    seen: Counter = Counter()
    early, late = [], []
    for _, user, topic, correct in attempts:
        seen[user, topic] += 1
        (early if seen[user, topic] <= 2 else late if seen[user, topic] > 8 else []).append(
            correct)
    assert len(early) > 50 and len(late) > 50
    assert sum(late) / len(late) > sum(early) / len(early) + 0.15


def test_platform_files(generated):
    summary, landing, _ = generated
    for entity, header in PLATFORM_COLUMNS.items():
        path = next((landing / "platform" / entity).rglob(f"{entity}.csv*"))
        data = path.read_bytes()
        text = (gzip.decompress(data) if path.name.endswith(".gz") else data).decode("utf-8")
        assert text.splitlines()[0].replace('"', "") == header
    users = platform_rows(landing, "users")
    sizes = [len(rows) for rows in users.values()]
    assert sizes == sorted(sizes) and sizes[-1] <= ARGS["users"]
    for day, rows in users.items():
        end = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)
        stamps = [parse_ts(r["signup_at"]) for r in rows]
        assert all(s is None or s < end for s in stamps)  # only who signed up by then
    last_users = users[max(users)]
    assert all(re.fullmatch(r"user\d{6}@example\.com", r["email"]) for r in last_users)
    assert all(r["display_name"] for r in last_users)
    payments = [r for rows in platform_rows(landing, "payments").values() for r in rows]
    assert {r["currency"] for r in payments} >= {"USD", "EUR"}
    assert {r["kind"] for r in payments} >= {"charge", "refund"}
    programs = platform_rows(landing, "programs")
    assert {r["currency"] for r in programs[max(programs)]} == {"USD", "EUR"}
    assert all("|" in r["topics"] for r in programs[max(programs)])
    enrollments = platform_rows(landing, "enrollments")
    assert {r["status"] for r in enrollments[max(enrollments)]} >= {"active", "completed"}
    variants = platform_rows(landing, "experiment_assignments")
    assert {r["variant"] for r in variants[max(variants)]} == {"control", "treatment"}
    content = platform_rows(landing, "content_metrics")
    assert all(r["as_of_date"] == day for day, rows in content.items() for r in rows)
    platforms = {r["platform"] for rows in content.values() for r in rows}
    assert platforms <= {"youtube", "tiktok", "instagram", "x", "linkedin", "reddit"}
    assert summary.planted["platform_invalid_value"] == sum(
        r["kind"] not in ("charge", "refund") for day, rows in platform_rows(
            landing, "payments").items() if day != summary.incomplete_day.isoformat()
        for r in rows)


def test_no_faults_gives_a_clean_export(tmp_path):
    landing = tmp_path / "clean"
    summary = generate_exports(landing, seed=5, users=120, days=5, faults=False)
    scan = scan_events(landing)
    assert set(scan["reasons"]) == {"valid"}
    assert scan["blank"] == 0
    assert sum(v for k, v in summary.planted.items() if k in FAULT_REASONS) == 0
    assert summary.planted["resent_duplicates"] == 0
    assert not any(k.startswith("platform_") and v for k, v in summary.planted.items())
    ids = [obj["event_id"] for _, obj in scan["valid"]]
    assert len(ids) == len(set(ids))
    for entity in PLATFORM_COLUMNS:
        for rows in platform_rows(landing, entity).values():
            for r in rows:
                assert len(r) == len(PLATFORM_COLUMNS[entity].split(",")) and None not in r
    payments = [r for rows in platform_rows(landing, "payments").values() for r in rows]
    assert {r["kind"] for r in payments} <= {"charge", "refund"}


@pytest.mark.parametrize("target", [20_000, 60_000])
def test_target_events_is_hit_within_ten_percent(tmp_path, target):
    summary = generate_exports(tmp_path / "t", seed=3, target_events=target, days=14)
    assert abs(summary.events_written / target - 1) < 0.10
    assert summary.target_events == target


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError):
        generate_exports(tmp_path, users=10, target_events=100)
    with pytest.raises(ValueError):
        generate_exports(tmp_path, days=0)
