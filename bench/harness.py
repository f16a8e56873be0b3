"""What every benchmark script shares: sizes from the command line, a fresh temporary
folder per size, and a JSON report with the machine it ran on."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("bench")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def run_sizes(
    doc: str,
    measure: Callable[[int, Path], dict],
    *,
    report_name: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """``--events N`` (repeatable) and ``--out DIR``; ``measure(n, workdir)`` per size.
    The report is rewritten after each size, so a long run keeps what it measured."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", required=True)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for n in args.events:
        workdir = Path(tempfile.mkdtemp(prefix=f"insights-bench-{n}-"))
        try:
            rows.append(measure(n, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        log.info("%s", json.dumps(rows[-1], default=str))
        report = {"machine": machine(), **(extra or {}), "results": rows}
        (args.out / report_name).write_text(json.dumps(report, indent=2, default=str) + "\n")
    log.info("wrote %s", args.out / report_name)
