"""Housekeeping of dbt's target folder between the dbt assets' invocations.

dagster-dbt gives every dbt invocation its own target folder
(``<op>-<run id[:7]>-<uuid[:7]>``, with a manifest, run results and compiled SQL: about
12 MB here) and seeds it with the project's ``partial_parse.msgpack``. Two things follow,
both handled here:

- the parse an invocation made is never kept, so when the project's parse was made with
  another profile (another warehouse path, say) every invocation parses all ~500 nodes
  again (7 to 10 s of CPU each). :func:`keep_partial_parse` copies it back, to the
  project's target and to a slot of the warehouse's own (``partial_parse/<key>.msgpack``):
  dbt refuses a parse made for another warehouse path (the path is part of the profile it
  checks), so with two warehouses in turn (staging and production, a benchmark, the test
  suite's runs) each would parse all again. :func:`seed_partial_parse` puts the
  warehouse's own parse into an invocation's folder before dbt starts. A warehouse with
  none yet (a new one) gets another warehouse's parse when dbt's profile for the two
  differs in the path alone (:func:`adopt_partial_parse`): the parse does not depend on
  the path (the project reads ``target.database``, which dbt-duckdb takes from the file's
  name and which is part of the check, never ``target.path``), so the profile checksum
  dbt keeps in it is replaced by the new warehouse's instead of parsing all again;
- the folders pile up: three a run, 13 GB a year of daily runs.
  :func:`prune_invocations` keeps the newest few, for debugging.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pprint
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgpack

log = logging.getLogger(__name__)

PARTIAL_PARSE = "partial_parse.msgpack"
PARSE_SLOTS = "partial_parse"  # folder of the per-warehouse parses, in the project's target
KEEP_PARSE_SLOTS = 16  # warehouses whose parse is kept (the most recently used)
MADE_FOR = ".warehouse"  # beside a slot: the warehouse path its parse was made with
ADOPT_TRIES = 3  # kept parses (the most recently used) a new warehouse may adopt
# dbt's connection info of a profile: (key, value) pairs, as dbt hashes them
ConnectionInfo = Sequence[tuple[str, Any]]
_INVOCATION_DIR = re.compile(r"^[A-Za-z0-9_]+-[0-9a-f]{7}-[0-9a-f]{7}$")


def parse_slot(project_target: Path, warehouse: Path) -> Path:
    """Where the partial parse of dbt runs on ``warehouse`` is kept."""
    key = hashlib.sha256(str(warehouse.resolve()).encode()).hexdigest()[:16]
    return project_target / PARSE_SLOTS / f"{key}.msgpack"


def seed_partial_parse(invocation_target: Path, project_target: Path,
                       warehouse: Path) -> bool:
    """Copy the warehouse's kept parse into the invocation's folder (dagster-dbt then
    leaves it there instead of the project's). False when there is none yet."""
    slot = parse_slot(project_target, warehouse)
    if not slot.is_file():
        return False

    def copy(place: Path) -> None:
        shutil.copyfile(slot, place)
        os.utime(slot)  # most recently used: the last to be pruned

    return _into_invocation(invocation_target, copy)


def _into_invocation(invocation_target: Path, write: Callable[[Path], object]) -> bool:
    """``write`` the invocation's partial parse; False (and none left) when it fails."""
    place = invocation_target / PARTIAL_PARSE
    try:
        invocation_target.mkdir(parents=True, exist_ok=True)
        write(place)
    except OSError as exc:
        log.warning("could not put a dbt parse into %s: %s", invocation_target, exc)
        place.unlink(missing_ok=True)
        return False
    return True


def keep_partial_parse(invocation_target: Path, project_target: Path,
                       warehouse: Path | None = None) -> bool:
    """Replace the project's partial parse (and, given ``warehouse``, that warehouse's) by
    the invocation's, atomically; prune the slots of warehouses not used for longest.

    dbt checks a partial parse against the profile, vars and files before it uses one,
    so a parse made under other settings costs a full parse, never a wrong result."""
    source = invocation_target / PARTIAL_PARSE
    if not source.is_file() or invocation_target.resolve() == project_target.resolve():
        return False
    places = [project_target / PARTIAL_PARSE]
    if warehouse is not None:
        slot = parse_slot(project_target, warehouse)
        places.append(slot)
        # the path as dbt's profile had it (the checksum in the parse covers it)
        if not _write_text(slot.with_suffix(MADE_FOR), str(warehouse)):
            return False
    for place in places:
        if not _replace(source, place):
            return False
    if warehouse is not None:
        _prune_slots(project_target / PARSE_SLOTS, KEEP_PARSE_SLOTS)
    return True


def adopt_partial_parse(invocation_target: Path, project_target: Path, warehouse: Path,
                        connection_info: Callable[[Path], ConnectionInfo | None]) -> bool:
    """Put into the invocation's folder the parse kept for another warehouse, with the
    profile checksum dbt will compute for ``warehouse``, when dbt's profile for the two
    differs in the path alone; False (dbt then parses all) otherwise.

    ``connection_info(warehouse)`` is dbt's connection info of the profile rendered for
    ``warehouse`` (None: unknown). A kept parse is taken only when the checksum dbt stored
    in it equals that info with the path swapped for the one the parse was made with: the
    two profiles then agree on everything else, the database name included."""
    info = connection_info(warehouse)
    if info is None or "path" not in dict(info):
        return False
    new_hash = profile_hash(info)
    slots = _oldest_first(list((project_target / PARSE_SLOTS).glob("*.msgpack")))
    for slot in reversed(slots[-ADOPT_TRIES:]):
        try:
            made_for = slot.with_suffix(MADE_FOR).read_text()
            parse = slot.read_bytes()
        except OSError:
            continue
        adopted = with_profile_hash(parse, profile_hash(with_path(info, made_for)), new_hash)
        if adopted is None:
            continue
        if not _into_invocation(invocation_target,
                                lambda place, data=adopted: place.write_bytes(data)):
            return False
        log.info("dbt: the parse made for %s serves %s (their profiles differ in the path "
                 "alone)", made_for, warehouse)
        return True
    return False


def profile_hash(info: ConnectionInfo) -> str:
    """The checksum dbt keeps in a parse of a profile's connection info (dbt-core's
    ``ManifestLoader.build_manifest_state_check``: the sorted pairs, pretty-printed)."""
    from dbt.contracts.files import FileHash

    return FileHash.from_contents(pprint.pformat(sorted(info))).checksum


def with_path(info: ConnectionInfo, path: str) -> list[tuple[str, Any]]:
    """``info`` with its ``path`` replaced."""
    return [(k, path if k == "path" else v) for k, v in info]


def with_profile_hash(parse: bytes, expected: str, new: str) -> bytes | None:
    """The msgpack parse with its profile checksum ``expected`` replaced by ``new``; None
    when it is not a parse or its checksum is another."""
    try:
        manifest = msgpack.unpackb(parse, raw=False, strict_map_key=False)
        check = manifest["state_check"]["profile_hash"]
        if check["checksum"] != expected:
            return None
        check["checksum"] = new
        return msgpack.packb(manifest, use_bin_type=True)
    except (ValueError, KeyError, TypeError, msgpack.UnpackException):
        return None


def _write_text(place: Path, text: str) -> bool:
    return _atomically(place, lambda tmp: tmp.write_text(text))


def _replace(source: Path, place: Path) -> bool:
    return _atomically(place, lambda tmp: shutil.copyfile(source, tmp))


def _atomically(place: Path, write: Callable[[Path], object]) -> bool:
    """``write`` a temporary file beside ``place``, then rename it over ``place``."""
    place.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".partial_parse.", dir=place.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, place)
    except OSError as exc:
        log.warning("could not keep dbt's partial parse: %s", exc)
        tmp.unlink(missing_ok=True)
        return False
    return True


