"""Data quality: Great Expectations suites over the warehouse's tables, as code.

Each suite pulls a DataFrame from DuckDB with set-based SQL (event-sized tables in
batches of whole export days) and validates it with GX Core 1.x; the outcomes are
stored in ``ops.data_quality`` and summarised in an HTML page. The Dagster asset
checks of ``orchestration/assets/quality.py`` run them; a failed blocking expectation
stops the publish to the serving database.
"""
