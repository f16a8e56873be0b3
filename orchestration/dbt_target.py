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
  warehouse's own parse into an invocation's folder before dbt starts;
- the folders pile up: three a run, 13 GB a year of daily runs.
  :func:`prune_invocations` keeps the newest few, for debugging.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PARTIAL_PARSE = "partial_parse.msgpack"
PARSE_SLOTS = "partial_parse"  # folder of the per-warehouse parses, in the project's target
KEEP_PARSE_SLOTS = 16  # warehouses whose parse is kept (the most recently used)
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
    invocation_target.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(slot, invocation_target / PARTIAL_PARSE)
        os.utime(slot)  # most recently used: the last to be pruned
    except OSError as exc:
        log.warning("could not use the warehouse's dbt parse: %s", exc)
        (invocation_target / PARTIAL_PARSE).unlink(missing_ok=True)
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
        places.append(parse_slot(project_target, warehouse))
    for place in places:
        if not _replace(source, place):
            return False
    if warehouse is not None:
        _prune_slots(project_target / PARSE_SLOTS, KEEP_PARSE_SLOTS)
    return True


def _replace(source: Path, place: Path) -> bool:
    place.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".partial_parse.", dir=place.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, place)
    except OSError as exc:
        log.warning("could not keep dbt's partial parse: %s", exc)
        Path(tmp).unlink(missing_ok=True)
        return False
    return True


def _prune_slots(folder: Path, keep: int) -> None:
    for p in _beyond_newest(list(folder.glob("*.msgpack")), keep):
        p.unlink(missing_ok=True)


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
