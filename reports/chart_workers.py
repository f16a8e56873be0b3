"""Vega-Lite to SVG in worker processes: a render's charts convert on every core while
its Python (queries, specs, HTML) goes on.

vl-convert converts one chart at a time per process (~30 ms each, a third of a report
render's CPU), so threads do not help; each worker is a plain ``python -c`` child that
reads one spec per line (JSON) on stdin and writes one SVG per line, with the same
vl-convert as the parent: the SVG is the one :func:`reports.specs.to_svg` makes. A worker
is a bare interpreter (not ``multiprocessing``, which would import the parent's main
module, e.g. the whole CLI, in each child). A worker that cannot start or dies is an
error naming it; a spec vl-convert refuses is that chart's error, as in process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from reports.specs import clean_svg

log = logging.getLogger(__name__)

_WORKER = r"""
import json, sys
import vl_convert as vlc
for line in sys.stdin:
    try:
        reply = {"svg": vlc.vegalite_to_svg(json.loads(line))}
    except Exception as exc:
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
"""


class ChartWorkerError(RuntimeError):
    """A chart worker could not start, died, or vl-convert refused a spec."""


class ChartWorkers:
    """``workers`` converter processes, each fed by its own thread; :meth:`submit` returns
    a future of the cleaned SVG. Use as a context manager (the processes end on exit)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"chart workers must be at least 1, got {workers}")
        self._local = threading.local()
        self._procs: list[subprocess.Popen[str]] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="chart-worker")

    def __enter__(self) -> ChartWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, spec: dict[str, Any]) -> Future[str]:
        # serialised here: the spec may hold objects only this thread should read
        return self._pool.submit(self._convert, json.dumps(spec, allow_nan=True))

    def _worker(self) -> subprocess.Popen[str]:
        proc: subprocess.Popen[str] | None = getattr(self._local, "proc", None)
        if proc is None:
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, text=True, encoding="utf-8")
            except OSError as exc:
                raise ChartWorkerError(f"a chart worker could not start: {exc}") from exc
            self._local.proc = proc
            with self._lock:
                self._procs.append(proc)
        return proc

    def _convert(self, payload: str) -> str:
        proc = self._worker()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(payload + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except OSError as exc:
            line = ""
            log.debug("chart worker pipe: %s", exc)
        if not line:
            code = proc.poll()
            raise ChartWorkerError(f"a chart worker exited (code {code}) before answering")
        reply = json.loads(line)
        if "error" in reply:
            raise ChartWorkerError(f"vl-convert refused a chart: {reply['error']}")
        return clean_svg(reply["svg"])

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):  # a dead worker leaves a broken pipe
                    proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
