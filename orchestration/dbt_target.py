"""Housekeeping of dbt's target folder between the dbt assets' invocations.

dagster-dbt gives every dbt invocation its own target folder
(``<op>-<run id[:7]>-<uuid[:7]>``, with a manifest, run results and compiled SQL: about
12 MB here) and seeds it with the project's ``partial_parse.msgpack``. Two things follow,
both handled here:

- the parse an invocation made is never kept, so when the project's parse was made with
  another profile (another warehouse path, say) every invocation parses all ~500 nodes
  again (7 to 10 s of CPU each). :func:`keep_partial_parse` copies it back;
- the folders pile up: three a run, 13 GB a year of daily runs.
  :func:`prune_invocations` keeps the newest few, for debugging.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PARTIAL_PARSE = "partial_parse.msgpack"
_INVOCATION_DIR = re.compile(r"^[A-Za-z0-9_]+-[0-9a-f]{7}-[0-9a-f]{7}$")


def keep_partial_parse(invocation_target: Path, project_target: Path) -> bool:
    """Replace the project's partial parse by the invocation's, atomically.

    dbt checks a partial parse against the profile, vars and files before it uses one,
    so a parse made under other settings costs a full parse, never a wrong result."""
    source = invocation_target / PARTIAL_PARSE
    if not source.is_file() or invocation_target.resolve() == project_target.resolve():
        return False
    project_target.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".partial_parse.", dir=project_target)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, project_target / PARTIAL_PARSE)
    except OSError as exc:
        log.warning("could not keep dbt's partial parse: %s", exc)
        Path(tmp).unlink(missing_ok=True)
        return False
    return True


def invocation_dirs(project_target: Path) -> list[Path]:
    """The per-invocation folders of dagster-dbt in ``project_target``, oldest first."""
    if not project_target.is_dir():
        return []
    found = [
        p for p in project_target.iterdir() if p.is_dir() and _INVOCATION_DIR.match(p.name)
    ]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def prune_invocations(project_target: Path, keep: int = 10) -> list[Path]:
    """Delete all but the newest ``keep`` invocation folders; return the deleted ones."""
    dirs = invocation_dirs(project_target)
    doomed = dirs[: max(len(dirs) - keep, 0)]
    for d in doomed:
        shutil.rmtree(d, ignore_errors=True)
    if doomed:
        log.info("removed %d old dbt invocation folders from %s", len(doomed), project_target)
    return doomed
