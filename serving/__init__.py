"""The serving database: a separate DuckDB file BI tools and analysts read, replaced
atomically after a run whose blocking data-quality checks passed."""