def _prune_slots(folder: Path, keep: int) -> None:
    for p in _beyond_newest(list(folder.glob("*.msgpack")), keep):
        p.unlink(missing_ok=True)
    for note in folder.glob(f"*{MADE_FOR}"):
        if not note.with_suffix(".msgpack").exists():
            note.unlink(missing_ok=True)


def _oldest_first(paths: list[Path]) -> list[Path]:
    """``paths`` by modification time (then name), leaving out any gone meanwhile (another
    run pruning)."""
    aged = []
    for p in paths:
        try:
            aged.append((p.stat().st_mtime, p.name, p))
        except OSError:
            continue
    return [p for _, _, p in sorted(aged)]


def _beyond_newest(paths: list[Path], keep: int) -> list[Path]:
    """All of ``paths`` but the newest ``keep``, oldest first."""
    ordered = _oldest_first(paths)
    return ordered[: max(len(ordered) - keep, 0)]


def invocation_dirs(project_target: Path) -> list[Path]:
    """The per-invocation folders of dagster-dbt in ``project_target``, oldest first."""
    if not project_target.is_dir():
        return []
    return _oldest_first([
        p for p in project_target.iterdir() if p.is_dir() and _INVOCATION_DIR.match(p.name)
    ])


def prune_invocations(project_target: Path, keep: int = 10) -> list[Path]:
    """Delete all but the newest ``keep`` invocation folders; return the deleted ones."""
    doomed = _beyond_newest(invocation_dirs(project_target), keep)
    for d in doomed:
        shutil.rmtree(d, ignore_errors=True)
    if doomed:
        log.info("removed %d old dbt invocation folders from %s", len(doomed), project_target)
    return doomed
