"""Dagster resources: the DuckDB warehouse (serialized writers) and the landing folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from ingest.loader import ensure_schema
from warehouse.db import connect_with
from warehouse.locking import writer_lock
from warehouse.settings import (
    ENV_LANDING,
    ENV_REPORTS,
    ENV_SERVING,
    ENV_WAREHOUSE,
    load_settings,
)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Path from INSIGHTS_WAREHOUSE, limits from the settings."""

    path: str
    lock_timeout_s: float = 3600.0

    @property
    def file(self) -> Path:
        return Path(self.path).expanduser().resolve()

    @contextmanager
    def write_lock(self, holder: str = "") -> Iterator[None]:
        """Hold the writer lock without a connection (for dbt, which connects itself)."""
        with writer_lock(self.file, timeout_s=self.lock_timeout_s, holder=holder):
            yield

    @contextmanager
    def writer(self, holder: str = "") -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection under the writer lock, with the raw schema in place."""
        with self.write_lock(holder):
            con = connect_with(self.file, load_settings().duckdb)
            try:
                ensure_schema(con)
                yield con
            finally:
                con.close()


class LandingResource(dg.ConfigurableResource):
    """The landing folder of raw exports. Path from INSIGHTS_LANDING_DIR."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path).expanduser().resolve()


class ReportsResource(dg.ConfigurableResource):
    """The folder of rendered reports and the data-quality summary. INSIGHTS_REPORTS_DIR."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path).expanduser().resolve()

    @property
    def data_quality_page(self) -> Path:
        return self.root / "data_quality" / "index.html"


class ServingResource(dg.ConfigurableResource):
    """The serving database BI tools read (replaced atomically). INSIGHTS_SERVING_DB.
    The Parquet exports of the marts go to the folder ``parquet/`` beside it."""

    path: str

    @property
    def file(self) -> Path:
        return Path(self.path).expanduser().resolve()

    @property
    def parquet_dir(self) -> Path:
        return self.file.parent / "parquet"


def default_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(path=dg.EnvVar(ENV_WAREHOUSE)),
        "landing": LandingResource(path=dg.EnvVar(ENV_LANDING)),
        "reports": ReportsResource(path=dg.EnvVar(ENV_REPORTS)),
        "serving": ServingResource(path=dg.EnvVar(ENV_SERVING)),
    }
