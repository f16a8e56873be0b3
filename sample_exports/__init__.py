"""Sample raw exports that follow the input contract (contract v1) exactly.

``generate_exports(landing_dir, seed=..., users=... | target_events=..., days=60, ...)``
writes ``events/YYYY-MM-DD/*.ndjson | *.ndjson.gz | *.parquet`` and
``platform/<entity>/YYYY-MM-DD/<entity>.csv[.gz]`` under ``landing_dir``, plus
``_generator_manifest.json`` (what was written and planted, and the ground truth).

Modules: :mod:`~sample_exports.world` (entities, purchases, experiment, content),
:mod:`~sample_exports.events` (day-by-day behaviour), :mod:`~sample_exports.render`
(NDJSON and Parquet text in DuckDB), :mod:`~sample_exports.faults` (faulty lines),
:mod:`~sample_exports.exporter` (event files), :mod:`~sample_exports.platform` (CSV),
:mod:`~sample_exports.writer` (deterministic file output),
:mod:`~sample_exports.generator` (the entry point and the summary).

Parquet event files hold the contract's top-level fields as columns: ``timestamp`` is
an ISO-8601 **string** column and ``data`` a **JSON text string** column.
"""

from sample_exports.generator import GenerationSummary, generate_exports
from sample_exports.world import PlantedIncidents

__all__ = ["GenerationSummary", "PlantedIncidents", "generate_exports"]
